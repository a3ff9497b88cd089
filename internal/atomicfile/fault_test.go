package atomicfile_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// faultFS is the operating system's filesystem with failures injected:
// fail[op] = n makes the n-th call of op fail (1 = the first, -1 =
// every call). The operations are create (the temp file), write, chmod,
// fsync (a file), link, rename (the first rename: the new content over
// the lockfile), putback (the second rename: the original back),
// diropen and dirsync. A failing write writes half of its bytes first, as
// a full disk does.
type faultFS struct {
	atomicfile.OSFS
	fail  map[string]int
	calls map[string]int
}

func newFaultFS(fail map[string]int) *faultFS {
	return &faultFS{fail: fail, calls: map[string]int{}}
}

// hit counts a call of op and returns the error to inject, if any.
func (f *faultFS) hit(op string, errno syscall.Errno) error {
	f.calls[op]++
	n, ok := f.fail[op]
	if ok && (n == -1 || n == f.calls[op]) {
		return &os.PathError{Op: op, Path: "(injected)", Err: errno}
	}
	return nil
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (atomicfile.File, error) {
	if err := f.hit("create", syscall.ENOSPC); err != nil {
		return nil, err
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, dir: false}, nil
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	op := "rename"
	if f.calls["rename"] > 0 {
		op = "putback"
	}
	if err := f.hit(op, syscall.EIO); err != nil {
		return err
	}
	return f.OSFS.Rename(oldpath, newpath)
}

// Exchange counts as a rename (the first: the new content in place; a
// later one: the original back). When the test makes link fail, the
// filesystem cannot exchange either (EINVAL), so that the link path runs.
func (f *faultFS) Exchange(a, b string) error {
	if _, ok := f.fail["link"]; ok {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: syscall.EINVAL}
	}
	op := "rename"
	if f.calls["rename"] > 0 {
		op = "putback"
	}
	if err := f.hit(op, syscall.EIO); err != nil {
		return err
	}
	return f.OSFS.Exchange(a, b)
}

func (f *faultFS) Link(oldname, newname string) error {
	if err := f.hit("link", syscall.EPERM); err != nil {
		return err
	}
	return f.OSFS.Link(oldname, newname)
}

func (f *faultFS) OpenDir(name string) (atomicfile.File, error) {
	if err := f.hit("diropen", syscall.EIO); err != nil {
		return nil, err
	}
	d, err := f.OSFS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: d, fs: f, dir: true}, nil
}

type faultFile struct {
	atomicfile.File
	fs  *faultFS
	dir bool
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.hit("write", syscall.ENOSPC); err != nil {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	op := "fsync"
	if f.dir {
		op = "dirsync"
	}
	if err := f.fs.hit(op, syscall.EIO); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Chmod(mode fs.FileMode) error {
	if err := f.fs.hit("chmod", syscall.EPERM); err != nil {
		return err
	}
	return f.File.Chmod(mode)
}

// TestFaults makes each step of the write path fail in turn: after each,
// the lockfile holds its original bytes (or, where the table says so, the
// complete new bytes), no temp file remains, the error names the file,
// and the next write succeeds.
func TestFaults(t *testing.T) {
	tests := []struct {
		name string
		fail map[string]int
		// ok: Replace succeeds; newBytes: the file holds the new bytes
		// after the failure.
		ok, newBytes bool
		errText      string
	}{
		{name: "create temp", fail: map[string]int{"create": 1}, errText: "create temp file"},
		{name: "write", fail: map[string]int{"write": 1}, errText: "no space left"},
		{name: "chmod", fail: map[string]int{"chmod": 1}, errText: "keep the mode"},
		{name: "fsync", fail: map[string]int{"fsync": 1}, errText: "fsync temp file"},
		{name: "rename", fail: map[string]int{"rename": 1}, errText: "rename temp file"},
		{name: "directory fsync", fail: map[string]int{"dirsync": -1}, errText: "the original was put back"},
		{name: "directory open", fail: map[string]int{"diropen": -1}, errText: "the original was put back"},
		{name: "directory fsync once", fail: map[string]int{"dirsync": 1}, errText: "the original was put back"},
		// No hard links: the directory is synced before the rename.
		{name: "link", fail: map[string]int{"link": 1}, ok: true, newBytes: true},
		{name: "link and directory fsync", fail: map[string]int{"link": 1, "dirsync": 1}, errText: "fsync directory"},
		{name: "link and the second directory fsync", fail: map[string]int{"link": 1, "dirsync": 2}, newBytes: true, errText: "the new content is in place"},
		// The double fault: the new content stays, complete and fsynced.
		{name: "directory fsync and put back", fail: map[string]int{"dirsync": 1, "putback": 1}, newBytes: true, errText: "putting the original back failed"},
	}
	// The umask takes group write from a new file: the chmod that puts it
	// back is a step that can fail.
	defer syscall.Umask(syscall.Umask(0o022))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			old := genLock(2, 50, 1)
			nw := withRows(t, old, 77)
			path := writeLock(t, dir, "bun.lockb", old, 0o660)
			st0, _ := os.Stat(path)
			ffs := newFaultFS(tt.fail)
			h, err := atomicfile.Open(path, atomicfile.Options{FS: ffs})
			if err != nil {
				t.Fatal(err)
			}
			err = h.Replace(nw, verify)
			for op := range tt.fail {
				if ffs.calls[op] == 0 {
					t.Errorf("%s was never called: the injection tested nothing", op)
				}
			}
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Replace: %v", err)
			case !tt.ok && err == nil:
				t.Fatal("Replace succeeded despite the failure")
			case !tt.ok && (!strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), path)):
				t.Errorf("error %q does not name the file and %q", err, tt.errText)
			}
			if tt.newBytes {
				sameBytes(t, path, nw, "after the failure")
			} else {
				sameBytes(t, path, old, "after the failure")
				st, _ := os.Stat(path)
				if !os.SameFile(st0, st) {
					t.Error("the original's inode is no longer at the path")
				}
			}
			noTemps(t, dir)
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o660 {
				t.Errorf("mode %v after the failure", st.Mode().Perm())
			}
			h.Close()

			// The next write, without faults, finds a clean directory.
			h, err = atomicfile.Open(path, atomicfile.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			again := withRows(t, old, 78)
			if err := h.Replace(again, verify); err != nil {
				t.Fatalf("the next Replace: %v", err)
			}
			sameBytes(t, path, again, "the next Replace")
			noTemps(t, dir)
		})
	}
}

// TestFaultsBatch checks the two-phase path of batches: a failing write or
// rename leaves the original and no temp file.
func TestFaultsBatch(t *testing.T) {
	for _, op := range []string{"write", "rename"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			old := genLock(1, 20, 1)
			path := writeLock(t, dir, "bun.lockb", old, 0o644)
			h, err := atomicfile.Open(path, atomicfile.Options{FS: newFaultFS(map[string]int{op: 1})})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			p, err := h.Prepare(withRows(t, old, 90), verify, false)
			if err == nil {
				if err := p.Sync(); err != nil {
					t.Fatal(err)
				}
				err = p.Commit()
			}
			if err == nil {
				t.Fatal("no error despite the failure")
			}
			sameBytes(t, path, old, "after the failure")
			noTemps(t, dir)
		})
	}
	// And without faults a batch commit works.
	dir := t.TempDir()
	old := genLock(1, 20, 1)
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nw := withRows(t, old, 91)
	p, err := h.Prepare(nw, verify, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	// Until the sync after the rename succeeds, the original keeps its
	// second name: the mark of a file whose durability is not known.
	if len(temps(t, dir)) != 1 {
		t.Errorf("after the commit, before the sync: temp files %v, want the original's second name", temps(t, dir))
	}
	if err := atomicfile.SyncDir(nil, filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	p.Forget()
	if err := p.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}
	sameBytes(t, path, nw, "after the batch commit")
	noTemps(t, dir)
	h.Close()

	// A commit whose sync never came (Forget not called): the next Open
	// removes the second name and says the file is not known durable;
	// Sync makes it durable.
	h, err = atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again := withRows(t, old, 92)
	if p, err = h.Prepare(again, verify, false); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	h, err = atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Stale() != 1 {
		t.Errorf("Stale() = %d after a batch commit without its sync, want 1", h.Stale())
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if h.Stale() != 0 {
		t.Errorf("Stale() = %d after Sync", h.Stale())
	}
	sameBytes(t, path, again, "after the unsynced batch commit")
	noTemps(t, dir)
}
