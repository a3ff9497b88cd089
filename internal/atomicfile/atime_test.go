package atomicfile_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// atime returns the access time of path.
func atime(t *testing.T, path string) time.Time {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(st.Sys().(*syscall.Stat_t).Atim.Unix())
}

// backdate sets path's access time before its modification time, so that
// a read updates it under relatime (the default mount option) as well as
// strictatime; it returns the access time set.
func backdate(t *testing.T, path string) time.Time {
	t.Helper()
	at := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, at, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestReadKeepsAtime: reading a lockfile (Open, read-only or to write)
// and listing a directory (OpenDir, as the walk and the stale-temp scan
// do) leave their access times as they were. Where a plain read does not
// update an access time either (a noatime mount), the test cannot tell
// and is skipped.
func TestReadKeepsAtime(t *testing.T) {
	dir := t.TempDir()
	p := writeLock(t, dir, "bun.lockb", genLock(1, 5, 1), 0o644)
	at := backdate(t, p)
	if _, err := os.ReadFile(p); err != nil {
		t.Fatal(err)
	}
	if atime(t, p).Equal(at) {
		t.Skip("a plain read does not update access times on this filesystem (noatime?)")
	}
	for _, ro := range []bool{true, false} {
		at := backdate(t, p)
		h, err := atomicfile.Open(p, atomicfile.Options{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		if got := atime(t, p); !got.Equal(at) {
			t.Errorf("Open(ReadOnly: %v) changed the access time from %v to %v", ro, at, got)
		}
	}
	at = backdate(t, dir)
	f, err := atomicfile.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil || len(names) != 1 {
		t.Fatalf("OpenDir: read %q, %v; want the one lockfile", names, err)
	}
	if got := atime(t, dir); !got.Equal(at) {
		t.Errorf("listing the directory changed its access time from %v to %v", at, got)
	}
}

// TestNoAtimeRefused: a user who may not skip another user's access times
// (O_NOATIME is the owner's or CAP_FOWNER's) still reads that user's
// lockfiles and walks their directories: the open is tried again without
// it. Run as root, the lockfix command is started as nobody.
func TestNoAtimeRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run lockfix as another user than the files'")
	}
	if testing.Short() {
		t.Skip("builds the lockfix command")
	}
	dir, err := os.MkdirTemp("", "lockfix-noatime-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lockfix := buildLockfix(t, t.TempDir())
	if err := os.Chmod(lockfix, 0o755); err != nil {
		t.Fatal(err)
	}
	fleet := filepath.Join(dir, "fleet", "app")
	if err := os.MkdirAll(fleet, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(fleet), filepath.Dir(lockfix), filepath.Dir(filepath.Dir(lockfix))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := writeLock(t, fleet, "bun.lockb", genLock(1, 5, 1), 0o644)
	for _, args := range [][]string{{"validate", p}, {"validate", filepath.Dir(fleet)}} {
		cmd := exec.Command(lockfix, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("lockfix %q as nobody: %v\n%s", args, err, out)
		}
	}
}
