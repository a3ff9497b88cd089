package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Create writes a new file at path atomically and durably: data is
// written to a temp file in the same directory (created exclusively with
// perm, so the umask applies) and fsynced while it is verified, then, once
// verified, moved to path without replacing anything, and the directory is
// fsynced. Nobody
// ever sees a partial file at path.
//
// Create never overwrites: when path exists (or appears while the data is
// written) it returns an error that wraps fs.ErrExist, and to replace an
// existing file callers use Open and Handle.Replace. On any error nothing
// is left behind. A verify error is wrapped in ErrVerify.
func Create(path string, data []byte, perm fs.FileMode, verify func([]byte) error) error {
	return create(OSFS{}, path, data, perm, verify)
}

func create(fsys FS, path string, data []byte, perm fs.FileMode, verify func([]byte) error) (err error) {
	// data is verified while the temp file is written and synced; the
	// verdict is awaited before the rename, and a verify error comes
	// before any other, as if it had run first.
	verified := make(chan error, 1)
	if verify == nil {
		verified <- nil
	} else {
		go func() { verified <- verify(data) }()
	}
	waitVerify := func() error {
		if verr := <-verified; verr != nil {
			return fmt.Errorf("%s: %w: %w", path, ErrVerify, verr)
		}
		return nil
	}
	defer func() {
		if verified != nil {
			if verr := waitVerify(); verr != nil {
				err = verr
			}
		}
	}()
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("create %s: %w", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+tempInfix+hex.EncodeToString(rnd[:])+tempSuffix)
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm.Perm())
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	fail := func(op string, err error) error {
		fsys.Remove(tmp)
		f.Close()
		return fmt.Errorf("%s %s: %w", op, tmp, err)
	}
	// Locked like Prepare's temp files, so a concurrent Open's stale-file
	// cleanup leaves it alone.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail("lock", err)
	}
	if _, err := f.Write(data); err != nil {
		return fail("write", err)
	}
	if err := f.Sync(); err != nil {
		return fail("fsync", err)
	}
	verr := waitVerify()
	verified = nil
	if verr != nil {
		fsys.Remove(tmp)
		f.Close()
		return verr
	}
	if err := renameNoReplace(tmp, path); err != nil {
		fsys.Remove(tmp)
		f.Close()
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w (it appeared while lockfix wrote it)", path, fs.ErrExist)
		}
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return SyncDir(fsys, dir)
}

// renameNoReplace moves oldpath to newpath unless newpath exists: with
// renameat2(RENAME_NOREPLACE), or, on filesystems without it, with a hard
// link and an unlink. Both fail with EEXIST when newpath exists.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := os.Link(oldpath, newpath); err != nil {
		return err
	}
	return os.Remove(oldpath)
}
