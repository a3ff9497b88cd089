package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/npmlock"
	"github.com/lockfix/lockfix/schema"
)

// TestExamplesUpToDate checks that examples/ is what this program writes:
// run 'go run ./scripts/mkexamples' after changing it.
func TestExamplesUpToDate(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", "examples", f.Path))
		if err != nil {
			t.Errorf("%v (run 'go run ./scripts/mkexamples')", err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("examples/%s differs from what mkexamples writes (run 'go run ./scripts/mkexamples')", f.Path)
		}
	}
}

// TestExamplesDamage checks that each example has the damage it stands
// for, and no other.
func TestExamplesDamage(t *testing.T) {
	want := map[string][]string{
		"app-legacy":              nil,
		"app-v1":                  nil,
		"app-v2":                  nil,
		"api-bitflip":             {"ChecksumMismatch"},
		"billing-registry-zeroed": {"InvalidRegistryHash"},
		"worker-flags-reset":      {"ChecksumMismatch"},
		"tty-mode-ff":             {"InvalidTerminalMode"},
		"cron-torn":               {"PackageCountMismatch", "ChecksumMismatch", "Truncated"},
	}
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		if filepath.Ext(f.Path) != ".lockb" {
			continue
		}
		dir := filepath.Base(filepath.Dir(f.Path))
		names, ok := want[dir]
		if !ok {
			t.Errorf("%s: not in the test's table", f.Path)
			continue
		}
		seen++
		var got []string
		for _, e := range schema.Check(f.Data) {
			got = append(got, schema.ErrorName(e))
		}
		if len(got) != len(names) {
			t.Errorf("%s: problems %v, want %v", f.Path, got, names)
			continue
		}
		for i := range got {
			if got[i] != names[i] {
				t.Errorf("%s: problems %v, want %v", f.Path, got, names)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("generated %d lockfiles, the table has %d", seen, len(want))
	}
}

func TestExamplePackageLock(t *testing.T) {
	b, err := packageLock()
	if err != nil {
		t.Fatal(err)
	}
	l, err := npmlock.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Packages) != 15 || l.Duplicates != 1 || len(l.Skipped) != 2 {
		t.Errorf("%d packages, %d duplicates, skipped %q; want 15, 1 and 2", len(l.Packages), l.Duplicates, l.Skipped)
	}
	for _, p := range l.Packages {
		if p.Name == "JSONStream" && p.Integrity[:7] != "sha512-" {
			t.Errorf("JSONStream kept %q, want the sha512 hash", p.Integrity)
		}
	}
}
