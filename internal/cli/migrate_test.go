package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// genFleet writes n lockfiles of versions 0, 1 and 2 in nested
// directories, 3% of them damaged by one flipped byte the strict checks
// see. It returns every path and the damaged files' bytes.
func genFleet(t *testing.T, dir string, n int) ([]string, map[string][]byte) {
	t.Helper()
	var paths []string
	damaged := map[string][]byte{}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("region%d", i%3), fmt.Sprintf("team%02d", i%17), fmt.Sprintf("svc%04d", i), "bun.lockb")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := lockgen.Bytes(lockgen.Options{Version: i % 3, Packages: 3 + i%37, Seed: uint64(i)})
		if (i*3)/100 != ((i+1)*3)/100 {
			for off := len(b) - 1 - i%len(b); ; off = (off + 1) % len(b) {
				b[off] ^= 0x20
				if schema.Check(b) != nil {
					break
				}
				b[off] ^= 0x20
			}
			damaged[p] = b
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, damaged
}

// TestMigrateFleet migrates a fleet of 2,000 lockfiles with several jobs
// in both sync modes and checks every file with validate's logic, and the
// damaged ones byte for byte.
func TestMigrateFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 files; skipped with -short")
	}
	const n = 2000
	for _, mode := range []string{"file", "batch"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			paths, damaged := genFleet(t, dir, n)
			if len(damaged) != n*3/100 {
				t.Fatalf("%d damaged, want %d", len(damaged), n*3/100)
			}
			code, out, errOut := run(t, "migrate", "--json", "--to", "2", "--jobs", "6", "--sync", mode, dir)
			if code != ExitProblems {
				t.Fatalf("exit %d, want 4\n%s", code, errOut)
			}
			status := map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				var rec migrateRecord
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatalf("stdout line %q: %v", sc.Text(), err)
				}
				status[rec.Path] = rec.Status
			}
			if len(status) != n {
				t.Fatalf("%d JSON objects for %d files", len(status), n)
			}
			atTarget := 0
			for i, p := range paths {
				if _, bad := damaged[p]; !bad && i%3 == 2 {
					atTarget++
				}
			}
			wantSummary := fmt.Sprintf("sync %s): %d migrated, %d skipped, %d refused, 0 failed", mode, n-atTarget-len(damaged), atTarget, len(damaged))
			if !strings.Contains(errOut, wantSummary) {
				t.Errorf("summary %q, want %q", errOut, wantSummary)
			}
			checkFleet(t, paths, damaged, status, 2)

			// And down to 1, then a rerun that finds nothing to do.
			if code, _, errOut := run(t, "migrate", "--quiet", "--to", "1", "--jobs", "3", "--sync", mode, dir); code != ExitProblems {
				t.Fatalf("down: exit %d\n%s", code, errOut)
			}
			checkFleet(t, paths, damaged, nil, 1)
			code, out, _ = run(t, "migrate", "--to", "1", "--sync", mode, dir)
			if want := fmt.Sprintf("0 migrated, %d skipped, %d refused", n-len(damaged), len(damaged)); code != ExitProblems || !strings.Contains(out, want) {
				t.Errorf("rerun: exit %d, %q; want %q", code, lastLine(out), want)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// checkFleet runs validate's check on every file: damaged files unchanged
// and invalid, the others valid at version want.
func checkFleet(t *testing.T, paths []string, damaged map[string][]byte, status map[string]string, want int) {
	t.Helper()
	for _, p := range paths {
		r, code := quietEnv().validateFile(p)
		if orig, bad := damaged[p]; bad {
			b, _ := os.ReadFile(p)
			if !bytes.Equal(b, orig) {
				t.Errorf("%s: damaged file changed", p)
			}
			if r.Valid || code != ExitProblems {
				t.Errorf("%s: damaged file validates", p)
			}
			if status != nil && status[p] != "refused" {
				t.Errorf("%s: status %q, want refused", p, status[p])
			}
			continue
		}
		if !r.Valid || code != ExitOK || r.Version == nil || *r.Version != want {
			t.Errorf("%s: valid %v, version %v, problems %v; want valid at v%d", p, r.Valid, r.Version, r.Problems, want)
		}
		if status != nil && status[p] != "migrated" && status[p] != "skipped" {
			t.Errorf("%s: status %q", p, status[p])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func TestMigrateUsage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bun.lockb")
	os.WriteFile(p, lockgen.Bytes(lockgen.Options{Version: 0, Packages: 2, Seed: 1}), 0o644)
	for _, args := range [][]string{
		{"migrate", p},
		{"migrate", "--to", "2"},
		{"migrate", "--to", "bun@>=1.3", p},
		{"migrate", "--to", "2", "--sync", "sometimes", p},
		{"migrate", "--to", "2", "--jobs", "-2", p},
		{"migrate", "--to", "2", "--name", "[", dir},
		{"migrate", "--to", "2", "--bogus", p},
	} {
		if code, _, errOut := run(t, args...); code != ExitUsage {
			t.Errorf("%q: exit %d, want 16 (%s)", args, code, errOut)
		}
	}
	b, _ := os.ReadFile(p)
	if b[schema.OffConfigVersion] != 0 {
		t.Error("a usage error wrote the file")
	}
}
