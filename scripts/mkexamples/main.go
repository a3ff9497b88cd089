// Command mkexamples writes the example fleet of lockfiles in examples/:
// healthy files of every config version, files damaged in the ways the
// seed's corruption matrix lists, and an npm package-lock.json. The output
// is the same on every run.
//
//	go run ./scripts/mkexamples            # rewrites examples/
//	go run ./scripts/mkexamples -dir /tmp/x
package main

import (
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// Example is one generated file.
type Example struct {
	// Path is relative to the examples directory.
	Path string
	Data []byte
}

// damage changes a file's bytes; fixCRC recomputes the header checksum
// afterwards, as a writer that wrote a bad value would have.
type damage struct {
	apply  func(b []byte) []byte
	fixCRC bool
}

// fleetFile describes one lockfile of the fleet.
type fleetFile struct {
	dir      string
	version  int
	packages int
	seed     uint64
	flags    schema.Flags
	writer   string
	damage   *damage
}

var fleet = []fleetFile{
	{dir: "app-legacy", version: 0, packages: 12, seed: 1},
	{dir: "app-v1", version: 1, packages: 20, seed: 2, flags: schema.FlagDebug | schema.FlagDisableIsolatedLinker},
	{dir: "app-v2", version: 2, packages: 25, seed: 3, flags: schema.FlagDebug | schema.FlagFrozenLockfile | schema.FlagVerifyIntegrity, writer: "bun 1.4.2"},
	// A disk bit flip in the registry hash: the header CRC-64 catches it.
	{dir: "api-bitflip", version: 1, packages: 15, seed: 4, flags: schema.FlagDebug,
		damage: &damage{apply: func(b []byte) []byte { b[schema.OffRegistryHash+1] ^= 0x10; return b }}},
	// A failed hash calculation wrote 0, checksummed as if it were right.
	{dir: "billing-registry-zeroed", version: 2, packages: 18, seed: 5, flags: schema.FlagDebug, writer: "bun 1.4.0",
		damage: &damage{apply: func(b []byte) []byte { clear(b[schema.OffRegistryHash : schema.OffRegistryHash+4]); return b }, fixCRC: true}},
	// A racing write reset the feature flags after the checksum was made.
	{dir: "worker-flags-reset", version: 2, packages: 14, seed: 6, flags: schema.FlagFrozenLockfile | schema.FlagOffline, writer: "bun 1.4.1",
		damage: &damage{apply: func(b []byte) []byte { clear(b[schema.OffFeatureFlags : schema.OffFeatureFlags+4]); return b }}},
	// An invalid enum value written (and checksummed) by a buggy writer.
	{dir: "tty-mode-ff", version: 1, packages: 10, seed: 7, flags: schema.FlagDebug,
		damage: &damage{apply: func(b []byte) []byte { b[schema.OffTerminalMode] = 0xff; return b }, fixCRC: true}},
	// A crash during the write: the file ends in the middle of a record.
	{dir: "cron-torn", version: 2, packages: 16, seed: 8, flags: schema.FlagDebug, writer: "bun 1.4.2",
		damage: &damage{apply: func(b []byte) []byte { return b[:len(b)-40] }}},
}

func fixHeaderCRC(b []byte) {
	size := 64
	if b[schema.OffConfigVersion] == v2.Version {
		size = v2.Schema.HeaderSize
	}
	binary.BigEndian.PutUint64(b[0x11:], schema.HeaderCRC(b[:size], 0x11))
}

// Generate returns every example file.
func Generate() ([]Example, error) {
	var out []Example
	for _, f := range fleet {
		b := lockgen.Bytes(lockgen.Options{Version: f.version, Packages: f.packages, Seed: f.seed, Flags: f.flags, Writer: f.writer})
		if f.damage != nil {
			b = f.damage.apply(b)
			if f.damage.fixCRC {
				fixHeaderCRC(b)
			}
		}
		out = append(out, Example{Path: filepath.Join("fleet", f.dir, "bun.lockb"), Data: b})
	}
	lock, err := packageLock()
	if err != nil {
		return nil, err
	}
	out = append(out, Example{Path: filepath.Join("npm", "package-lock.json"), Data: lock})
	return out, nil
}

// npmEntry is one value of a package-lock.json "packages" map.
type npmEntry struct {
	Name         string            `json:"name,omitempty"`
	Version      string            `json:"version,omitempty"`
	Resolved     string            `json:"resolved,omitempty"`
	Integrity    string            `json:"integrity,omitempty"`
	Link         bool              `json:"link,omitempty"`
	Dev          bool              `json:"dev,omitempty"`
	License      string            `json:"license,omitempty"`
	Dependencies map[string]string `json:"dependencies,omitempty"`
	Workspaces   []string          `json:"workspaces,omitempty"`
}

type npmLock struct {
	Name            string               `json:"name"`
	Version         string               `json:"version"`
	LockfileVersion int                  `json:"lockfileVersion"`
	Requires        bool                 `json:"requires"`
	Packages        map[string]*npmEntry `json:"packages"`
}

func sri512(s string) string {
	h := sha512.Sum512([]byte(s))
	return "sha512-" + base64.StdEncoding.EncodeToString(h[:])
}

func sri1(s string) string {
	h := sha1.Sum([]byte(s))
	return "sha1-" + base64.StdEncoding.EncodeToString(h[:])
}

// packageLock returns a lockfileVersion 3 package-lock.json with a dozen
// packages, a nested copy, a repeated package, a workspace link and one
// entry with two integrity hashes.
func packageLock() ([]byte, error) {
	const reg = "https://registry.example.org/"
	pkg := func(name, version, registry string, deps map[string]string) *npmEntry {
		base := path.Base(name) // the name without its @scope/
		return &npmEntry{Version: version, Resolved: registry + name + "/-/" + base + "-" + version + ".tgz",
			Integrity: sri512(name + "@" + version), License: "MIT", Dependencies: deps}
	}
	l := npmLock{Name: "example-app", Version: "1.0.0", LockfileVersion: 3, Requires: true, Packages: map[string]*npmEntry{
		"": {Name: "example-app", Version: "1.0.0", License: "MIT", Workspaces: []string{"packages/tools"},
			Dependencies: map[string]string{"@example/logger": "^2.1.0", "chalk": "^4.1.2", "debug": "^4.3.4", "JSONStream": "^1.3.5", "left-pad": "^1.3.0"}},
		"node_modules/@example/logger":                       pkg("@example/logger", "2.1.0", reg, map[string]string{"left-pad": "~1.1.0"}),
		"node_modules/@example/logger/node_modules/left-pad": pkg("left-pad", "1.1.3", reg, nil),
		"node_modules/@example/tools":                        {Resolved: "packages/tools", Link: true},
		"node_modules/ansi-styles":                           pkg("ansi-styles", "4.3.0", reg, map[string]string{"color-convert": "^2.0.1"}),
		"node_modules/chalk":                                 pkg("chalk", "4.1.2", reg, map[string]string{"ansi-styles": "^4.1.0", "supports-color": "^7.1.0"}),
		"node_modules/color-convert":                         pkg("color-convert", "2.0.1", reg, map[string]string{"color-name": "~1.1.4"}),
		"node_modules/color-name":                            pkg("color-name", "1.1.4", reg, nil),
		"node_modules/debug":                                 pkg("debug", "4.3.4", reg, map[string]string{"ms": "2.1.2"}),
		"node_modules/debug/node_modules/ms":                 pkg("ms", "2.1.2", reg, nil),
		"node_modules/has-flag":                              pkg("has-flag", "4.0.0", reg, nil),
		"node_modules/JSONStream":                            pkg("JSONStream", "1.3.5", reg, map[string]string{"jsonparse": "^1.2.0", "through": ">=2.2.7 <3"}),
		"node_modules/jsonparse":                             pkg("jsonparse", "1.3.1", reg, nil),
		"node_modules/left-pad":                              pkg("left-pad", "1.3.0", reg, nil),
		"node_modules/ms":                                    pkg("ms", "2.1.3", "https://mirror.example.net/", nil),
		"node_modules/supports-color":                        pkg("supports-color", "7.2.0", reg, map[string]string{"has-flag": "^4.0.0"}),
		"node_modules/supports-color/node_modules/has-flag":  pkg("has-flag", "4.0.0", reg, nil),
		"node_modules/through":                               pkg("through", "2.3.8", reg, nil),
		"packages/tools":                                     {Name: "@example/tools", Version: "0.1.0", License: "MIT"},
	}}
	// An older npm wrote both hashes; the strongest (sha512) is kept.
	js := l.Packages["node_modules/JSONStream"]
	js.Integrity = sri1("JSONStream@1.3.5") + " " + js.Integrity
	l.Packages["node_modules/jsonparse"].Dev = true
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func main() {
	dir := flag.String("dir", "examples", "directory to write the examples to")
	flag.Parse()
	files, err := Generate()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkexamples: %v\n", err)
		os.Exit(1)
	}
	for _, f := range files {
		p := filepath.Join(*dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "mkexamples: %v\n", err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "mkexamples: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s (%d bytes)\n", p, len(f.Data))
	}
}
