package atomicfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// childEnv selects what a re-executed test binary does instead of running
// the tests: the crash and race tests run their writers as separate
// processes.
const childEnv = "ATOMICFILE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "crash":
		os.Exit(childCrash())
	case "count":
		os.Exit(childCount())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// genLock returns a valid lockfile of n packages at version v.
func genLock(v, n int, seed uint64) []byte {
	return lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: seed})
}

// verify is the check lockfix runs on new content: it must validate.
func verify(b []byte) error {
	return errors.Join(schema.Check(b)...)
}

// writeLock writes data to dir/name with mode and returns the path.
func writeLock(t testing.TB, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // not masked by the umask
		t.Fatal(err)
	}
	return p
}

// temps lists the lockfix temp files in dir.
func temps(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// noTemps fails the test when dir holds a lockfix temp file.
func noTemps(t testing.TB, dir string) {
	t.Helper()
	if ts := temps(t, dir); len(ts) > 0 {
		t.Errorf("temp files left in %s: %v", dir, ts)
	}
}

// sameBytes fails the test when path does not hold want.
func sameBytes(t testing.TB, path string, want []byte, what string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %s holds %d bytes that are not the expected %d", what, path, len(got), len(want))
	}
}

// withRows returns the lockfile b with terminal rows set to rows.
func withRows(t testing.TB, b []byte, rows int) []byte {
	t.Helper()
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Rows = uint8(rows)
	out, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// increment adds one to the terminal rows of the lockfile at path, the
// counter of the race tests, through the whole write path.
func increment(path string, wait time.Duration) error {
	h, err := atomicfile.Open(path, atomicfile.Options{Wait: wait})
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := schema.Decode(h.Data())
	if err != nil {
		return err
	}
	l.Config.Rows++
	b, err := schema.Encode(l)
	if err != nil {
		return err
	}
	return h.Replace(b, verify)
}

// childCount is the race test's writer process: it increments the counter
// of ATOMICFILE_PATH ATOMICFILE_N times, waiting ATOMICFILE_WAIT for the
// lock, and exits 8 on an error, as lockfix does.
func childCount() int {
	path := os.Getenv("ATOMICFILE_PATH")
	n, err := strconv.Atoi(os.Getenv("ATOMICFILE_N"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	wait, err := time.ParseDuration(os.Getenv("ATOMICFILE_WAIT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for i := 0; i < n; i++ {
		if err := increment(path, wait); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 8
		}
	}
	return 0
}

// childCrash is the crash test's writer process: it reads the two
// contents ATOMICFILE_A and ATOMICFILE_B, says "ready" and rewrites
// ATOMICFILE_PATH from one to the other until it is killed.
func childCrash() int {
	path := os.Getenv("ATOMICFILE_PATH")
	a, err1 := os.ReadFile(os.Getenv("ATOMICFILE_A"))
	b, err2 := os.ReadFile(os.Getenv("ATOMICFILE_B"))
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	for {
		h, err := atomicfile.Open(path, atomicfile.Options{Wait: time.Minute})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 8
		}
		next := a
		if bytes.Equal(h.Data(), a) {
			next = b
		}
		if err := h.Replace(next, verify); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 8
		}
		h.Close()
		fmt.Println("replaced")
	}
}
