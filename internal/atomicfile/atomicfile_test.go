package atomicfile_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	old := genLock(1, 20, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o640)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if string(h.Data()) != string(old) {
		t.Fatal("Data is not the file's content")
	}
	st0, _ := os.Stat(path)
	nw := withRows(t, old, 30)
	if err := h.Replace(nw, verify); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, nw, "after Replace")
	noTemps(t, dir)
	st1, _ := os.Stat(path)
	if os.SameFile(st0, st1) {
		t.Error("Replace wrote in place: the file is the same inode")
	}
	if st1.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st1.Mode().Perm())
	}
	// The handle now holds the new file: a second Replace works and
	// another Open finds it locked.
	if !os.SameFile(h.Info(), st1) || string(h.Data()) != string(nw) {
		t.Error("after Replace the handle does not describe the new file")
	}
	if _, err := atomicfile.Open(path, atomicfile.Options{}); !errors.Is(err, atomicfile.ErrLocked) {
		t.Errorf("Open of the replaced file while the handle is open: %v, want ErrLocked", err)
	}
	third := withRows(t, old, 31)
	if err := h.Replace(third, verify); err != nil {
		t.Fatalf("second Replace: %v", err)
	}
	sameBytes(t, path, third, "after a second Replace")
	h.Close()
	h2, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	h2.Close()
	noTemps(t, dir)
}

func TestVerifyRefuses(t *testing.T) {
	dir := t.TempDir()
	old := genLock(2, 5, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	bad := append([]byte(nil), old...)
	bad[0x06] ^= 0x10
	err = h.Replace(bad, verify)
	if !errors.Is(err, atomicfile.ErrVerify) || !strings.Contains(err.Error(), "ChecksumMismatch") {
		t.Fatalf("Replace of invalid bytes: %v, want ErrVerify naming ChecksumMismatch", err)
	}
	sameBytes(t, path, old, "after a refused verify")
	noTemps(t, dir)
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", genLock(0, 3, 1), 0o644)
	h, err := atomicfile.Open(path, atomicfile.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// A read-only handle takes no lock...
	w, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatalf("Open while a read-only handle is open: %v", err)
	}
	w.Close()
	// ...and cannot write.
	if err := h.Replace(genLock(0, 4, 1), nil); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Replace on a read-only handle: %v", err)
	}
}

func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	old := genLock(1, 10, 1)
	target := writeLock(t, real, "bun.lockb", old, 0o600)
	link := filepath.Join(dir, "bun.lockb")
	if err := os.Symlink(filepath.Join("real", "bun.lockb"), link); err != nil {
		t.Fatal(err)
	}
	h, err := atomicfile.Open(link, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Path() != link || h.Target() != target {
		t.Errorf("Path %q Target %q, want %q and %q", h.Path(), h.Target(), link, target)
	}
	nw := withRows(t, old, 40)
	if err := h.Replace(nw, verify); err != nil {
		t.Fatal(err)
	}
	h.Close()
	st, err := os.Lstat(link)
	if err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is no longer a symlink: %v %v", st.Mode(), err)
	}
	if dest, _ := os.Readlink(link); dest != filepath.Join("real", "bun.lockb") {
		t.Errorf("the link points at %q now", dest)
	}
	sameBytes(t, target, nw, "the link's target")
	noTemps(t, dir)
	noTemps(t, real)
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v, want 0600", st.Mode().Perm())
	}
}

func TestModeKept(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o640, 0o644, 0o444, 0o664 | os.ModeSetgid} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			old := genLock(2, 3, 1)
			path := writeLock(t, dir, "bun.lockb", old, mode)
			h, err := atomicfile.Open(path, atomicfile.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Replace(withRows(t, old, 50), verify); err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(path)
			if got := st.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSetuid | os.ModeSticky); got != mode {
				t.Errorf("mode %v, want %v", got, mode)
			}
		})
	}
}

// TestModeKeptDespiteUmask: a strict umask does not narrow the new file.
func TestModeKeptDespiteUmask(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o077))
	dir := t.TempDir()
	old := genLock(1, 3, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o664)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Replace(withRows(t, old, 51), verify); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o664 {
		t.Errorf("mode %v under umask 077, want 0664", st.Mode().Perm())
	}
}

func TestOwnerKept(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file another owner")
	}
	dir := t.TempDir()
	old := genLock(1, 3, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o640)
	if err := os.Chown(path, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Replace(withRows(t, old, 60), verify); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != 1234 || sys.Gid != 5678 || st.Mode().Perm() != 0o640 {
		t.Errorf("owner %d:%d mode %v, want 1234:5678 0640", sys.Uid, sys.Gid, st.Mode().Perm())
	}
}

func TestNotRegularRefusedAtOnce(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.lockb")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.lockb")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A symlink to a FIFO is followed and refused too.
	link := filepath.Join(dir, "link.lockb")
	if err := os.Symlink("fifo.lockb", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, sock, link, dir, "/dev/null"} {
		for _, ro := range []bool{false, true} {
			done := make(chan error, 1)
			go func() {
				_, err := atomicfile.Open(p, atomicfile.Options{ReadOnly: ro, Wait: time.Second})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, atomicfile.ErrNotRegular) {
					t.Errorf("Open(%s, read-only %v): %v, want ErrNotRegular", p, ro, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Open(%s) blocks", p)
			}
		}
	}
}

func TestTempNamesAndIsTemp(t *testing.T) {
	dir := t.TempDir()
	old := genLock(1, 3, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p1, err := h.Prepare(withRows(t, old, 70), verify, false)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := h.Prepare(withRows(t, old, 71), verify, false)
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := filepath.Base(p1.Name()), filepath.Base(p2.Name())
	if n1 == n2 || !strings.HasPrefix(n1, ".bun.lockb.lockfix-") || !atomicfile.IsTemp(n1) || len(n1) != len(".bun.lockb.lockfix-")+16+len(".tmp") {
		t.Errorf("temp names %q and %q: want distinct .bun.lockb.lockfix-<16 hex>.tmp", n1, n2)
	}
	if st, _ := os.Stat(p1.Name()); st.Mode().Perm() != 0o644 {
		t.Errorf("temp mode %v, want the original's 0644", st.Mode().Perm())
	}
	// An in-use temp file is locked: another process's cleanup leaves it.
	f, _ := os.Open(p1.Name())
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Error("an in-use temp file is not locked")
	}
	f.Close()
	p1.Abort()
	p2.Abort()
	p2.Abort() // twice is safe
	noTemps(t, dir)
	sameBytes(t, path, old, "after Abort")
	for name, want := range map[string]bool{
		".bun.lockb.lockfix-0123456789abcdef.tmp": true,
		"bun.lockb":                              false,
		".bun.lockb":                             false,
		"bun.lockb.lockfix-0123456789abcdef.tmp": false,
		".bun.lockb.lockfix-0123456789abcdef":    false,
	} {
		if atomicfile.IsTemp(name) != want {
			t.Errorf("IsTemp(%q) = %v", name, !want)
		}
	}
	// A temp file is never opened for writing as a lockfile.
	tmp := writeLock(t, dir, ".bun.lockb.lockfix-0123456789abcdef.tmp", old, 0o644)
	if _, err := atomicfile.Open(tmp, atomicfile.Options{}); err == nil || !strings.Contains(err.Error(), "temp file") {
		t.Errorf("Open of a temp file for writing: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file just over the limit: no disk is used.
	if err := f.Truncate(atomicfile.MaxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, ro := range []bool{false, true} {
		if _, err := atomicfile.Open(path, atomicfile.Options{ReadOnly: ro}); !errors.Is(err, atomicfile.ErrTooLarge) {
			t.Errorf("Open of a file over MaxSize: %v, want ErrTooLarge", err)
		}
	}
}

func TestChangedUnderneath(t *testing.T) {
	old := genLock(1, 10, 1)
	nw := withRows(t, old, 33)
	other := withRows(t, old, 99) // same size as old
	tests := []struct {
		name   string
		meddle func(t *testing.T, path string)
	}{
		{"rewritten in place, size and time kept", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(other)
			f.Close()
			// Put the time back: only the bytes tell.
			if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{"appended to", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("x"))
			f.Close()
		}},
		{"replaced by rename", func(t *testing.T, path string) {
			tmp := path + ".editor"
			os.WriteFile(tmp, other, 0o644)
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, path string) {
			os.Remove(path)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeLock(t, dir, "bun.lockb", old, 0o644)
			h, err := atomicfile.Open(path, atomicfile.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			tt.meddle(t, path)
			before, _ := os.ReadFile(path)
			err = h.Replace(nw, verify)
			if !errors.Is(err, atomicfile.ErrChanged) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Replace after another program changed the file: %v, want ErrChanged naming it", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Error("the other program's change was overwritten")
			}
			noTemps(t, dir)
		})
	}
}

func TestLockContention(t *testing.T) {
	dir := t.TempDir()
	old := genLock(1, 5, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	holder, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Fail fast.
	_, err = atomicfile.Open(path, atomicfile.Options{})
	if !errors.Is(err, atomicfile.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want ErrLocked naming the file", err)
	}
	// A short wait runs out.
	_, err = atomicfile.Open(path, atomicfile.Options{Wait: 50 * time.Millisecond})
	if !errors.Is(err, atomicfile.ErrLocked) || !strings.Contains(err.Error(), "waited 50ms") {
		t.Fatalf("Open with a short wait: %v, want ErrLocked after 50ms", err)
	}
	// A waiter gets the file once the holder has replaced and released
	// it, and locks the new file, not the replaced one.
	type result struct {
		h   *atomicfile.Handle
		err error
	}
	got := make(chan result, 1)
	go func() {
		h, err := atomicfile.Open(path, atomicfile.Options{Wait: time.Minute})
		got <- result{h, err}
	}()
	nw := withRows(t, old, 44)
	if err := holder.Replace(nw, verify); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		t.Fatalf("the waiter got the lock while the holder held it: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	holder.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("waiter: %v", r.err)
	}
	defer r.h.Close()
	if string(r.h.Data()) != string(nw) {
		t.Error("the waiter read the replaced content, not the new one")
	}
	if _, err := atomicfile.Open(path, atomicfile.Options{}); !errors.Is(err, atomicfile.ErrLocked) {
		t.Errorf("the waiter does not hold the lock of the new file: Open gave %v", err)
	}
	if err := r.h.Replace(withRows(t, old, 45), verify); err != nil {
		t.Errorf("the waiter's Replace: %v", err)
	}
}

func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	old := genLock(1, 5, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	// What killed runs leave: a half-written temp file, and a link to
	// the lockfile itself (killed between the link and the rename).
	stale := writeLock(t, dir, ".bun.lockb.lockfix-00000000000000aa.tmp", old[:40], 0o600)
	link := filepath.Join(dir, ".bun.lockb.lockfix-00000000000000bb.tmp")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	// A temp file a live writer holds is left alone, and so are other
	// files' temps and files that only look alike.
	live := writeLock(t, dir, ".bun.lockb.lockfix-00000000000000cc.tmp", old, 0o600)
	lf, _ := os.Open(live)
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	otherTemp := writeLock(t, dir, ".other.lockb.lockfix-00000000000000dd.tmp", old, 0o600)
	lookalike := writeLock(t, dir, "bun.lockb.lockfix-00000000000000ee.tmp", old, 0o600)
	fifo := filepath.Join(dir, ".bun.lockb.lockfix-00000000000000ff.tmp")
	syscall.Mkfifo(fifo, 0o600)

	// A read-only Open changes nothing.
	h, err := atomicfile.Open(path, atomicfile.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if len(temps(t, dir)) != 5 {
		t.Fatalf("a read-only Open removed temp files: %v", temps(t, dir))
	}
	h, err = atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, p := range []string{stale, link} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("stale %s was not removed", filepath.Base(p))
		}
	}
	for _, p := range []string{live, otherTemp, lookalike, fifo, path} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed", filepath.Base(p))
		}
	}
	sameBytes(t, path, old, "the lockfile")
}
