package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// hugePackages is more packages than go-diff's line-to-rune mapping can
// take (about 1.1 million distinct lines): the diffs must not depend on it.
const hugePackages = 1_300_000

// TestHugeDiff runs diff and every dry run's diff on a generated
// 1.3-million-package v2 lockfile and a copy with a few packages added,
// removed and bumped. Skipped with -short (it writes about 250 MB twice).
func TestHugeDiff(t *testing.T) {
	if testing.Short() {
		t.Skip("generates two 1.3-million-package lockfiles")
	}
	dir := t.TempDir()
	a := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: hugePackages, Seed: 12})
	b := a.Clone()
	// A name with one record is removed, another bumped: one removed
	// and one changed.
	lone := func(from int) int {
		ps := b.Packages
		for i := from; ; i++ {
			if ps[i-1].Name != ps[i].Name && ps[i].Name != ps[i+1].Name {
				return i
			}
		}
	}
	rm, mid := lone(10), lone(len(b.Packages)/2)
	removed := b.Packages[rm]
	bumped := b.Packages[mid]
	b.Packages[mid].Version = "999.0.0"
	b.Packages = append(b.Packages[:rm:rm], b.Packages[rm+1:]...)
	b.Packages = append(b.Packages, schema.Package{Name: "zzz-added", Version: "1.0.0"})
	schema.SortPackages(b.Packages)
	pa, pb := filepath.Join(dir, "a.lockb"), filepath.Join(dir, "b.lockb")
	for p, l := range map[string]*schema.Lockfile{pa: a, pb: b} {
		enc, err := schema.Encode(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b = nil, nil

	out := string(mustRun(t, 1, nil, "diff", pa, pb))
	for _, want := range []string{
		"-package " + removed.Name + "@" + removed.Version,
		"+package " + bumped.Name + "@999.0.0",
		"-package " + bumped.Name + "@" + bumped.Version,
		"+package zzz-added@1.0.0\n",
		"0 config fields changed; packages: 1 added, 1 removed, 1 changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%.3000s", want, out)
		}
	}
	var js struct {
		Equal bool     `json:"equal"`
		Added []string `json:"added"`
	}
	if err := json.Unmarshal(mustRun(t, 1, nil, "diff", "--json", pa, pb), &js); err != nil || js.Equal || len(js.Added) != 1 {
		t.Errorf("diff --json: %+v, %v", js, err)
	}
	md := string(mustRun(t, 1, nil, "diff", "--format", "markdown", pa, pb))
	if !strings.Contains(md, "| `zzz-added` | 1.0.0 |") || !strings.Contains(md, "| `"+bumped.Name+"` | "+bumped.Version+" | 999.0.0 | version |") {
		t.Errorf("diff --format markdown:\n%s", md)
	}
	mustRun(t, 0, nil, "diff", pa, pa)

	// Every dry run prints its diff and writes nothing.
	before, err := os.ReadFile(pa)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set", "--dry-run", pa, "terminal.rows", "50"}, "+config.terminal.rows: 50\n"},
		{[]string{"feature", "enable", "--dry-run", pa, "OFFLINE"}, "+config.flags: DEBUG|OFFLINE\n"},
		{[]string{"migrate", "--dry-run", "--to", "1", pa}, "+config.version: 1\n"},
	} {
		out := string(mustRun(t, 0, nil, c.args...))
		if !strings.Contains(out, c.want) {
			t.Errorf("lockfix %s: output lacks %q:\n%.2000s", strings.Join(c.args, " "), c.want, out)
		}
	}
	// recover --dry-run of a damaged copy: a record in the middle wiped,
	// so the repair drops it (refused without --yes, exit 4, with the
	// diff of what --yes would write).
	dmg := bytes.Clone(before)
	clear(dmg[len(dmg)/2 : len(dmg)/2+16])
	pd := filepath.Join(dir, "damaged.lockb")
	if err := os.WriteFile(pd, dmg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, rout, rerr := run(t, nil, "recover", "--dry-run", pd)
	if code != 4 || !strings.Contains(string(rout), "@@ ") || !strings.Contains(string(rout), "\n    -package ") {
		t.Errorf("recover --dry-run: exit %d\nstdout: %.2000s\nstderr: %s", code, rout, rerr)
	}
	after, err := os.ReadFile(pa)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a dry run changed the file")
	}
}
