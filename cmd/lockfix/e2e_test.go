package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/cli"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// run runs lockfix in this process and returns its exit code, stdout and
// stderr.
func run(t *testing.T, stdin []byte, args ...string) (int, []byte, string) {
	t.Helper()
	var out, errb bytes.Buffer
	app := cli.New(cli.Commands(), cli.Streams{Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb})
	code := cli.Run(app, append([]string{"lockfix"}, args...))
	return code, out.Bytes(), errb.String()
}

// mustRun runs lockfix and fails the test unless it exits with want.
func mustRun(t *testing.T, want int, stdin []byte, args ...string) []byte {
	t.Helper()
	code, out, errs := run(t, stdin, args...)
	if code != want {
		t.Fatalf("lockfix %s: exit %d, want %d\nstdout: %.2000s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
	}
	return out
}

func content(t *testing.T, b []byte) *schema.Content {
	t.Helper()
	var c schema.Content
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("export output is not content JSON: %v", err)
	}
	return &c
}

// TestEndToEnd takes a generated lockfile of 2,500 packages through every
// read-only command and pack: export, pack at each version, validate,
// export again, and back to the original bytes; and through a
// package-lock.json made from the same packages.
func TestEndToEnd(t *testing.T) {
	const n = 2500
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	orig := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: n, Seed: 2026,
		Flags: schema.FlagDebug | schema.FlagDisableIsolatedLinker, Writer: "e2e 1"})
	b, err := schema.Encode(orig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("src.lockb"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	mustRun(t, 0, nil, "validate", p("src.lockb"))
	insp := mustRun(t, 0, nil, "inspect", p("src.lockb"))
	if !bytes.Contains(insp, []byte(fmt.Sprintf("records CRC-32C %d OK, 0 BAD", n))) {
		t.Errorf("inspect does not count %d good records:\n%s", n, insp)
	}
	exported := mustRun(t, 0, nil, "export", p("src.lockb"))
	want := content(t, exported)
	if len(want.Packages) != n || want.Config.Registry != lockgen.Registry {
		t.Fatalf("export: %d packages, registry %q", len(want.Packages), want.Config.Registry)
	}
	if err := os.WriteFile(p("src.json"), exported, 0o644); err != nil {
		t.Fatal(err)
	}

	// Each version from the JSON; then a chain from version to version
	// through export and stdin.
	prev := exported
	for _, v := range schema.Versions() {
		out := p(fmt.Sprintf("v%d.lockb", v))
		mustRun(t, 0, nil, "pack", "--to", fmt.Sprint(v), "-o", out, p("src.json"))
		mustRun(t, 0, nil, "validate", out)
		got := content(t, mustRun(t, 0, nil, "export", out))
		got.Config.Version = want.Config.Version
		if s, _ := schema.Lookup(v); s.FieldOf(schema.KindWriter) == nil {
			// A version without a writer field cannot keep it.
			got.Config.Writer = want.Config.Writer
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("v%d: exported content differs from the original's", v)
		}
		chained := mustRun(t, 0, prev, "pack", "--to", fmt.Sprint(v), "--writer", "e2e 1", "-o", "-", "-")
		fromFile, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if v != 2 && !bytes.Equal(chained, fromFile) {
			t.Errorf("v%d: packing through the chain gives other bytes than packing the JSON", v)
		}
		prev = mustRun(t, 0, chained, "export", "-")
	}
	final := mustRun(t, 0, prev, "pack", "--writer", "e2e 1", "-o", "-", "-")
	if !bytes.Equal(final, b) {
		t.Errorf("v2 -> v0 -> v1 -> v2 through export and pack does not give back the original bytes")
	}

	// dump --json of the file reads back through pack to the same bytes.
	dump := mustRun(t, 0, nil, "dump", "--json", p("src.lockb"))
	if got := mustRun(t, 0, dump, "pack", "-o", "-", "-"); !bytes.Equal(got, b) {
		t.Errorf("dump --json | pack does not give back the original bytes")
	}

	// The same packages as a package-lock.json, each installed twice.
	lock := map[string]any{"name": "e2e", "version": "1.0.0", "lockfileVersion": 3, "packages": map[string]any{"": map[string]any{"name": "e2e"}}}
	pk := lock["packages"].(map[string]any)
	for i, pkg := range orig.Packages {
		e := map[string]any{"version": pkg.Version}
		if pkg.Resolved != "" {
			e["resolved"] = pkg.Resolved
		}
		if pkg.Integrity != "" {
			e["integrity"] = pkg.Integrity
		}
		pk[fmt.Sprintf("node_modules/holder%d/node_modules/%s", i, pkg.Name)] = e
		pk[fmt.Sprintf("node_modules/other%d/node_modules/%s", i, pkg.Name)] = e
	}
	lb, err := json.Marshal(lock)
	if err != nil {
		t.Fatal(err)
	}
	fromLock := mustRun(t, 0, lb, "pack", "--flag", "debug", "--flag", "disable_isolated_linker", "--writer", "e2e 1", "-o", "-", "-")
	if !bytes.Equal(fromLock, b) {
		t.Errorf("the package-lock.json of the same packages does not pack to the original bytes")
	}
}

// TestExamples checks what lockfix says about the example fleet, as
// examples/README.md describes it.
func TestExamples(t *testing.T) {
	fleet := filepath.Join("..", "..", "examples", "fleet")
	if _, err := os.Stat(fleet); err != nil {
		t.Fatalf("examples missing: %v (go run ./scripts/mkexamples)", err)
	}
	out := mustRun(t, 4, nil, "validate", "--json", fleet)
	var rep struct {
		Files []struct {
			Path     string
			Valid    bool
			Problems []struct{ Error string }
		}
		Valid, Invalid int
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"app-legacy": "", "app-v1": "", "app-v2": "",
		"api-bitflip":             "ChecksumMismatch",
		"billing-registry-zeroed": "InvalidRegistryHash",
		"worker-flags-reset":      "ChecksumMismatch",
		"tty-mode-ff":             "InvalidTerminalMode",
		"cron-torn":               "PackageCountMismatch ChecksumMismatch Truncated",
	}
	if rep.Valid != 3 || rep.Invalid != 5 || len(rep.Files) != len(want) {
		t.Fatalf("validate: %d valid, %d invalid, %d files", rep.Valid, rep.Invalid, len(rep.Files))
	}
	for _, f := range rep.Files {
		var names []string
		for _, p := range f.Problems {
			names = append(names, p.Error)
		}
		name := filepath.Base(filepath.Dir(f.Path))
		if got := strings.Join(names, " "); got != want[name] {
			t.Errorf("%s: problems %q, want %q", name, got, want[name])
		}
		code := 0
		if !f.Valid {
			code = 4
		}
		mustRun(t, code, nil, "inspect", f.Path)
		mustRun(t, code, nil, "dump", f.Path)
	}
	mustRun(t, 0, nil, "pack", "-o", filepath.Join(t.TempDir(), "bun.lockb"), filepath.Join("..", "..", "examples", "npm", "package-lock.json"))
}
