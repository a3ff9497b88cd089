package atomicfile

import (
	"io/fs"
	"os"
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

// OSFS is the operating system's filesystem.
type OSFS struct{}

// OpenFile calls os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Rename calls os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Link calls os.Link.
func (OSFS) Link(oldname, newname string) error { return os.Link(oldname, newname) }

// OpenDir opens a directory read-only.
func (OSFS) OpenDir(name string) (File, error) {
	f, err := os.Open(name)
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
