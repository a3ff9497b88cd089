package atomicfile

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/trace"
)

// FSSync is a sync of a whole filesystem (syncfs(2)) through a descriptor
// opened before the files it is to make durable were written: a batch
// opens it before it creates its temp files and renames, and its Sync
// then reports every write error on that filesystem since (the kernel
// compares the filesystem's error counter with the one the descriptor
// saw when it was opened), theirs among them. An error may be another
// program's: the caller treats it as its own files', which errs on the
// safe side.
type FSSync struct {
	fd  int
	dev uint64
	dir string
}

// ErrNoFSSync is OpenFSSync's error for a filesystem whose syncfs is not
// known to write back everything.
var ErrNoFSSync = errors.New("no filesystem sync known to cover every file here")

// syncfsTypes are the filesystems (statfs f_type) whose syncfs writes
// back and waits for all their data and metadata: ext4 (and ext2/3),
// XFS, Btrfs, F2FS. Elsewhere it may return without syncing (FUSE before
// its syncfs request, some network filesystems), and files are fsynced.
var syncfsTypes = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true,
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.F2FS_SUPER_MAGIC:  true,
}

// OpenFSSync opens the filesystem of dir for a later Sync. It fails with
// ErrNoFSSync on a filesystem not in syncfsTypes.
func OpenFSSync(dir string) (*FSSync, error) {
	f, err := openRaw(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(f.fd, &fs); err != nil || !syncfsTypes[int64(fs.Type)] {
		f.Close()
		return nil, fmt.Errorf("%s: %w", dir, ErrNoFSSync)
	}
	st, err := f.stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &FSSync{fd: f.fd, dev: uint64(st.Dev), dir: dir}, nil
}

// Dev is the device number of the filesystem.
func (s *FSSync) Dev() uint64 { return s.dev }

// Sync writes back everything the filesystem holds in memory and waits
// for it, and returns the write errors on it since OpenFSSync.
func (s *FSSync) Sync() error {
	span := trace.Start("fs.sync")
	defer span.End(s.dir)
	for {
		err := unix.Syncfs(s.fd)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sync the filesystem of %s: %w", s.dir, err)
		}
		return nil
	}
}

// Close closes the descriptor. It is safe to call on nil.
func (s *FSSync) Close() {
	if s != nil && s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}
