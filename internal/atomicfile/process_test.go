package atomicfile_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
)

// child returns the test binary re-executed as a writer process.
func child(t testing.TB, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + mode}, env...)...)
	return cmd
}

// startWriter starts the crash writer of TestCrash on path, rewriting it
// from fileA to fileB and back, and waits until it is ready. It returns
// the writer, its output from there and its standard error; the caller
// kills it and waits for it.
func startWriter(t *testing.T, path, fileA, fileB string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := child(t, "crash", "ATOMICFILE_PATH="+path, "ATOMICFILE_A="+fileA, "ATOMICFILE_B="+fileB)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(out)
	if line, _ := lines.ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the writer did not start: %q %s", line, stderr.String())
	}
	return cmd, lines, stderr
}

// rewriteTime runs the crash writer of TestCrash until its first rewrite
// of path ends and returns how long that took: on this machine, and with
// the race detector ten times as long, so the kills can fall within the
// rewrites wherever the test runs.
func rewriteTime(t *testing.T, path, fileA, fileB string) time.Duration {
	t.Helper()
	cmd, lines, stderr := startWriter(t, path, fileA, fileB)
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	start := time.Now()
	if line, _ := lines.ReadString('\n'); line != "replaced\n" {
		t.Fatalf("the writer did not rewrite: %q %s", line, stderr.String())
	}
	return time.Since(start)
}

// TestCrash kills a process rewriting a 100,000-package lockfile with
// SIGKILL at random moments, 50 times. After each kill the file validates
// and holds exactly the old or the new content, and the next Open removes
// whatever temp file the killed run left.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test takes about 10 seconds")
	}
	dir := t.TempDir()
	a := genLock(2, 100_000, 1)
	l, err := schema.Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Rows, l.Config.Flags = 50, schema.FlagOffline
	l.Packages = l.Packages[:len(l.Packages)-1]
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	fileA := writeLock(t, dir, "a.bin", a, 0o644)
	fileB := writeLock(t, dir, "b.bin", b, 0o644)
	lockDir := filepath.Join(dir, "lock")
	if err := os.Mkdir(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := writeLock(t, lockDir, "bun.lockb", a, 0o644)

	cycle := rewriteTime(t, path, fileA, fileB)
	const kills = 50
	seen := map[string]int{}
	leftTemps := 0
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; i < kills; i++ {
		cmd, _, stderr := startWriter(t, path, fileA, fileB)
		// Anywhere in the first three rewrites.
		time.Sleep(time.Duration(r.Int64N(int64(3 * cycle))))
		cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: the writer ended by itself before the kill: %v %s", i, err, stderr.String())
		}

		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		switch {
		case bytes.Equal(got, a):
			seen["old"]++
		case bytes.Equal(got, b):
			seen["new"]++
		default:
			t.Fatalf("kill %d: the file holds %d bytes that are neither the old nor the new content", i, len(got))
		}
		if errs := schema.Check(got); len(errs) > 0 {
			t.Fatalf("kill %d: the file does not validate: %v", i, errs[0])
		}
		if len(temps(t, lockDir)) > 0 {
			leftTemps++
		}
		// The next run is not tripped: Open removes the leftovers.
		h, err := atomicfile.Open(path, atomicfile.Options{})
		if err != nil {
			t.Fatalf("kill %d: the next Open: %v", i, err)
		}
		h.Close()
		noTemps(t, lockDir)
	}
	t.Logf("%d kills: old content %d times, new %d times; %d kills left temp files that the next Open removed",
		kills, seen["old"], seen["new"], leftTemps)
	if seen["old"] == 0 || seen["new"] == 0 {
		t.Errorf("the kills never caught one of the contents (%v): the writer did not write", seen)
	}
	if leftTemps == 0 {
		t.Errorf("no kill hit a write in progress: the test did not test the cleanup")
	}
}

// TestRaceGoroutines races writers with their own Opens (flock is per open
// file description, so they exclude each other as processes do): each
// increments a counter in the lockfile; with a wait, no increment is
// lost.
func TestRaceGoroutines(t *testing.T) {
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", withRows(t, genLock(1, 30, 1), 1), 0o644)
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := increment(path, time.Minute); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := rows(t, path); got != 1+writers*each {
		t.Errorf("counter %d after %d increments from 1: updates were lost", got, writers*each)
	}
	noTemps(t, dir)
}

// TestRaceProcesses races two writer processes waiting for the lock: the
// count is exact. Without a wait, a writer that meets the lock fails with
// ErrLocked and writes nothing.
func TestRaceProcesses(t *testing.T) {
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", withRows(t, genLock(2, 30, 1), 1), 0o644)
	const each = 25
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < 2; i++ {
		cmd := child(t, "count", "ATOMICFILE_PATH="+path, fmt.Sprintf("ATOMICFILE_N=%d", each), "ATOMICFILE_WAIT=1m")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v %s", i, err, outs[i])
		}
	}
	if got := rows(t, path); got != 1+2*each {
		t.Errorf("counter %d after %d increments from 1: updates were lost", got, 2*each)
	}
	noTemps(t, dir)

	// Fail fast: while this process holds the lock, a writer without a
	// wait exits 8 at once and writes nothing.
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cmd := child(t, "count", "ATOMICFILE_PATH="+path, "ATOMICFILE_N=1", "ATOMICFILE_WAIT=0s")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 8 || !strings.Contains(string(out), "locked by another lockfix process") {
		t.Errorf("a writer meeting the lock: %v %s, want exit 8 and ErrLocked", err, out)
	}
	if got := rows(t, path); got != 1+2*each {
		t.Errorf("the writer that met the lock changed the counter to %d", got)
	}
}

// rows reads the counter.
func rows(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return int(l.Config.Rows)
}
