package atomicfile_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
)

// TestInPlaceWriter races a program that writes the lockfile in place,
// without lockfix's lock (as a deploy script or an older tool does), at
// about 800 writes a second, against a loop of 'lockfix set' (the built
// binary) for 20 seconds (3 with -short). The writer counts in the
// terminal columns: before each write it reads the file and checks that
// its last value is still there, so any change of the writer that a set
// overwrote is seen. No change may be lost, and every set exits 0 or 8
// with the reason "changed on disk".
func TestInPlaceWriter(t *testing.T) {
	dur := 20 * time.Second
	if testing.Short() {
		dur = 3 * time.Second
	}
	lockfix := buildLockfix(t, t.TempDir())
	dir := t.TempDir()
	base := genLock(1, 20, 3)
	variants := make([][]byte, 256) // variants[c]: the file with c columns
	for c := 1; c < 256; c++ {
		variants[c] = withCols(t, base, c)
	}
	path := writeLock(t, dir, "bun.lockb", variants[1], 0o644)
	if h, err := atomicfile.Open(path, atomicfile.Options{}); err == nil {
		t.Logf("lease granted here: %v", h.Leased())
		h.Close()
	}

	var stop atomic.Bool
	var writes, lost int64
	var lostAt atomic.Int64
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := 1
		tick := time.NewTicker(time.Second / 800)
		defer tick.Stop()
		for !stop.Load() {
			<-tick.C
			b, err := os.ReadFile(path)
			if err != nil {
				werr = err
				return
			}
			l, err := schema.Decode(b)
			if err != nil {
				werr = err
				return
			}
			if int(l.Config.Cols) != last {
				lost++
				lostAt.Store(time.Now().UnixNano())
				t.Errorf("the writer's change to %d columns was overwritten: the file says %d", last, l.Config.Cols)
			}
			next := last%255 + 1
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				werr = err
				return
			}
			_, err = f.WriteAt(variants[next], 0)
			f.Close()
			if err != nil {
				werr = err
				return
			}
			last = next
			writes++
		}
	}()

	var ok, refused int
	start := time.Now()
	for i := 0; time.Since(start) < dur; i++ {
		cmd := exec.Command(lockfix, "--trace", "set", path, "terminal.rows", strconv.Itoa(10+i%2))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now().UnixNano()
		err := cmd.Run()
		if la := lostAt.Load(); la != 0 {
			// The set that ran when the writer saw its change lost, or
			// the one before: their traces say which path they took.
			t.Logf("a change was lost %v after this set started (exit %v):\n%s", time.Duration(la-t0), err, stderr.String())
			lostAt.Store(0)
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ee) && ee.ExitCode() == 8 && strings.Contains(stderr.String(), "changed on disk"):
			refused++
		default:
			t.Fatalf("set: %v: %s", err, stderr.String())
		}
	}
	elapsed := time.Since(start)
	stop.Store(true)
	<-done
	if werr != nil {
		t.Fatalf("the writer: %v", werr)
	}
	t.Logf("%s: %d sets written, %d refused with exit 8; the writer wrote %d times (%.0f/s), %d of its changes lost",
		elapsed.Round(time.Millisecond), ok, refused, writes, float64(writes)/elapsed.Seconds(), lost)
	if ok == 0 {
		t.Error("no set succeeded: the test did not exercise the replace")
	}
	if writes < int64(200*elapsed.Seconds()) {
		t.Errorf("the writer wrote %d times in %s, fewer than 200 a second: the race was not run as meant", writes, elapsed)
	}
	if ts, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(ts) > 0 {
		t.Errorf("temp files left: %v", ts)
	}
}

// withCols returns the lockfile b with terminal columns set to cols.
func withCols(t testing.TB, b []byte, cols int) []byte {
	t.Helper()
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Cols = uint8(cols)
	out, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
