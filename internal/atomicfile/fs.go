package atomicfile

import (
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// File is the part of *os.File that the write path uses.
type File interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
	Name() string
	Chmod(mode fs.FileMode) error
	Chown(uid, gid int) error
	Fd() uintptr
}

// FS is the filesystem layer of the write path. The default is the
// operating system; tests put a failing layer in its place to check that
// every failure leaves the original file as it was and no temp file
// behind.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename is os.Rename.
	Rename(oldpath, newpath string) error
	// Remove is os.Remove.
	Remove(name string) error
	// OpenDir opens a directory for fsync.
	OpenDir(name string) (File, error)
}

// Linker is an FS that makes hard links. Replace keeps the original file
// under a second name while its new content is renamed into place, so that
// a failing directory fsync can put the original back. An FS that is not a
// Linker gets os.Link.
type Linker interface {
	// Link is os.Link.
	Link(oldname, newname string) error
}

// Exchanger is an FS that swaps two names atomically (renameat2 with
// RENAME_EXCHANGE). Commit exchanges the temp file and the lockfile, so
// that the original keeps a name and what was moved aside can be checked
// to be the file read. It fails with EINVAL, ENOSYS or ENOTSUP where the
// filesystem cannot; an FS that is not an Exchanger links and renames.
type Exchanger interface {
	Exchange(a, b string) error
}

// OSFS is the operating system's filesystem.
type OSFS struct{}

// OpenFile opens a file as os.OpenFile does, on a bare descriptor.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := openRaw(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Rename is rename(2). (os.Rename also stats newpath, to refuse
// renaming over a directory; the write path renames over files only.)
func (OSFS) Rename(oldpath, newpath string) error {
	if err := unix.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// Exchange is renameat2(RENAME_EXCHANGE).
func (OSFS) Exchange(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Link calls os.Link.
func (OSFS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

// OpenDir opens a directory read-only.
func (OSFS) OpenDir(name string) (File, error) {
	f, err := openRaw(name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// link makes a hard link through fsys when it is a Linker, else through
// the operating system.
func link(fsys FS, oldname, newname string) error {
	if l, ok := fsys.(Linker); ok {
		return l.Link(oldname, newname)
	}
	return os.Link(oldname, newname)
}

// rawFile is a File on a bare descriptor. The write path only opens
// regular files and directories, which the Go runtime's poller does not
// take: an *os.File would add to every open an attempt to register the
// descriptor and two changes of its blocking mode, six system calls where
// one does.
type rawFile struct {
	fd   int
	name string
}

// openRaw opens name with open(2) (close-on-exec added). A flag with
// O_NOATIME that the kernel refuses (EPERM: the file is another user's and
// the process may not skip its access time) is tried again without it.
func openRaw(name string, flag int, perm fs.FileMode) (*rawFile, error) {
	for {
		fd, err := unix.Open(name, flag|unix.O_CLOEXEC, unixMode(perm))
		if err == nil {
			return &rawFile{fd: fd, name: name}, nil
		}
		if err == unix.EPERM && flag&unix.O_NOATIME != 0 {
			flag &^= unix.O_NOATIME
			continue
		}
		if err != unix.EINTR {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// readNoAtime is added to the flags of every open that only reads, a
// lockfile or a directory: a scan of a fleet (validate every minute, a
// migrate's walk) leaves the files' access times as they were, so it
// does not make each inode dirty to be written back, and atime-based
// tools do not count lockfix's reads as uses. A migrate that replaces
// the file changes it anyway.
const readNoAtime = unix.O_NOATIME

// openDirRead opens a directory to read its entries, without updating
// its access time where the process may (readNoAtime).
func openDirRead(name string) (*rawFile, error) {
	return openRaw(name, unix.O_RDONLY|unix.O_DIRECTORY|readNoAtime, 0)
}

// OpenDir is openDirRead for a caller that reads the entries through an
// *os.File (the directory walk).
func OpenDir(name string) (*os.File, error) {
	f, err := openDirRead(name)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(f.fd), name), nil
}

// unixMode converts a FileMode's permission and special bits.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

func (f *rawFile) err(op string, err error) error {
	return &os.PathError{Op: op, Path: f.name, Err: err}
}

// Write writes all of p, as os.File does.
func (f *rawFile) Write(p []byte) (int, error) {
	if f.fd < 0 {
		return 0, f.err("write", os.ErrClosed)
	}
	n := 0
	for n < len(p) {
		m, err := unix.Write(f.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, f.err("write", err)
		}
		if m == 0 {
			return n, f.err("write", io.ErrShortWrite)
		}
		n += m
	}
	return n, nil
}

// Read reads into p; it returns io.EOF at the end.
func (f *rawFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, f.err("read", err)
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// ReadAt reads len(p) bytes at off, or fewer and io.EOF at the end.
func (f *rawFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(f.fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, f.err("read", err)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// Sync is fsync(2).
func (f *rawFile) Sync() error {
	for {
		err := unix.Fsync(f.fd)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return f.err("sync", err)
		}
		return nil
	}
}

// Close closes the descriptor; a second Close returns os.ErrClosed.
func (f *rawFile) Close() error {
	if f.fd < 0 {
		return f.err("close", os.ErrClosed)
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return f.err("close", err)
	}
	return nil
}

// Name returns the path the file was opened with.
func (f *rawFile) Name() string { return f.name }

// Chmod is fchmod(2).
func (f *rawFile) Chmod(mode fs.FileMode) error {
	if err := unix.Fchmod(f.fd, unixMode(mode)); err != nil {
		return f.err("chmod", err)
	}
	return nil
}

// Chown is fchown(2).
func (f *rawFile) Chown(uid, gid int) error {
	if err := unix.Fchown(f.fd, uid, gid); err != nil {
		return f.err("chown", err)
	}
	return nil
}

// Fd returns the descriptor.
func (f *rawFile) Fd() uintptr { return uintptr(f.fd) }

// stat is fstat(2).
func (f *rawFile) stat() (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return nil, f.err("stat", err)
	}
	return &st, nil
}
