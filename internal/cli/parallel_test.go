package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRunsInParallel runs lockfix many times at once in one process, each
// run on streams of its own: no run's output reaches another's, and no
// run's state (what a walk found, --follow-outside) leaks into another.
// Before each app kept its own streams and walk state, runs shared the
// package's Stdout and a global walk state; run under -race.
func TestRunsInParallel(t *testing.T) {
	dir := t.TempDir()
	vec, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "v1.lockb"))
	if err != nil {
		t.Fatal(err)
	}
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(root, "app"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "bun.lockb"), vec, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "..", "outside", "bun.lockb"), filepath.Join(root, "app", "bun.lockb")); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range 4 {
		p := filepath.Join(dir, fmt.Sprintf("f%d.lockb", i))
		b := bytes.Clone(vec)
		if i%2 == 1 {
			b[0x30] ^= 0xff // header padding: invalid
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errb bytes.Buffer
			switch i % 3 {
			case 0: // one file, valid or not
				f := files[i%len(files)]
				want := map[bool]int{true: ExitOK, false: ExitProblems}[i%len(files)%2 == 0]
				if code := runWith(&out, &errb, "validate", "--json", f); code != want {
					t.Errorf("validate %s: exit %d, want %d", f, code, want)
				}
				for _, g := range files {
					if g != f && strings.Contains(out.String(), g) {
						t.Errorf("validate %s printed another run's file %s:\n%s", f, g, out.String())
					}
				}
			case 1: // a walk that meets a link out of the root: exit 8
				if code := runWith(&out, &errb, "validate", root); code != ExitOperational || !strings.Contains(out.String(), "symlink leads outside") {
					t.Errorf("validate root: exit %d, want %d\n%s%s", code, ExitOperational, out.String(), errb.String())
				}
			case 2: // the same walk with --follow-outside: the link is followed
				if code := runWith(&out, &errb, "validate", "--follow-outside", root); code != ExitOK {
					t.Errorf("validate --follow-outside root: exit %d, want 0\n%s%s", code, out.String(), errb.String())
				}
			}
		}()
	}
	wg.Wait()
}
