package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/trace"
)

// ErrNotDurable marks the errors of a replace after which the new content
// is in place (complete and verified) but may not survive a crash: the
// directory fsync failed and the original could not be put back. Every
// other error of Replace leaves the original at the path.
var ErrNotDurable = errors.New("the new content is in place but may not survive a crash")

// Backup keeps the bytes Open read in a new file at name (in the
// lockfile's directory), written as everything else is: a temp file of the
// lockfile (".<name>.lockfix-<random>.tmp", locked while in use, so that a
// killed run's is removed by the next Open of the lockfile), the
// lockfile's owner, group and mode, fsync, a rename to name that never
// replaces anything (name must not exist), and a directory fsync. Nobody
// ever sees a partial backup at name. On an error nothing is left.
func (h *Handle) Backup(name string) error {
	if h.closed || h.lock == nil {
		return fmt.Errorf("%s: not open for writing", h.path)
	}
	if filepath.Dir(name) != filepath.Dir(h.target) {
		return fmt.Errorf("%s: backup %s is not in the lockfile's directory", h.path, name)
	}
	span := trace.Start("backup.write")
	defer span.End(name)
	tmp, err := tempName(h.target)
	if err != nil {
		return err
	}
	f, err := h.fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", name, err)
	}
	fail := func(op string, err error) error {
		h.fsys.Remove(tmp)
		f.Close()
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail("lock the temp file of", err)
	}
	if _, err := f.Write(h.data); err != nil {
		return fail("write", err)
	}
	if op, err := keepOwnerAndMode(f, h.info); err != nil {
		return fail(op, err)
	}
	if err := f.Sync(); err != nil {
		return fail("fsync", err)
	}
	if err := renameNoReplace(tmp, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = fs.ErrExist
		}
		return fail("rename the temp file to", err)
	}
	f.Close()
	if err := SyncDir(h.fsys, filepath.Dir(name)); err != nil {
		os.Remove(name)
		return fmt.Errorf("backup %s: %w", name, err)
	}
	return nil
}

// RemoveBackup removes a backup that Backup wrote, once the replace it
// protected has failed with the original in place, and syncs the
// directory (best effort: a backup that comes back after a crash is a
// complete copy of the original).
func RemoveBackup(name string) error {
	if err := os.Remove(name); err != nil {
		return err
	}
	SyncDir(nil, filepath.Dir(name))
	return nil
}
