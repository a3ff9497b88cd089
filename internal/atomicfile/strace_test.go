package atomicfile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
)

// straceLockfix returns strace (see needStrace) and a lockfix command
// built for the test; it skips in -short mode, where no command is built.
func straceLockfix(t *testing.T) (strace, lockfix string) {
	t.Helper()
	strace = needStrace(t)
	if testing.Short() {
		t.Skip("builds the lockfix command")
	}
	return strace, buildLockfix(t, t.TempDir())
}

// needStrace returns the path of a working strace, or skips the test
// (fails it when CI=true: CI must install strace).
func needStrace(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI must provide it (Debian package strace)", why)
		}
		t.Skipf("%s (install the Debian package strace to run this test)", why)
	}
	path, err := exec.LookPath("strace")
	if err != nil {
		missing("strace is not installed")
	}
	if out, err := exec.Command(path, "-f", "-o", os.DevNull, "true").CombinedOutput(); err != nil {
		missing("strace cannot trace here: " + strings.TrimSpace(string(out)))
	}
	return path
}

// buildLockfix builds the lockfix command into dir.
func buildLockfix(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build lockfix: %v", err)
	}
	exe := filepath.Join(dir, "lockfix")
	cmd := exec.Command(goTool, "build", "-o", exe, "github.com/lockfix/lockfix/cmd/lockfix")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// TestStrace runs the lockfix binary under strace, which makes a real
// system call fail: the fsync of the temp file, the directory's fsync,
// the write of the new bytes (a full disk) and the rename. Each time
// lockfix exits 8, the lockfile holds its original bytes and no temp file
// remains.
func TestStrace(t *testing.T) {
	strace, lockfix := straceLockfix(t)
	orig := genLock(2, 2000, 9)
	tests := []struct {
		name string
		// args are strace's: the injection; {dir} is the lockfile's
		// directory.
		args []string
		// hit matches the strace log line of the injected call.
		hit string
	}{
		// Every fsync fails: the first is the temp file's.
		{"fsync EIO", []string{"-e", "inject=fsync:error=EIO"},
			`fsync\(\d+<[^>]*/\.bun\.lockb\.lockfix-[0-9a-f]{16}\.tmp>\) += -1 EIO .*\(INJECTED\)`},
		// -P limits the injection to calls on the directory itself: its
		// fsync after the rename fails, and the original is put back.
		{"directory fsync EIO", []string{"-P", "{dir}", "-e", "inject=fsync:error=EIO"},
			`fsync\(\d+<{dir}>\) += -1 EIO .*\(INJECTED\)`},
		// Every write fails, as on a full disk: lockfix writes nothing
		// before the new bytes (the error message after them is lost too;
		// the exit code tells).
		{"write ENOSPC", []string{"-e", "inject=write:error=ENOSPC"},
			`write\(\d+<[^>]*/\.bun\.lockb\.lockfix-[0-9a-f]{16}\.tmp>, "BUN1.*\) += -1 ENOSPC .*\(INJECTED\)`},
		{"rename EIO", []string{"-e", "inject=rename,renameat,renameat2:error=EIO"},
			`rename(at2?)?\(.*lockfix-[0-9a-f]{16}\.tmp.*bun\.lockb.*\) += -1 EIO .*\(INJECTED\)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeLock(t, dir, "bun.lockb", orig, 0o640)
			st0, _ := os.Stat(path)
			// -ff: one log per thread, so that no call is split in two
			// lines by another thread's.
			logs := t.TempDir()
			args := []string{"-ff", "-y", "-o", filepath.Join(logs, "strace")}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "{dir}", dir))
			}
			args = append(args, lockfix, "set", path, "terminal.rows", "30")
			cmd := exec.Command(strace, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 8 {
				t.Errorf("lockfix under strace: %v, want exit 8\n%s", err, stderr.String())
			}
			checkHit(t, logs, tt.hit, dir)
			sameBytes(t, path, orig, "after the failure")
			if st, _ := os.Stat(path); !os.SameFile(st0, st) || st.Mode().Perm() != 0o640 {
				t.Error("the original file is no longer at the path with its mode")
			}
			noTemps(t, dir)
		})
	}
}

// checkHit requires the strace logs of one run (logs/strace.*, a file a
// thread) to hold a line that pattern matches, "{dir}" standing for dir:
// the call a failure was injected into.
func checkHit(t *testing.T, logs, pattern, dir string) {
	t.Helper()
	var trace []byte
	files, _ := filepath.Glob(filepath.Join(logs, "strace.*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		trace = append(trace, b...)
	}
	hit := regexp.MustCompile(strings.ReplaceAll(pattern, "{dir}", regexp.QuoteMeta(dir)))
	if !hit.Match(trace) {
		t.Errorf("the injected failure did not hit the call it targets (%s); strace log:\n%s", hit, tail(trace, 40))
	}
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestStraceBatchSync runs a fleet migrate of 300 files with the default
// settings (a batch run) under strace, with EIO injected into the fsyncs
// the batch really issues:
//
//   - directories: every fsync of a third of the directories (-P), which
//     is the sync after their files' renames;
//   - scattered: every other fsync of each thread, whatever it syncs: the
//     temp files' fsyncs before their renames and the directories' after
//     them, mixed within the same rounds.
//
// Both fix the batch's sync to per-file fsyncs (LOCKFIX_BATCH_SYNC=fsync;
// a quiet filesystem would be synced whole). A third case fixes it to the
// filesystem sync and fails the second round's syncfs: the one that makes
// the first batch's renames and the second batch's temp files durable.
//
//   - filesystem: every file of the first batch is not-durable, every file
//     of the second failed, and the rest of the run fsyncs each file.
//
// The strace log names each failed call. Every file's status in --report
// must say what is on disk: a file whose temp file's fsync failed is
// failed and holds its original bytes; one whose directory's fsync failed
// is not-durable and holds a valid v2 file and the original's second
// name (the mark the next run needs); every other file is migrated, v2,
// with no temp file left. The exit code is 10. A rerun, under strace to
// see its fsyncs, reports each not-durable file synced after fsyncing it
// and its directory, each failed one migrated and the rest skipped, exits
// 0 and leaves no temp file.
func TestStraceBatchSync(t *testing.T) {
	strace, lockfix := straceLockfix(t)
	for _, inject := range []string{"directories", "scattered", "filesystem"} {
		t.Run(inject, func(t *testing.T) {
			if inject == "filesystem" {
				t.Setenv("LOCKFIX_BATCH_SYNC", "syncfs")
			} else {
				t.Setenv("LOCKFIX_BATCH_SYNC", "fsync")
			}
			straceBatchSync(t, strace, lockfix, inject)
		})
	}
}

// fsyncLine matches a strace -y line of an fsync and captures the path of
// its descriptor and the result.
var fsyncLine = regexp.MustCompile(`(?m)^fsync\(\d+<([^>]*)>\)\s+= (0|-1 EIO .*\(INJECTED\))$`)

// syncfsLine matches a strace line of a syncfs and captures the result.
var syncfsLine = regexp.MustCompile(`(?m)^syncfs\(\d+<[^>]*>\)\s+= (0|-1 EIO .*\(INJECTED\))$`)

// straceRun runs lockfix with args under strace (its own args first,
// -ff -y and a log per thread added) and returns the exit code, the
// output and, for each path, whether its fsyncs succeeded (true) or
// failed by injection (false); a path synced both ways is false.
func straceRun(t *testing.T, strace string, straceArgs []string, lockfix string, args ...string) (int, []byte, map[string]bool) {
	t.Helper()
	logs := t.TempDir()
	cmdArgs := append([]string{"-ff", "-y", "-o", filepath.Join(logs, "strace")}, straceArgs...)
	cmdArgs = append(append(cmdArgs, lockfix), args...)
	out, err := exec.Command(strace, cmdArgs...).CombinedOutput()
	synced := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(logs, "strace.*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range syncfsLine.FindAllSubmatch(b, -1) {
			ok := string(m[1]) == "0"
			if prev, seen := synced[syncfsPath]; seen {
				ok = ok && prev
			}
			synced[syncfsPath] = ok
		}
		for _, m := range fsyncLine.FindAllSubmatch(b, -1) {
			p, ok := string(m[1]), string(m[2]) == "0"
			if prev, seen := synced[p]; seen {
				ok = ok && prev
			}
			synced[p] = ok
		}
	}
	return exitCode(err), out, synced
}

// syncfsPath is the key under which straceRun records the syncfs calls.
const syncfsPath = "(syncfs)"

// syncfsInjected reports whether the log showed a syncfs failed by
// injection.
func syncfsInjected(t *testing.T, synced map[string]bool) bool {
	t.Helper()
	ok, seen := synced[syncfsPath]
	return seen && !ok
}

// readReport returns the statuses of a --report file by path.
func readReport(t *testing.T, report string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec struct{ Path, Status string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		statuses[rec.Path] = rec.Status
	}
	return statuses
}

func straceBatchSync(t *testing.T, strace, lockfix, inject string) {
	root := t.TempDir()
	const n = 300
	orig := map[string][]byte{}
	isDir := map[string]string{} // directory -> its lockfile
	// The first batch: the first 256 files in the walk's (sorted) order.
	// The second round's filesystem sync, which makes their renames
	// durable and the second batch's temp files, is opened on the
	// directory of the second batch's first file: -P fails it alone.
	firstBatch := map[string]bool{}
	straceArgs := []string{"-e", "trace=fsync"}
	switch inject {
	case "filesystem":
		straceArgs = []string{"-e", "trace=syncfs", "-e", "inject=syncfs:error=EIO"}
	case "scattered":
		straceArgs = append(straceArgs, "-e", "inject=fsync:error=EIO:when=2+2")
	default:
		straceArgs = append(straceArgs, "-e", "inject=fsync:error=EIO")
	}
	for i := range n {
		dir := filepath.Join(root, "team", fmt.Sprintf("app%03d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := writeLock(t, dir, "bun.lockb", genLock(1, 5+i%20, uint64(i)), 0o644)
		orig[p], _ = os.ReadFile(p)
		isDir[dir] = p
		firstBatch[p] = i < 256
		if inject == "filesystem" && i == 256 {
			straceArgs = append(straceArgs, "-P", dir)
		}
		if inject == "directories" && i%3 == 0 {
			straceArgs = append(straceArgs, "-P", dir)
		}
	}
	report := filepath.Join(t.TempDir(), "run.jsonl")
	code, out, synced := straceRun(t, strace, straceArgs, lockfix, "migrate", "--to", "2", "--report", report, root)
	if !strings.Contains(string(out), "sync batch") {
		t.Fatalf("the default run of %d files is not a batch run:\n%s", n, tail(out, 3))
	}
	if inject == "filesystem" && !syncfsInjected(t, synced) {
		t.Fatalf("no syncfs failed by injection; strace output:\n%s", tail(out, 20))
	}

	// What the log says failed: a temp file's fsync (before the rename)
	// or a directory's (after it).
	tempFailed, dirFailed := map[string]bool{}, map[string]bool{}
	for path, ok := range synced {
		if ok || path == syncfsPath {
			continue
		}
		dir, base := filepath.Split(path)
		switch lock := isDir[path]; {
		case lock != "":
			dirFailed[lock] = true
		case isDir[filepath.Clean(dir)] != "" && atomicfile.IsTemp(base):
			tempFailed[isDir[filepath.Clean(dir)]] = true
		default:
			t.Errorf("an fsync failed on %s, which is neither a temp file nor a lockfile's directory", path)
		}
	}
	if inject == "filesystem" {
		for p := range orig {
			if firstBatch[p] {
				dirFailed[p] = true
			} else {
				tempFailed[p] = true
			}
		}
	}
	if len(dirFailed) == 0 || inject != "directories" && len(tempFailed) == 0 {
		t.Fatalf("the injection hit %d temp files and %d directories: not what this test needs", len(tempFailed), len(dirFailed))
	}
	if code != 10 {
		t.Errorf("migrate under strace: exit %d, want 10 (8 + 2: not durable)\n%s", code, tail(out, 20))
	}

	statuses := readReport(t, report)
	if len(statuses) != n {
		t.Fatalf("%d records in the report, want %d", len(statuses), n)
	}
	counts := map[string]int{}
	for p, st := range statuses {
		counts[st]++
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := schema.Sniff(b)
		v2 := s != nil && s.Version == 2 && len(schema.Check(b)) == 0
		left := temps(t, filepath.Dir(p))
		want := "migrated"
		switch {
		case tempFailed[p]:
			want = "failed"
		case dirFailed[p]:
			want = "not-durable"
		}
		if st != want {
			t.Errorf("%s: reported %s, want %s (temp file fsync failed: %v, directory fsync failed: %v)", p, st, want, tempFailed[p], dirFailed[p])
		}
		switch st {
		case "failed":
			if !bytes.Equal(b, orig[p]) || len(left) > 0 {
				t.Errorf("%s: failed, but its bytes changed or temp files are left (%v)", p, left)
			}
		case "not-durable":
			if !v2 || len(left) != 1 {
				t.Errorf("%s: not-durable, but not a valid v2 file (%v) or not one mark for the rerun (temp files %v)", p, v2, left)
			}
		case "migrated":
			if !v2 || len(left) > 0 {
				t.Errorf("%s: migrated, but not a valid v2 file (%v) or temp files are left (%v)", p, v2, left)
			}
		}
	}
	t.Logf("first run: %v", counts)

	// The rerun makes the not-durable files durable: an fsync of each
	// file and of its directory.
	code, out, synced = straceRun(t, strace, []string{"-e", "trace=fsync"}, lockfix, "migrate", "--to", "2", "--report", report, root)
	if code != 0 {
		t.Fatalf("the rerun: exit %d\n%s", code, tail(out, 20))
	}
	want := fmt.Sprintf("%d migrated, %d skipped, 0 refused, 0 failed, %d synced", counts["failed"], counts["migrated"], counts["not-durable"])
	if !strings.Contains(string(out), want) {
		t.Errorf("the rerun says %q, want %q", tail(out, 1), want)
	}
	again := readReport(t, report)
	for p, st := range statuses {
		want := map[string]string{"failed": "migrated", "not-durable": "synced", "migrated": "skipped"}[st]
		if again[p] != want {
			t.Errorf("%s: %s, then %s in the rerun, want %s", p, st, again[p], want)
		}
		if st == "not-durable" && (!synced[p] || !synced[filepath.Dir(p)]) {
			t.Errorf("%s: synced in the rerun, but the log shows no fsync of it (%v) or of its directory (%v)", p, synced[p], synced[filepath.Dir(p)])
		}
		noTemps(t, filepath.Dir(p))
	}
}
