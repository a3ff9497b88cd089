// Package lockgen generates valid lockfiles of any size for tests,
// benchmarks and the examples: deterministic for a seed, with scoped and
// plain names, pre-release versions, resolved URLs under one main registry
// and a few others, and integrity hashes of every strength.
package lockgen

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"math/rand/v2"

	"github.com/lockfix/lockfix/schema"
)

// Registry is the main registry of generated lockfiles.
const Registry = "https://registry.example.org/"

// Options say what to generate.
type Options struct {
	Version  int
	Packages int
	Seed     uint64
	// Flags are the feature flags; zero means DEBUG.
	Flags schema.Flags
	// Writer is the v2 writer field.
	Writer string
}

var words = []string{"left", "pad", "util", "core", "json", "stream", "array", "string", "color", "parse",
	"async", "fs", "path", "glob", "test", "cli", "http", "url", "date", "lodash", "react", "types", "babel", "web"}

// Lockfile returns the content of a generated lockfile.
func Lockfile(o Options) *schema.Lockfile {
	r := rand.New(rand.NewPCG(o.Seed, 0x6c6f636b666978))
	flags := o.Flags
	if flags == 0 {
		flags = schema.FlagDebug
	}
	_, hash, _ := schema.RegistryHash(Registry)
	l := &schema.Lockfile{
		Config: schema.Config{Version: o.Version, RegistryHash: hash, Flags: flags,
			TerminalMode: schema.ModeCooked, Rows: schema.DefaultRows, Cols: schema.DefaultCols},
		Writer: o.Writer,
	}
	seen := map[[2]string]bool{}
	for len(l.Packages) < o.Packages {
		p := Package(r, len(l.Packages))
		k := [2]string{p.Name, p.Version}
		if seen[k] {
			continue
		}
		seen[k] = true
		l.Packages = append(l.Packages, p)
	}
	schema.SortPackages(l.Packages)
	return l
}

// Package returns one random valid package; i makes names unique enough.
func Package(r *rand.Rand, i int) schema.Package {
	name := words[r.IntN(len(words))] + "-" + words[r.IntN(len(words))] + fmt.Sprint(i%997)
	switch r.IntN(50) {
	case 0:
		name = "JSON" + name // a legacy upper-case name
	case 1, 2, 3, 4, 5, 6, 7, 8, 9, 10:
		name = "@" + words[r.IntN(len(words))] + "/" + name
	}
	version := fmt.Sprintf("%d.%d.%d", r.IntN(20), r.IntN(30), r.IntN(100))
	if r.IntN(10) == 0 {
		version += fmt.Sprintf("-rc.%d", r.IntN(5))
	}
	p := schema.Package{Name: name, Version: version}
	if r.IntN(20) == 0 {
		return p // a local package: no resolved URL, no integrity
	}
	reg := Registry
	if r.IntN(8) == 0 {
		reg = "https://npm.example.com/"
	}
	base := name
	for j := 0; j < len(name); j++ {
		if name[j] == '/' {
			base = name[j+1:]
		}
	}
	p.Resolved = reg + name + "/-/" + base + "-" + version + ".tgz"
	seed := []byte(p.Name + "@" + p.Version)
	switch r.IntN(10) {
	case 0:
		s := sha1.Sum(seed)
		p.Integrity = "sha1-" + base64.StdEncoding.EncodeToString(s[:])
	case 1:
		s := sha256.Sum256(seed)
		p.Integrity = "sha256-" + base64.StdEncoding.EncodeToString(s[:])
	default:
		s := sha512.Sum512(seed)
		p.Integrity = "sha512-" + base64.StdEncoding.EncodeToString(s[:])
	}
	return p
}

// Bytes returns a generated lockfile encoded at o.Version. The version
// must be registered (import schema/all).
func Bytes(o Options) []byte {
	b, err := schema.Encode(Lockfile(o))
	if err != nil {
		panic(fmt.Sprintf("lockgen: generated lockfile does not encode: %v", err))
	}
	return b
}
