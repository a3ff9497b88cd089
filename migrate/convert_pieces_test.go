package migrate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// TestRunPiecesChanged: a large file, written in pieces, that another
// program rewrites while its temp file is written keeps the other
// program's bytes (failed, changed); one whose rename fails keeps its
// own; no temp file is left. The same file then migrates.
func TestRunPiecesChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	orig := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 40_000, Seed: 4})
	if len(orig) < migrate.PiecesMin {
		t.Fatalf("the file is %d bytes, under PiecesMin", len(orig))
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := bytes.Clone(orig)
	foreign[len(foreign)-1] ^= 1 // same size
	fsys := &faultFS{onTemp: func(lockfile string) {
		if lockfile == path {
			os.WriteFile(path, foreign, 0o644)
		}
	}}
	_, res := collect(t, []string{path}, migrate.Options{To: 2, FS: fsys})
	if r := res[path]; r.Status != migrate.StatusFailed || r.Reason != migrate.ReasonChanged {
		t.Errorf("changed underneath: %+v", r)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, foreign) {
		t.Error("the other program's change was overwritten")
	}
	noTemp(t, []string{path})

	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	_, res = collect(t, []string{path}, migrate.Options{To: 2, FS: &faultFS{failRename: path}})
	if r := res[path]; r.Status != migrate.StatusFailed || r.Reason != migrate.ReasonIO || !strings.Contains(r.Message(), "injected") {
		t.Errorf("failed rename: %+v", r)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Error("a failed rename changed the file")
	}
	noTemp(t, []string{path})

	if sum, res := collect(t, []string{path}, migrate.Options{To: 2}); sum.Migrated != 1 {
		t.Fatalf("%+v: %v", sum, res[path].Err)
	}
	want, _ := migrate.Convert(orig, 2, schema.StepOptions{})
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want.Data) {
		t.Error("the file written in pieces is not Convert's encoding")
	}
}
