package atomicfile_test

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// TestXattrsKept sets user.* attributes on a lockfile (and a security
// label where permitted) and replaces it: the new file has them.
func TestXattrsKept(t *testing.T) {
	dir := t.TempDir()
	old := genLock(1, 10, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	if err := unix.Setxattr(path, "user.origin", []byte("deploy 42"), 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			t.Skip("this filesystem has no user extended attributes")
		}
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	for i := range big {
		big[i] = byte(i)
	}
	if err := unix.Setxattr(path, "user.big", big, 0); err != nil {
		t.Fatal(err)
	}
	label := unix.Setxattr(path, "security.lockfixtest", []byte("l1"), 0) == nil
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Replace(withRows(t, old, 50), verify); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"user.origin": "deploy 42", "user.big": string(big)} {
		buf := make([]byte, 2000)
		n, err := unix.Getxattr(path, name, buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("%s after the replace: %q, %v", name, buf[:max(n, 0)], err)
		}
	}
	if label {
		buf := make([]byte, 100)
		if n, err := unix.Getxattr(path, "security.lockfixtest", buf); err != nil || string(buf[:n]) != "l1" {
			t.Errorf("the security label after the replace: %v", err)
		}
	}
	noTemps(t, dir)
}

// TestStaleTempOfStranger leaves two files named like stale temp files of
// a lockfile: one of the running user's, one of another user (neither
// the lockfile's owner nor the running user). The next writing Open
// removes only the first. It needs root, to chown.
func TestStaleTempOfStranger(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file another owner")
	}
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", genLock(1, 5, 1), 0o644)
	mine := writeLock(t, dir, ".bun.lockb.lockfix-0000000000000001.tmp", []byte("x"), 0o600)
	theirs := writeLock(t, dir, ".bun.lockb.lockfix-0000000000000002.tmp", []byte("y"), 0o600)
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := os.Stat(mine); !os.IsNotExist(err) {
		t.Error("the running user's stale temp file was not removed")
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("another user's file was removed: %v", err)
	}
	if h.Stale() != 1 {
		t.Errorf("Stale() = %d, want 1", h.Stale())
	}
}
