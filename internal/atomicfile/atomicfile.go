// Package atomicfile is the write path every writing lockfix command
// shares. It keeps the promises of CLI.md:
//
//   - atomic: a temp file in the same directory, written, fsynced, renamed
//     over the original, and the directory fsynced;
//   - verified: the caller's check of the new bytes must pass before the
//     rename (it runs while the temp file is written and fsynced);
//   - exclusive: an advisory flock(2) on the file, held from the read to the
//     end of the replace, waited on for at most Options.Wait;
//   - unchanged underneath: when another program replaced or rewrote the
//     file since it was read, nothing is written and ErrChanged is
//     returned; a read lease (lease.go) held from before the read, and a
//     second look after the rename that puts the original back, leave no
//     window between the check and the rename;
//   - faithful: mode and ownership are kept, and a symbolic link is followed
//     so that its target is replaced and the link stays a link;
//   - clean: temp files have unpredictable names, are created exclusively,
//     are locked while in use, and a stale one left by a killed run is
//     removed by the next Open of that lockfile;
//   - safe among strangers: only regular files are opened (a FIFO, device
//     or socket is refused before it is opened, and opened non-blocking in
//     case it was swapped in), and files over MaxSize are refused.
//
// # A failing directory fsync
//
// The directory fsync that makes the rename durable can only run after the
// rename, so when it fails the new content is already at the path. Replace
// therefore keeps the original under a second name until that fsync has
// succeeded: before the rename it hard-links the original to a temp name
// (".bun.lockb.lockfix-<random>.tmp", the same pattern as the new
// content's temp file), and when the directory fsync fails it renames that
// link back over the path, so the original inode, with its original bytes,
// is at the path again and the error is reported. When it succeeds the
// link is removed.
//
// The link is a directory entry, not a copy: it costs a link(2) and an
// unlink(2) and no extra fsync, so the durable write still costs two
// fsyncs (the temp file and the directory), as the bare
// write-fsync-rename-fsync sequence does. An extra directory fsync before
// the rename would also catch a failing directory early, but it adds a
// third journal commit to every write and still cannot cover a failure
// after the rename, which the link covers. It is used only as the
// fallback when the filesystem cannot make hard links (link(2) fails): then
// the directory is fsynced before the rename, so that a directory that
// cannot be synced aborts the write with the original in place.
//
// If the process dies between the link and its removal, the link is a
// stale temp file: it is either a second name of the lockfile itself (when
// the rename had not happened) or of the old content, and the next Open
// removes it in both cases. A crash after the rename but before the
// directory fsync leaves the old or the new name, as the filesystem
// journals the rename; both are complete, verified and fsynced files.
//
// Where the filesystem can exchange two names (renameat2
// RENAME_EXCHANGE), the rename is an exchange: the original keeps the temp
// file's name, no link is needed, and what was moved aside is checked to
// be the file read.
//
// Batches (many files, their syncs in flight together) use Prepare,
// Pending.Sync, Commit and Forget: Commit keeps the original's second
// name, and the batch removes it (Forget) once the directory fsync after
// its renames has succeeded. When that sync fails, the
// second name stays: the next Open of the lockfile removes it and says so
// (Handle.Stale), and the caller makes the file durable (Handle.Sync).
// With Options.Spares, Forget (and a durable commit, once its directory
// is synced) keeps the original instead, to be a later write's temp file
// (see Spares).
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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/trace"
)

// MaxSize is the largest file Open reads and Replace writes: 1 GiB.
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
	// ErrLinked is returned by a writing Open of a file with more than
	// one hard link, unless Options.Links.
	ErrLinked = errors.New("has more than one hard link")
)

// euid and egid are the process's effective user and group, read once:
// each call of os.Geteuid and os.Getegid is a system call, and lockfix
// never changes them.
var euid, egid = os.Geteuid(), os.Getegid()

// tempInfix marks lockfix's temp files: ".<base>.lockfix-<random>.tmp".
const (
	tempInfix  = ".lockfix-"
	tempSuffix = ".tmp"
	// maxTempBase is how much of the lockfile's name a temp name keeps,
	// so that the temp name stays under NAME_MAX (255).
	maxTempBase = 200
)

// IsTemp reports whether name (a base name) is a lockfix temp file.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix) && strings.HasSuffix(name, tempSuffix)
}

// tempPrefix is the start of the names of target's temp files.
func tempPrefix(target string) string {
	base := filepath.Base(target)
	if len(base) > maxTempBase {
		base = base[:maxTempBase]
	}
	return "." + base + tempInfix
}

// tempName returns a new unpredictable temp path next to target.
func tempName(target string) (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), tempPrefix(target)+hex.EncodeToString(rnd[:])+tempSuffix), nil
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
	// Links lets a writing Open take a lockfile that has more than one
	// hard link; replacing it breaks the link (the other names keep the
	// old content). Without it Open refuses such a file (ErrLinked).
	Links bool
	// Spares, when set, keeps the originals this handle replaces once
	// their replacement is durable (Forget, or Replace's directory
	// fsync), and gives them to the temp files of later writes (see
	// Spares). Only with the operating system's filesystem (FS nil).
	Spares *Spares

	// stream leaves the file unread and open: OpenStream and
	// OpenArriving read it.
	stream bool
}

// Handle is an open, locked lockfile.
type Handle struct {
	path   string // as given
	target string // symlinks resolved
	data   []byte
	info   os.FileInfo
	lock   File // holds the flock on the file now at target
	fsys   FS
	closed bool

	// ls is the state of the read lease lock may hold (lease.go).
	ls leaseState
	// stale is the number of this lockfile's temp files that Open
	// removed: left by a run that was killed or whose sync failed, so the
	// file's durability is not known.
	stale int
	// arriving is the read of OpenArriving, until Arrived has ended it.
	arriving *Stream
	// spares is Options.Spares (nil under another FS).
	spares *Spares
	// next is the lockfile a durable replace moves the original next to
	// (Next).
	next string
}

// Open resolves path's symlinks, refuses anything but a regular file,
// takes the lock and reads the file. Unless opts.ReadOnly, it then removes
// the temp files of this lockfile that killed runs left behind.
//
// When the file is replaced while Open waits for its lock, Open locks the
// new file instead: the lock is on the file that is at the path when Open
// returns.
func Open(path string, opts Options) (*Handle, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	deadline := time.Now().Add(max(opts.Wait, 0))
	for {
		// A path that is not a symlink is its own target (a symlinked
		// directory on the way leads to the same directory either way).
		st, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		target := path
		if st.Mode()&fs.ModeSymlink != 0 {
			if target, err = filepath.EvalSymlinks(path); err != nil {
				return nil, err
			}
			if st, err = os.Lstat(target); err != nil {
				return nil, err
			}
		}
		h, retry, err := open(path, target, st, opts, fsys, deadline)
		if !retry {
			return h, err
		}
	}
}

// open opens target, whose Lstat is st, for Open; it reports retry when
// the file was replaced while it waited for the lock.
func open(path, target string, st os.FileInfo, opts Options, fsys FS, deadline time.Time) (*Handle, bool, error) {
	if !st.Mode().IsRegular() {
		return nil, false, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, typeName(st.Mode()))
	}
	if !opts.ReadOnly && IsTemp(filepath.Base(target)) {
		return nil, false, fmt.Errorf("%s: a lockfix temp file, not a lockfile: it is not written to (the next write of its lockfile removes it)", path)
	}
	if st.Size() > MaxSize {
		return nil, false, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), MaxSize)
	}
	// O_NONBLOCK: should a FIFO be swapped in after the Lstat, the open
	// does not wait for a writer; the fstat below refuses it.
	f, err := openRaw(target, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|readNoAtime, 0)
	if err != nil {
		return nil, false, err
	}
	fst, err := f.stat()
	if err == nil && fst.Mode&unix.S_IFMT != unix.S_IFREG {
		err = fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, rawTypeName(fst.Mode))
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	info := st // the file's information, for the unchanged check
	leased, stale := false, 0
	if !sameInode(st, fst) {
		// Swapped since the Lstat: look again.
		f.Close()
		return nil, true, nil
	}
	if !opts.ReadOnly {
		span := trace.Start("file.lock")
		err := lockFile(f, deadline)
		span.End(path)
		if err != nil {
			f.Close()
			if errors.Is(err, ErrLocked) {
				return nil, false, fmt.Errorf("%s: %w (waited %s; use --wait to wait longer)", path, ErrLocked, max(opts.Wait, 0))
			}
			return nil, false, err
		}
		// The lease is taken before the stat and the read: whatever another
		// program writes after this point breaks it.
		leased = takeLease(f)
		// The file may have been replaced while we waited: lock what the
		// path names now.
		now, err := os.Stat(target)
		if err != nil || !sameInode(now, fst) {
			f.Close()
			return nil, err == nil, err
		}
		info = now // as of the lock: what the unchanged check compares
		stale = cleanStaleOf(target, info, fsys)
		if s, ok := info.Sys().(*syscall.Stat_t); ok && s.Nlink > 1 && !opts.Links {
			// The stale temp files just removed may have been its
			// other names: look again.
			if again, err := f.stat(); err == nil && again.Nlink > 1 {
				f.Close()
				return nil, false, fmt.Errorf("%s: %w (%d names): replacing it would give this name the new content and leave the others with the old; use --break-links to replace it anyway", path, ErrLinked, again.Nlink)
			}
			if info, err = os.Stat(target); err != nil {
				f.Close()
				return nil, false, err
			}
		}
	}
	if opts.stream {
		// OpenStream and OpenArriving read it.
		h := &Handle{path: path, target: target, info: info, lock: f, fsys: fsys, stale: stale, spares: sparesOf(opts)}
		if !opts.ReadOnly && leased {
			holdLease(h)
		}
		return h, false, nil
	}
	span := trace.Start("file.read")
	data, err := readAll(f, info.Size())
	if trace.Enabled() {
		span.End(fmt.Sprintf("%s %dB", path, len(data)))
	}
	if err == nil && len(data) > MaxSize {
		err = fmt.Errorf("%s: %w: the limit is %d bytes", path, ErrTooLarge, MaxSize)
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	h := &Handle{path: path, target: target, data: data, info: info, lock: f, fsys: fsys, stale: stale, spares: sparesOf(opts)}
	if opts.ReadOnly {
		f.Close()
		h.lock = nil
	} else if leased {
		holdLease(h)
	}
	return h, false, nil
}

// sparesOf returns the spares a writing handle uses: none under another
// filesystem layer, whose faults the spares' own system calls would
// bypass.
func sparesOf(opts Options) *Spares {
	if opts.ReadOnly || opts.FS != nil {
		return nil
	}
	return opts.Spares
}

// typeName names a file type for people.
func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// sameInode reports whether fi and st describe the same file.
func sameInode(fi os.FileInfo, st *unix.Stat_t) bool {
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(s.Dev) == uint64(st.Dev) && uint64(s.Ino) == uint64(st.Ino)
}

// rawTypeName names the type of a stat(2) mode for people.
func rawTypeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a device"
	case unix.S_IFDIR:
		return "a directory"
	}
	return fmt.Sprintf("type 0%o", mode&unix.S_IFMT)
}

// lockFile takes an exclusive flock, polling until deadline. When the
// first try finds the lock held and there is time left to wait, a
// file.lock.held trace line says so at once (the file.lock line comes
// when the lock is taken).
func lockFile(f File, deadline time.Time) error {
	pause := time.Millisecond
	for first := true; ; first = false {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EINTR) {
			continue // a signal, not another lockfix: try again at once
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return ErrLocked
		}
		if first {
			trace.Line("file.lock.held", 0, f.Name()+", waiting")
		}
		time.Sleep(min(pause, left))
		pause = min(pause*2, 25*time.Millisecond)
	}
}

// cleanStaleOf removes the temp files of target that no live process
// uses. It runs on every writing Open, also of a directory this process
// has cleaned before: another lockfix killed since then may have left a
// temp file, which the next Open removes (TestCrash relies on it). The caller holds the lock of locked, the file at target (nil when
// target is a new file and no lock is held). A temp file is
// in use while its writer holds a flock on it: a new content's temp file
// is locked from its creation, and the link to the original that Replace
// keeps during a rename is covered by the writer's lock on the original.
// A link to the file the caller holds locked is stale whatever its lock:
// its writer held this lock and has let it go.
func cleanStaleOf(target string, locked os.FileInfo, fsys FS) int {
	dir := filepath.Dir(target)
	names, err := readDirNames(dir)
	if err != nil {
		return 0
	}
	span := trace.Start("file.clean")
	prefix := tempPrefix(target)
	removed := 0
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, tempSuffix) {
			continue
		}
		p := filepath.Join(dir, name)
		f, err := openRaw(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		st, err := f.stat()
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && ownedAsLockfile(st, locked) {
			if locked != nil && sameInode(locked, st) || unix.Flock(f.fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
				if fsys.Remove(p) == nil {
					removed++
				}
			}
		}
		f.Close()
	}
	if removed > 0 {
		span.End(fmt.Sprintf("%s: removed %d stale temp files", target, removed))
	}
	return removed
}

// ownedAsLockfile reports whether a temp file belongs to the lockfile's
// owner or to the running user: lockfix's temp files do (they get the
// lockfile's owner, or are the running user's until then). Another
// user's file of a matching name is not lockfix's to remove.
func ownedAsLockfile(st *unix.Stat_t, locked os.FileInfo) bool {
	if int(st.Uid) == euid {
		return true
	}
	if locked == nil {
		return false
	}
	ls, ok := locked.Sys().(*syscall.Stat_t)
	return ok && ls.Uid == st.Uid
}

// readAll reads r to the end, at most MaxSize+1 bytes, into one buffer
// sized from the stat (as os.ReadFile does); it grows only when the file
// grew since. (bytes.Buffer's growth zeroes the whole buffer first, a
// fifth of the time of validating a large file.)
func readAll(r io.Reader, size int64) ([]byte, error) {
	if ra, ok := r.(io.ReaderAt); ok && size >= parallelReadMin && size <= MaxSize && runtime.GOMAXPROCS(0) > 1 {
		return readParallel(ra, size)
	}
	data := make([]byte, 0, min(size, MaxSize)+512)
	for {
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
		if len(data) > MaxSize {
			return data, nil
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// parallelReadMin is the size from which a file is read by several
// goroutines: copying a large file out of the page cache (and faulting in
// the fresh buffer) is work that scales with cores.
const parallelReadMin = 8 << 20

// readParallel reads the size bytes of a file in pieces at once, one per
// processor (at most 4), then reads on from size in case the file grew.
func readParallel(ra io.ReaderAt, size int64) ([]byte, error) {
	data := make([]byte, size, size+512)
	n := min(runtime.GOMAXPROCS(0), 4)
	piece := (size + int64(n) - 1) / int64(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		lo, hi := int64(i)*piece, min(int64(i+1)*piece, size)
		wg.Go(func() {
			got, err := ra.ReadAt(data[lo:hi], lo)
			if err == io.EOF && int64(got) < hi-lo {
				err = io.ErrUnexpectedEOF // the file shrank since the stat
			} else if err == io.EOF {
				err = nil
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return readOn(ra, data)
}

// readOn reads from len(data) to the end, in case the file grew since
// its stat, and stops past MaxSize. It appends to data.
func readOn(ra io.ReaderAt, data []byte) ([]byte, error) {
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		m, err := ra.ReadAt(data[len(data):cap(data)], int64(len(data)))
		data = data[:len(data)+m]
		if err == io.EOF || m == 0 && err == nil {
			return data, nil
		}
		if err != nil || len(data) > MaxSize {
			return data, err
		}
	}
}

// readDirNames returns the names in dir, unsorted.
func readDirNames(dir string) ([]string, error) {
	d, err := openDirRead(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var names []string
	buf := make([]byte, 8<<10)
	for {
		n, err := unix.ReadDirent(d.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, d.err("readdirent", err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// Data returns the bytes read by Open, or the bytes written by the last
// successful Replace or Commit. The caller must not modify them.
func (h *Handle) Data() []byte { return h.data }

// Path returns the path as given to Open.
func (h *Handle) Path() string { return h.path }

// Target returns the file replaced: the path itself, or where it leads
// when it is a symbolic link.
func (h *Handle) Target() string { return h.target }

// Info returns the information of the file at Open, or of the file
// written by the last successful Replace or Commit.
func (h *Handle) Info() os.FileInfo { return h.info }

// Leased reports whether the handle holds a read lease on the file it
// read (see lease.go): then another program's open of the file for
// writing is seen however briefly it lasts.
func (h *Handle) Leased() bool {
	held, broken := h.lease()
	return held && !broken
}

// Stale returns the number of this lockfile's temp files that Open
// removed. They are left by a run that was killed, or whose sync failed
// after its rename: the file's content is complete, but whether it is
// durable is not known, and the caller should Sync it.
func (h *Handle) Stale() int { return h.stale }

// Sync makes the file as it is durable: fsync of the file and of its
// directory. It is for a file whose durability is not known (Stale).
func (h *Handle) Sync() error {
	if h.lock == nil || h.closed {
		return fmt.Errorf("%s: not open for writing", h.path)
	}
	span := trace.Start("file.fsync")
	err := h.lock.Sync()
	span.End(h.path)
	if err != nil {
		return fmt.Errorf("%s: fsync: %w", h.path, err)
	}
	if err := SyncDir(h.fsys, filepath.Dir(h.target)); err != nil {
		return fmt.Errorf("%s: %w", h.path, err)
	}
	h.stale = 0
	return nil
}

// Close releases the lock. It is safe to call more than once.
func (h *Handle) Close() error {
	if h.arriving != nil {
		// Ends a read still going on before its descriptor is closed.
		h.arriving.Release()
		h.arriving = nil
	}
	if h.closed || h.lock == nil {
		h.closed = true
		return nil
	}
	h.closed = true
	// A spare placed next to this lockfile and not taken (the file was
	// not written) goes to whichever lockfile fits.
	h.spares.release(h)
	dropLease(h)
	return h.lock.Close()
}

// checkBufs are the buffers of checkUnchanged, which reads the whole file
// on every write.
var checkBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// checkUnchanged returns ErrChanged when the target is no longer the file
// that was read, or its bytes differ. The lock keeps other lockfix
// processes out; this catches every other program.
func (h *Handle) checkUnchanged() error {
	span := trace.Start("file.check")
	defer span.End(h.path)
	now, err := os.Stat(h.target)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w: another program removed it", h.path, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("%s: check that it is unchanged: %w", h.path, err) // an I/O error, not a change
	}
	if !os.SameFile(now, h.info) {
		return fmt.Errorf("%s: %w: another program replaced it", h.path, ErrChanged)
	}
	if now.Size() != h.info.Size() || !now.ModTime().Equal(h.info.ModTime()) {
		return fmt.Errorf("%s: %w: another program rewrote it (size %d -> %d, modified %s)", h.path, ErrChanged,
			h.info.Size(), now.Size(), now.ModTime().Format(time.RFC3339Nano))
	}
	// The same size and time can hide a rewrite within the clock's
	// granularity: compare the bytes, read through the locked descriptor
	// (the same file, as SameFile says) when it can be read at an offset.
	//
	// Comparing the ctime as well (which no program can set back) does
	// not make this read unnecessary. The kernel stamps a write with its
	// coarse clock, which moves once per tick (1 to 10 ms): a file
	// written within a tick of the stat taken at Open can be written again
	// in the same tick, same size, and every timestamp stays equal. Only a
	// ctime older than a tick at Open would rule that out, and a lockfile
	// that lockfix itself has just written (a second edit, a benchmark) is
	// exactly the recent case. A write through a shared mapping into a
	// page already dirty updates no timestamp at all. The read is a pread(2)
	// per 64 KiB of a file the page cache holds.
	//
	// A lease that no other program has broken since the read says no
	// process opened the file for writing since: the bytes are the ones
	// read.
	if held, broken := h.lease(); broken {
		return fmt.Errorf("%s: %w: %s", h.path, ErrChanged, leaseBrokenWhy)
	} else if held {
		return nil
	}
	return h.sameBytes()
}

// leaseBrokenWhy is the reason of ErrChanged for a broken lease.
const leaseBrokenWhy = "another program opened it for writing"

// sameBytes returns ErrChanged unless the file the handle holds (the
// original, through its locked descriptor) has the bytes read.
func (h *Handle) sameBytes() error {
	r, ok := h.lock.(io.ReaderAt)
	if !ok {
		f, err := os.Open(h.target)
		if err != nil {
			return fmt.Errorf("%s: %w: %v", h.path, ErrChanged, err)
		}
		defer f.Close()
		r = f
	}
	bp := checkBufs.Get().(*[]byte)
	defer checkBufs.Put(bp)
	buf := *bp
	// The sizes are equal: read exactly that many bytes.
	for off := 0; off < len(h.data); {
		n, err := r.ReadAt(buf[:min(len(buf), len(h.data)-off)], int64(off))
		if !bytes.Equal(buf[:n], h.data[off:off+n]) {
			return fmt.Errorf("%s: %w: another program rewrote it", h.path, ErrChanged)
		}
		off += n
		if err == io.EOF && off < len(h.data) || n == 0 && err == nil {
			return fmt.Errorf("%s: %w: another program cut it short", h.path, ErrChanged)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: read it again to check that it is unchanged: %w", h.path, err)
		}
	}
	return nil
}

// Replace verifies data, checks that the file is unchanged since Open and
// replaces it atomically and durably: temp file, write, fsync, rename,
// directory fsync. On any error the original file is left as it was (its
// bytes, at its path) and no temp file remains; the one exception is named
// in the error: when the directory fsync fails and the original cannot be
// renamed back either, the path holds the new, verified and fsynced
// content.
//
// After a successful Replace the handle holds the lock of the new file,
// and Data and Info describe it, so Replace can be called again. data must
// not be modified afterwards.
func (h *Handle) Replace(data []byte, verify func([]byte) error) error {
	p, err := h.Prepare(data, verify, true)
	if err != nil {
		return err
	}
	return p.commit(true)
}

// Pending is a temp file written and ready to be renamed over its
// lockfile.
type Pending struct {
	h    *Handle
	tmp  File
	name string // the temp file's name; the target's once renamed
	data []byte
	old  string      // the original's second name that a batch Commit kept
	orig os.FileInfo // the original, while old names it
	// from is the directory a spare was moved out of to be the temp file
	// ("" for a new temp file): Sync syncs it too. spareSize is the
	// spare's size before it was written over.
	from      string
	spareSize int64
	// pieces: the content was written in pieces (data is nil).
	pieces *Pieces
}

// Prepare verifies data and writes it to a new temp file next to the
// target with the original's mode and ownership; with sync the check
// runs while the file is written and fsynced, without it the check runs
// first; when it fails no temp file remains and the error wraps
// ErrVerify. With sync, the temp file is fsynced; without, the caller
// fsyncs it (Pending.Sync, a batch's many at once) before Commit. The
// temp file stays locked until Commit or Abort.
func (h *Handle) Prepare(data []byte, verify func([]byte) error, sync bool) (*Pending, error) {
	if err := h.writable(); err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %w: the new content is %d bytes, the limit is %d", h.path, ErrTooLarge, len(data), MaxSize)
	}
	// The check of the new bytes runs while they are written and
	// fsynced: it is CPU work, the fsync waits on the disk, and only the
	// rename has to wait for both.
	// Without sync there is no fsync to overlap with (the write goes to
	// the page cache in microseconds), so the check runs first, in the
	// caller's goroutine: a batch's workers are the parallelism, and a
	// goroutine per file would only add scheduling.
	if !sync && verify != nil {
		span := trace.Start("file.verify")
		err := verify(data)
		span.End(h.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", h.path, ErrVerify, err)
		}
		verify = nil
	}
	verified := make(chan error, 1)
	if verify != nil {
		go func() {
			span := trace.Start("file.verify")
			err := verify(data)
			span.End(h.path)
			verified <- err
		}()
	} else {
		verified <- nil
	}
	p, err := h.writeTemp(data, sync)
	if verr := <-verified; verr != nil {
		if p != nil {
			p.Abort()
		}
		return nil, fmt.Errorf("%s: %w: %w", h.path, ErrVerify, verr)
	}
	return p, err
}

// writable returns why the handle cannot write, or nil.
func (h *Handle) writable() error {
	switch {
	case h.closed:
		return fmt.Errorf("%s: handle already closed", h.path)
	case h.lock == nil:
		return fmt.Errorf("%s: opened read-only", h.path)
	case h.arriving != nil:
		return fmt.Errorf("%s: still being read (call Arrived first)", h.path)
	}
	return nil
}

// writeTemp writes data to a new temp file next to the target, with the
// original's owner and mode, fsynced when sync is set, and locked.
func (h *Handle) writeTemp(data []byte, sync bool) (*Pending, error) {
	// A spare's move out of its old directory is synced with the temp
	// file, by Pending.Sync (here with sync, else by the caller) or by the
	// batch's syncfs.
	p, fail, err := h.createTemp(data, true)
	if err != nil {
		return nil, err
	}
	span := trace.Start("file.write")
	_, err = p.tmp.Write(data)
	if trace.Enabled() {
		span.End(fmt.Sprintf("%s %dB", h.path, len(data)))
	}
	if err != nil {
		return fail("write", err)
	}
	if p.spareSize > int64(len(data)) {
		// A spare longer than the new content: cut its old tail.
		if err := unix.Ftruncate(int(p.tmp.Fd()), int64(len(data))); err != nil {
			return fail("truncate", err)
		}
	}
	if op, err := p.keepAttributes(); err != nil {
		return fail(op, err)
	}
	if sync {
		if err := p.Sync(); err != nil {
			p.Abort()
			return nil, err
		}
	}
	return p, nil
}

// keepAttributes gives the temp file the original's owner, mode and
// extended attributes; on an error it returns the operation that failed.
func (p *Pending) keepAttributes() (string, error) {
	if op, err := keepOwnerAndMode(p.tmp, p.h.info); err != nil {
		return op, err
	}
	return copyXattrs(p.h.lock, p.tmp)
}

// createTemp creates and locks a new temp file next to the target, for
// data (nil when it is written in pieces); with spare, it takes one of
// the handle's spares instead where one fits. fail aborts it and returns
// the error of an operation on it.
func (h *Handle) createTemp(data []byte, spare bool) (*Pending, func(op string, err error) (*Pending, error), error) {
	name, err := tempName(h.target)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: temp name: %w", h.path, err)
	}
	p := &Pending{h: h, name: name, data: data}
	fail := func(op string, err error) (*Pending, error) {
		p.Abort()
		return nil, fmt.Errorf("%s: %s temp file %s: %w", h.path, op, filepath.Base(name), err)
	}
	if spare {
		if f, at, from, size := h.spares.take(h, name, int64(len(data))); f != nil {
			p.tmp, p.name, p.from, p.spareSize = f, at, from, size
			return p, fail, nil // locked since it was kept
		}
	}
	// Until it has the original's owner, the temp file is readable by its
	// creator only. When the creator is the owner, it gets the original's
	// permission bits at once (less the umask, which the chmod below puts
	// back): in the common case no chmod is needed.
	perm := fs.FileMode(0o600)
	if st, ok := h.info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == euid && int(st.Gid) == egid {
		perm = h.info.Mode().Perm()
	}
	span := trace.Start("file.create")
	f, err := h.fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
	span.End(h.path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: create temp file: %w", h.path, err)
	}
	p.tmp = f
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_, err := fail("lock", err)
		return nil, nil, err
	}
	return p, fail, nil
}

// keepOwnerAndMode gives f the owner, group and mode of the original
// where they differ from what the new file got (the process's owner, the
// process's or the directory's group, the umask). On an error it returns
// the operation that failed.
func keepOwnerAndMode(f File, orig os.FileInfo) (string, error) {
	mode := orig.Mode().Perm() | orig.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	want, ok := orig.Sys().(*syscall.Stat_t)
	if !ok {
		return "keep the mode on", f.Chmod(mode)
	}
	var got unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &got); err != nil {
		return "stat", err
	}
	chowned := false
	if got.Uid != want.Uid || got.Gid != want.Gid {
		if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
			return "keep the owner on", err
		}
		chowned = true // which may clear the setuid and setgid bits
	}
	if chowned || got.Mode&0o7777 != want.Mode&0o7777 {
		if err := f.Chmod(mode); err != nil {
			return "keep the mode on", err
		}
	}
	return "", nil
}

// Sync fsyncs the temp file: a batch syncs its temp files together, then
// commits them.
func (p *Pending) Sync() error {
	if p.tmp == nil {
		return fmt.Errorf("%s: temp file already committed or aborted", p.h.path)
	}
	// A spare: its old directory must no longer name it once the rename
	// over the lockfile is durable. That fsync and the temp file's are
	// independent, so they wait for the disk together, not one after
	// the other.
	var dirErr chan error
	if p.from != "" {
		dirErr = make(chan error, 1)
		go func() { dirErr <- SyncDir(p.h.fsys, p.from) }()
	}
	span := trace.Start("file.fsync")
	err := p.tmp.Sync()
	span.End(p.h.path)
	if dirErr != nil {
		if derr := <-dirErr; derr != nil && err == nil {
			return fmt.Errorf("%s: temp file %s, moved from %s: %w", p.h.path, filepath.Base(p.name), p.from, derr)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: fsync temp file %s: %w", p.h.path, filepath.Base(p.name), err)
	}
	return nil
}

// Name returns the temp file's path.
func (p *Pending) Name() string { return p.name }

// Commit checks that the lockfile is unchanged since Open and renames the
// temp file over it. It does not sync the directory; Replace does, and a
// batch fsyncs each directory once after all its commits. After a
// successful Commit the handle holds the lock of the new file.
func (p *Pending) Commit() error { return p.commit(false) }

// commit is Commit; durable adds the directory fsync, with the original
// kept under a second name until it succeeds (see the package comment).
//
// The rename is followed by a second look (after): should another program
// have written the original since the read (its lease broken, or without
// a lease its bytes changed), or replaced it by a rename in the moment
// before, the original is put back at the path and ErrChanged returned:
// the other program's change is kept, never overwritten.
func (p *Pending) commit(durable bool) error {
	h := p.h
	if p.tmp == nil {
		return fmt.Errorf("%s: temp file already committed or aborted", h.path)
	}
	h.holdBreaks(true)
	defer h.holdBreaks(false)
	if err := h.checkUnchanged(); err != nil {
		p.Abort()
		return err
	}
	orig := h.info
	dir := filepath.Dir(h.target)
	old, err := p.swap(durable)
	if err != nil {
		p.Abort()
		return err
	}
	next := ""
	if durable && old != "" {
		// Moved next to the lockfile that comes next before the fsync,
		// which covers its leaving (see Spares). From here on the
		// original's second name is there; putting it back and removing
		// it work the same from there.
		if at := h.spares.place(old, h.next); at != "" {
			old, next = at, h.next
		}
	}
	if durable {
		if err := SyncDir(h.fsys, dir); err != nil {
			return p.putBack(old, err)
		}
	}
	// The second look comes after the directory fsync, which takes a
	// while: a writer whose open looked up the path before the rename and
	// was held up (preempted) on its way to the lease check reaches it in
	// that time, breaks the lease, and its change is kept.
	if err := h.after(); err != nil {
		return p.putBack(old, err)
	}
	// The handle moves to the new file first, so that removing the old
	// name frees the original at once instead of leaving it an open
	// orphan.
	p.done()
	if old != "" {
		if durable {
			// Not synced: should it come back after a crash, it is a stale
			// temp file that the next Open removes.
			if !h.spares.keep(old, orig, next) {
				h.fsys.Remove(old)
			}
		} else {
			// A batch removes it once its sync has made the rename
			// durable (Forget): until then it marks the lockfile as not
			// known durable for the next run.
			p.old, p.orig = old, orig
		}
	}
	return nil
}

// Next names the lockfile that the caller replaces after this one. A
// durable Replace through spares (Options.Spares) then moves the
// original next to it before the directory's fsync, so that one fsync
// covers both the rename and the original's leaving, and the replace of
// next finds its temp file in place (see Spares). Until then no other
// lockfile takes that spare; should next be closed without being
// written (skipped, refused), it goes to whichever lockfile fits, as any
// spare does, and Spares.Close removes it if none does.
func (h *Handle) Next(next string) { h.next = next }

// Forget removes the original's second name that a batch Commit kept, or
// keeps the original as a spare (Options.Spares); the batch calls it once
// the sync after its renames succeeded. Without it the
// name stays, a stale temp file that tells the next Open that the file's
// durability is not known (Handle.Stale).
func (p *Pending) Forget() {
	if p.old != "" {
		if !p.h.spares.keep(p.old, p.orig, "") {
			p.h.fsys.Remove(p.old)
		}
		p.old, p.orig = "", nil
	}
}

// swap puts the new content at the target and returns the name that now
// holds the original, "" when no second name could be kept. It exchanges
// the two names atomically where the filesystem can (renameat2
// RENAME_EXCHANGE), and checks that what it moved aside is the original:
// a file another program renamed into place in the moment before is put
// back and ErrChanged returned. Elsewhere it hard-links the original to a
// temp name and renames the new content over the path; without hard
// links, a durable swap syncs the directory first, so that one that cannot
// be synced stops the write while the original is in place.
func (p *Pending) swap(durable bool) (string, error) {
	h := p.h
	if x, ok := h.fsys.(Exchanger); ok {
		span := trace.Start("file.rename") // an exchange
		err := x.Exchange(p.name, h.target)
		span.End(h.path)
		switch {
		case err == nil:
			old := p.name
			st, err := os.Lstat(old)
			if err != nil || !os.SameFile(st, h.info) {
				// Not the file read: put it back.
				if x.Exchange(p.name, h.target) != nil {
					p.name = "" // holds the other program's file: Abort keeps it
					return "", fmt.Errorf("%s: %w: another program replaced it, and putting its file back failed: the path holds lockfix's new content, the other program's file is at %s", h.path, ErrChanged, old)
				}
				return "", fmt.Errorf("%s: %w: another program replaced it", h.path, ErrChanged)
			}
			// The name p.name now holds the original; the temp file is at
			// the target.
			p.name = h.target
			return old, nil
		case !noExchange(err):
			return "", fmt.Errorf("%s: rename temp file %s over it: %w", h.path, filepath.Base(p.name), err)
		}
		// No RENAME_EXCHANGE here: link and rename.
	}
	old, err := h.keepOriginal()
	switch {
	case errors.Is(err, ErrChanged):
		return "", err
	case err != nil:
		old = ""
		if durable {
			if err := SyncDir(h.fsys, filepath.Dir(h.target)); err != nil {
				return "", fmt.Errorf("%s: %w", h.path, err)
			}
		}
	}
	span := trace.Start("file.rename")
	err = h.fsys.Rename(p.name, h.target)
	span.End(h.path)
	if err != nil {
		if old != "" {
			h.fsys.Remove(old)
		}
		return "", fmt.Errorf("%s: rename temp file %s over it: %w", h.path, filepath.Base(p.name), err)
	}
	p.name = h.target
	return old, nil
}

// noExchange reports whether err says the filesystem cannot exchange.
func noExchange(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP)
}

// after is the second look, once the new content is at the path: it
// returns ErrChanged when another program wrote the original since the
// read. With a lease, a break at any moment until now says so (a writer
// whose open waits on the lease writes only after lockfix lets it go,
// into whatever file is at the path then); without one, the original's
// size, time and bytes are compared again through the descriptor still
// open on it, and the original must not be open for writing in another
// process (which could still write it once lockfix has let it go).
func (h *Handle) after() error {
	span := trace.Start("file.recheck")
	how := " (no lease: the bytes compared)"
	defer func() { span.End(h.path + how) }()
	held, broken := h.lease()
	if held {
		how = " (lease)"
	}
	if broken {
		return fmt.Errorf("%s: %w: %s while lockfix replaced it", h.path, ErrChanged, leaseBrokenWhy)
	} else if held {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(h.lock.Fd()), &st); err != nil {
		return fmt.Errorf("%s: stat it again to check that it is unchanged: %w", h.path, err)
	}
	if st.Size != h.info.Size() || !time.Unix(st.Mtim.Unix()).Equal(h.info.ModTime()) {
		return fmt.Errorf("%s: %w: another program rewrote it while lockfix replaced it", h.path, ErrChanged)
	}
	if err := h.sameBytes(); err != nil {
		return err
	}
	if openForWriting(h.lock) {
		return fmt.Errorf("%s: %w: another program has it open for writing", h.path, ErrChanged)
	}
	return nil
}

// keepOriginal hard-links the file at the target to a new temp name and
// returns that name. It returns ErrChanged when what it linked is not the
// file that was read (another program replaced it since the check).
func (h *Handle) keepOriginal() (string, error) {
	name, err := tempName(h.target)
	if err != nil {
		return "", err
	}
	span := trace.Start("file.link")
	err = link(h.fsys, h.target, name)
	span.End(h.path)
	if err != nil {
		return "", err
	}
	st, err := os.Lstat(name)
	if err != nil || !os.SameFile(st, h.info) {
		h.fsys.Remove(name)
		return "", fmt.Errorf("%s: %w: another program replaced it", h.path, ErrChanged)
	}
	return name, nil
}

// putBack undoes a rename whose second look or directory fsync failed:
// the original goes back to the path from its second name old (by an
// exchange where it was exchanged, else by a rename), and the new content
// is dropped.
func (p *Pending) putBack(old string, cause error) error {
	h := p.h
	if old == "" {
		p.done()
		if errors.Is(cause, ErrChanged) {
			return fmt.Errorf("%w; lockfix's new content is in place and the other program's change is lost (this filesystem keeps no second name of the original)", cause)
		}
		return fmt.Errorf("%s: %w; %w (this filesystem keeps no link to the original)", h.path, cause, ErrNotDurable)
	}
	changed := errors.Is(cause, ErrChanged)
	if changed && !p.untouched() {
		return p.keepTheirs(old, cause)
	}
	var err error
	exchanged := false
	if x, ok := h.fsys.(Exchanger); ok {
		err = x.Exchange(old, h.target)
		exchanged = err == nil || !noExchange(err)
		if err == nil && changed && !p.untouched() {
			// Written in the moment of the exchange back: that write is
			// the other program's last; bring it back to the path.
			if x.Exchange(old, h.target) == nil {
				return p.keepTheirs(old, cause)
			}
		}
	}
	if !exchanged {
		err = h.fsys.Rename(old, h.target)
	}
	if err != nil {
		h.fsys.Remove(old)
		p.done()
		return fmt.Errorf("%s: %w; putting the original back failed too (%v): the file holds the new, verified content: %w", h.path, cause, err, ErrNotDurable)
	}
	if exchanged {
		h.fsys.Remove(old) // the new content's name now
	}

	// Best effort: the directory could not be synced a moment ago.
	SyncDir(h.fsys, filepath.Dir(h.target))
	// The new content's file has no name left; closing it drops it.
	p.tmp.Close()
	p.tmp = nil
	if errors.Is(cause, ErrChanged) {
		return fmt.Errorf("%w; the original was put back with the other program's change, nothing was written", cause)
	}
	return fmt.Errorf("%s: %w; the original was put back unchanged", h.path, cause)
}

// untouched reports whether the new content's file still holds exactly
// the bytes lockfix wrote: another program that opened the path after the
// rename writes into it.
func (p *Pending) untouched() bool {
	if p.pieces != nil {
		return p.pieces.untouched()
	}
	var st unix.Stat_t
	if unix.Fstat(int(p.tmp.Fd()), &st) != nil || st.Size != int64(len(p.data)) {
		return false
	}
	buf := make([]byte, 64<<10)
	for off := 0; off < len(p.data); {
		n, err := unix.Pread(int(p.tmp.Fd()), buf[:min(len(buf), len(p.data)-off)], int64(off))
		if err != nil || n <= 0 || !bytes.Equal(buf[:n], p.data[off:off+n]) {
			return false
		}
		off += n
	}
	return true
}

// keepTheirs ends a replace whose second look found another program's
// change when that program has also written the new file since the
// rename: its last write is the file at the path, so that file stays, and
// the original (with the earlier change) is dropped.
func (p *Pending) keepTheirs(old string, cause error) error {
	h := p.h
	p.done()
	h.data = nil // not lockfix's bytes
	h.fsys.Remove(old)
	SyncDir(h.fsys, filepath.Dir(h.target))
	return fmt.Errorf("%w; it also wrote the file after lockfix's rename, and that last write is in place", cause)
}

// done moves the handle to the new file: its lock (the temp file's flock,
// now on the file at the target), its data and its information.
func (p *Pending) done() {
	h := p.h
	old := h.lock
	h.lock, p.tmp = p.tmp, nil
	h.data = p.data
	if st, err := os.Stat(h.target); err == nil {
		h.info = st
	}
	dropLease(h)
	if old != nil {
		old.Close()
	}
}

// Abort removes the temp file. It is safe to call more than once.
func (p *Pending) Abort() {
	if p.tmp == nil {
		return
	}
	if p.name != "" {
		p.h.fsys.Remove(p.name)
	}
	p.tmp.Close()
	p.tmp = nil
}

// SyncDir fsyncs a directory, making renames in it durable.
func SyncDir(fsys FS, dir string) error {
	if fsys == nil {
		fsys = OSFS{}
	}
	span := trace.Start("dir.fsync")
	defer span.End(dir)
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
