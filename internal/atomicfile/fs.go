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

// OpenDir opens a directory read-only.
func (OSFS) OpenDir(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}
