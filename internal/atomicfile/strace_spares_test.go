package atomicfile_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStraceSpares runs migrate over a fleet under strace and holds every
// reuse of an original (a spare, atomicfile.Spares) to the order that
// makes it crash-safe: after the spare is moved out of its old directory
// and before it is exchanged with its new lockfile, a sync of that old
// directory (its fsync, or a syncfs) has completed. Per-file runs and
// batches, with their per-file fsyncs and with syncfs.
func TestStraceSpares(t *testing.T) {
	strace, lockfix := straceLockfix(t)
	for _, c := range []struct {
		name, sync, force, jobs string
		files                   int
	}{
		// Two workers for eight files: the third file is taken only
		// after one of the first two is durable, so its original is a
		// spare by then (with a worker per file, every temp file could
		// be created before any original is kept, and none reused).
		{"file", "file", "", "2", 8},
		{"batch-fsync", "batch", "fsync", "0", 700},
		{"batch-syncfs", "batch", "syncfs", "0", 700},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("LOCKFIX_BATCH_SYNC", c.force)
			root := t.TempDir()
			for i := range c.files {
				dir := filepath.Join(root, fmt.Sprintf("app%03d", i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				writeLock(t, dir, "bun.lockb", genLock(1, 5+i%7, uint64(i)), 0o644)
			}
			log := filepath.Join(t.TempDir(), "strace.log")
			out, err := exec.Command(strace, "-f", "-y", "-o", log, "-e", "trace=fsync,syncfs,renameat2",
				lockfix, "migrate", "--to", "2", "--sync", c.sync, "--jobs", c.jobs, root).CombinedOutput()
			if err != nil {
				t.Fatalf("migrate: %v\n%s", err, tail(out, 2000))
			}
			moves := checkSpareOrder(t, log)
			if moves == 0 {
				t.Fatal("no spare was reused: the test saw nothing to check")
			}
			if c.sync == "file" {
				// Each commit moves its original next to its worker's
				// next lockfile before its directory's fsync (Handle.Next):
				// one directory fsync per file, none for a spare's leaving.
				if n := dirFsyncs(t, log); n != c.files {
					t.Errorf("%d directory fsyncs for %d files, want one per file", n, c.files)
				}
			}
			t.Logf("%d spares reused, each synced out of its old directory before its exchange", moves)
		})
	}
}

var (
	// straceRename matches a renameat2 line (whole or unfinished): pid,
	// from, to and the flag.
	straceRename = regexp.MustCompile(`^(\d+) +renameat2\([^,]*, "([^"]+)", [^,]*, "([^"]+)", (RENAME_\w+)`)
	// straceSync matches a completed fsync or syncfs, whole.
	straceSync = regexp.MustCompile(`^(\d+) +(fsync|syncfs)\(\d+<([^>]*)>\) += 0$`)
	// straceSyncStart matches an fsync or syncfs that strace shows
	// unfinished; straceSyncEnd its successful end.
	straceSyncStart = regexp.MustCompile(`^(\d+) +(fsync|syncfs)\(\d+<([^>]*)> <unfinished`)
	straceSyncEnd   = regexp.MustCompile(`^(\d+) +<\.\.\. (fsync|syncfs) resumed>\) += 0$`)
)

// checkSpareOrder reads a strace -f -y log and fails the test for any
// spare (a RENAME_NOREPLACE of a temp name into another directory)
// exchanged with its lockfile before a sync of the directory it left had
// completed. It returns the number of spares seen.
func checkSpareOrder(t *testing.T, log string) int {
	t.Helper()
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type move struct {
		from   string // the directory the spare left
		at     int    // the log line of the move
		synced bool
	}
	type start struct {
		kind, path string
		at         int
	}
	moved := map[string]*move{}   // by the spare's new temp name
	pending := map[string]start{} // syncs under way, by pid
	// synced marks the moves a sync that started at line at covers:
	// those before it, out of its directory (any, for a syncfs).
	synced := func(s start) {
		for _, m := range moved {
			if m.at < s.at && (s.kind == "syncfs" || m.from == s.path) {
				m.synced = true
			}
		}
	}
	moves := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for at := 0; sc.Scan(); at++ {
		line := sc.Text()
		if m := straceSync.FindStringSubmatch(line); m != nil {
			synced(start{m[2], m[3], at})
			continue
		}
		if m := straceSyncStart.FindStringSubmatch(line); m != nil {
			pending[m[1]] = start{m[2], m[3], at}
			continue
		}
		if m := straceSyncEnd.FindStringSubmatch(line); m != nil {
			if s, ok := pending[m[1]]; ok {
				synced(s)
				delete(pending, m[1])
			}
			continue
		}
		m := straceRename.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		from, to, flag := m[2], m[3], m[4]
		switch flag {
		case "RENAME_NOREPLACE":
			if filepath.Dir(from) != filepath.Dir(to) {
				moved[to] = &move{from: filepath.Dir(from), at: at}
				moves++
			}
		case "RENAME_EXCHANGE":
			if mv := moved[from]; mv != nil {
				if !mv.synced {
					t.Errorf("%s: exchanged with its lockfile before %s, which it was moved out of, was synced", from, mv.from)
				}
				delete(moved, from)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return moves
}

// dirFsyncs returns the number of fsyncs in a strace -f -y log (whole or
// started) of a path that is a directory now.
func dirFsyncs(t *testing.T, log string) int {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		m := straceSync.FindStringSubmatch(line)
		if m == nil {
			m = straceSyncStart.FindStringSubmatch(line)
		}
		if m == nil || m[2] != "fsync" {
			continue
		}
		if st, err := os.Stat(m[3]); err == nil && st.IsDir() {
			n++
		}
	}
	return n
}
