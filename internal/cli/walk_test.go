package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestWalkTree: every entry that is not a directory, at every depth, is
// visited once; a symlinked directory under the root and a "..*"
// directory are not entered (the links are visited as entries); a root
// given as a symlink is entered; a missing root is an error. Under -race
// it checks the readers on their several goroutines.
func TestWalkTree(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "root")
	var want []string
	for i := range 40 {
		dir := filepath.Join(root, fmt.Sprintf("t%d", i%4), fmt.Sprintf("s%02d", i))
		if i%5 == 0 {
			dir = filepath.Join(dir, "deep", "deeper")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"bun.lockb", "package.json"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			want = append(want, p)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "..2026_12_02", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "..2026_12_02", "x", "bun.lockb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ name, to string }{{"linkdir", "t1"}, {"..data", "..2026_12_02"}, {"bun.lockb", "t0/s00/deep/deeper/bun.lockb"}} {
		p := filepath.Join(root, l.name)
		if err := os.Symlink(l.to, p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p) // visited as entries, not entered
	}
	walk := func(dir string) []string {
		var (
			mu  sync.Mutex
			got []string
		)
		err := walkTree(dir, func(path string, d fs.DirEntry, err error) {
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
			mu.Lock()
			got = append(got, path)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	slices.Sort(want)
	if got := walk(root); !slices.Equal(got, want) {
		t.Errorf("walk of the root: got %d entries, want %d:\ngot  %q\nwant %q", len(got), len(want), got, want)
	}
	alias := filepath.Join(top, "alias")
	if err := os.Symlink("root", alias); err != nil {
		t.Fatal(err)
	}
	var viaAlias []string
	for _, p := range want {
		viaAlias = append(viaAlias, filepath.Join(alias, p[len(root):]))
	}
	if got := walk(alias); !slices.Equal(got, viaAlias) {
		t.Errorf("walk of a root given as a symlink: got %d entries, want %d", len(got), len(viaAlias))
	}
	if err := walkTree(filepath.Join(top, "missing"), func(string, fs.DirEntry, error) {}); err == nil {
		t.Error("walk of a missing root: no error")
	}
}
