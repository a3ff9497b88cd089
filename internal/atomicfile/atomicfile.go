// Package atomicfile is the write path every writing lockfix command
// shares. It keeps the promises of CLI.md:
//
//   - atomic: a temp file in the same directory, written, fsynced, renamed
//     over the original, and the directory fsynced;
//   - verified: the caller's check runs on the new bytes before the rename;
//   - exclusive: an advisory flock(2) on the file, held from the read to the
//     rename, waited on for at most Options.Wait;
//   - unchanged underneath: when another program replaced or rewrote the
//     file since it was read, nothing is written and ErrChanged is returned;
//   - faithful: mode and ownership are kept, and a symbolic link is followed
//     so that its target is replaced and the link stays a link;
//   - clean: temp files have unpredictable names, are created exclusively,
//     are locked while in use, and a stale one left by a killed run is
//     removed by the next Open in that directory.
package atomicfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxSize is the largest file Open reads.
const MaxSize = 1 << 30

// Errors callers branch on.
var (
	// ErrLocked is returned when another process holds the file's lock
	// past Options.Wait.
	ErrLocked = errors.New("locked by another lockfix process")
	// ErrChanged is returned when the file changed on disk since it was
	// read.
	ErrChanged = errors.New("changed on disk since it was read")
	// ErrNotRegular is returned for a FIFO, device, socket or directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is returned for a file over MaxSize.
	ErrTooLarge = errors.New("file too large")
	// ErrVerify wraps the verify function's error: the new bytes were
	// refused and nothing was written.
	ErrVerify = errors.New("new content failed verification")
)

// tempInfix marks lockfix's temp files: ".<base>.lockfix-<random>.tmp".
const (
	tempInfix  = ".lockfix-"
	tempSuffix = ".tmp"
)

// IsTemp reports whether name (a base name) is a lockfix temp file.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix) && strings.HasSuffix(name, tempSuffix)
}

// Options tune Open.
type Options struct {
	// Wait is how long to wait for another process's lock; 0 fails at once
	// with ErrLocked.
	Wait time.Duration
	// FS is the filesystem layer; nil means the operating system.
	FS FS
	// ReadOnly takes no lock: the handle can only be read.
	ReadOnly bool
}

// Handle is an open, locked lockfile.
type Handle struct {
	path   string // as given
	target string // symlinks resolved
	data   []byte
	info   os.FileInfo
	lock   *os.File
	fsys   FS
	closed bool
}

// Open resolves path's symlinks, refuses anything but a regular file,
// takes the lock and reads the file.
func Open(path string, opts Options) (*Handle, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(opts.Wait)
	for {
		h, retry, err := open(path, target, opts, fsys, deadline)
		if !retry {
			return h, err
		}
	}
}

func open(path, target string, opts Options, fsys FS, deadline time.Time) (*Handle, bool, error) {
	st, err := os.Lstat(target)
	if err != nil {
		return nil, false, err
	}
	if !st.Mode().IsRegular() {
		return nil, false, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, st.Mode().Type())
	}
	f, err := os.OpenFile(target, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, false, err
	}
	fst, err := f.Stat()
	if err != nil || !fst.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: %w", path, ErrNotRegular)
		}
		return nil, false, err
	}
	if !opts.ReadOnly {
		if err := lockFile(f, deadline); err != nil {
			f.Close()
			if errors.Is(err, ErrLocked) {
				return nil, false, fmt.Errorf("%s: %w (waited %s; use --wait to wait longer)", path, ErrLocked, opts.Wait)
			}
			return nil, false, err
		}
		// The file may have been replaced while we waited: lock what the
		// path names now.
		now, err := os.Stat(target)
		if err != nil || !os.SameFile(now, fst) {
			f.Close()
			return nil, err == nil, err
		}
		cleanStale(filepath.Dir(target), filepath.Base(target), fsys)
	}
	if fst.Size() > MaxSize {
		f.Close()
		return nil, false, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, fst.Size(), MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		f.Close()
		return nil, false, err
	}
	h := &Handle{path: path, target: target, data: data, info: fst, lock: f, fsys: fsys}
	if opts.ReadOnly {
		f.Close()
		h.lock = nil
	}
	return h, false, nil
}

// lockFile takes an exclusive flock, polling until deadline.
func lockFile(f *os.File, deadline time.Time) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanStale removes temp files of base in dir that no live process holds.
func cleanStale(dir, base string, fsys FS) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + tempInfix
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, tempSuffix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			fsys.Remove(p)
		}
		f.Close()
	}
}

// Data returns the bytes read by Open. The caller must not modify them.
func (h *Handle) Data() []byte { return h.data }

// Path returns the path as given to Open.
func (h *Handle) Path() string { return h.path }

// Target returns the path with symlinks resolved: the file replaced.
func (h *Handle) Target() string { return h.target }

// Info returns the file's information at Open.
func (h *Handle) Info() os.FileInfo { return h.info }

// Close releases the lock. It is safe to call more than once.
func (h *Handle) Close() error {
	if h.closed || h.lock == nil {
		h.closed = true
		return nil
	}
	h.closed = true
	return h.lock.Close()
}

// checkUnchanged returns ErrChanged when the target is no longer the file
// that was read, or its bytes differ.
func (h *Handle) checkUnchanged() error {
	now, err := os.Stat(h.target)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", h.path, ErrChanged, err)
	}
	if !os.SameFile(now, h.info) || now.Size() != h.info.Size() || !now.ModTime().Equal(h.info.ModTime()) {
		return fmt.Errorf("%s: %w", h.path, ErrChanged)
	}
	cur, err := os.ReadFile(h.target)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, h.data) {
		return fmt.Errorf("%s: %w", h.path, ErrChanged)
	}
	return nil
}

// Replace verifies data, checks that the file is unchanged since Open and
// replaces it atomically and durably. On any error the original file is
// left as it was and no temp file remains.
func (h *Handle) Replace(data []byte, verify func([]byte) error) error {
	p, err := h.Prepare(data, verify, true)
	if err != nil {
		return err
	}
	if err := p.Commit(); err != nil {
		return err
	}
	return SyncDir(h.fsys, filepath.Dir(h.target))
}

// Pending is a temp file written and ready to be renamed over its
// lockfile.
type Pending struct {
	h    *Handle
	tmp  File
	name string
}

// Prepare verifies data and writes it to a new temp file next to the
// target with the original's mode and ownership. With sync, the temp file
// is fsynced; without, the caller makes it durable some other way (a
// filesystem sync) before Commit. The temp file stays locked until Commit
// or Abort.
func (h *Handle) Prepare(data []byte, verify func([]byte) error, sync bool) (*Pending, error) {
	if h.lock == nil {
		return nil, fmt.Errorf("%s: opened read-only", h.path)
	}
	if verify != nil {
		if err := verify(data); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", h.path, ErrVerify, err)
		}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	dir := filepath.Dir(h.target)
	name := filepath.Join(dir, "."+filepath.Base(h.target)+tempInfix+hex.EncodeToString(rnd[:])+tempSuffix)
	f, err := h.fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	p := &Pending{h: h, tmp: f, name: name}
	fail := func(op string, err error) (*Pending, error) {
		p.Abort()
		return nil, fmt.Errorf("%s %s: %w", op, name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail("lock", err)
	}
	if _, err := f.Write(data); err != nil {
		return fail("write", err)
	}
	if st, ok := h.info.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fail("keep ownership of", err)
		}
	}
	if err := f.Chmod(h.info.Mode().Perm() | h.info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fail("keep mode of", err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail("fsync", err)
		}
	}
	return p, nil
}

// Name returns the temp file's path.
func (p *Pending) Name() string { return p.name }

// Commit checks that the lockfile is unchanged since Open and renames the
// temp file over it. It does not sync the directory; Replace does, and a
// batch syncs the filesystem once after all its commits.
func (p *Pending) Commit() error {
	if err := p.h.checkUnchanged(); err != nil {
		p.Abort()
		return err
	}
	if err := p.h.fsys.Rename(p.name, p.h.target); err != nil {
		p.Abort()
		return fmt.Errorf("rename %s: %w", p.name, err)
	}
	err := p.tmp.Close()
	p.tmp = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", p.name, err)
	}
	return nil
}

// Abort removes the temp file. It is safe to call more than once.
func (p *Pending) Abort() {
	if p.tmp == nil {
		return
	}
	p.h.fsys.Remove(p.name)
	p.tmp.Close()
	p.tmp = nil
}

// SyncDir fsyncs a directory, making renames in it durable.
func SyncDir(fsys FS, dir string) error {
	if fsys == nil {
		fsys = OSFS{}
	}
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return d.Close()
}

// SyncFS flushes the whole filesystem holding path (syncfs(2)): one call
// makes every file written in a batch durable.
func SyncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", path, err)
	}
	return nil
}
