package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/trace"
)

// Spares are the originals of the lockfiles a run replaced, kept once
// their replacement is durable to become the temp files of later
// replaces in the same run, instead of being removed.
//
// Every replace frees the original's inode and allocates one for the
// temp file. On ext4 without a journal, each allocation skips, one by
// one, every inode of its block group freed in the last minute (the
// filesystem's guard against reusing an inode whose freeing has not
// reached the disk), so a run over thousands of files spends most of its
// time in that scan. A spare is neither freed nor allocated: it is
// renamed next to the next lockfile, truncated and written.
//
// An original becomes a spare only when nothing else can see it change:
//   - its replacement is durable (Forget, after the batch's sync, or a
//     durable commit, after its directory fsync);
//   - it is still the original (same device and inode) and its only name
//     is lockfix's temp name (one link);
//   - lockfix holds its flock, and a write lease was granted on it, which
//     the kernel does only when no other process has it open or mapped: a
//     program still reading the old content keeps reading it, as it
//     would after a plain unlink (asked again before it is written over:
//     one that opened it by its temp name since is not rewritten);
//   - it carries no extended attributes (ACLs, security labels).
//
// A spare is given to a temp file only when the lockfile it replaces has
// the same owner, group, mode and inode flags (chattr), on the same
// filesystem, so the new file looks as a new temp file would. Whatever
// syncs the temp file also syncs the spare's move out of its old
// directory (writeTemp and Pending.Sync fsync that directory after the
// file; a batch's syncfs covers both), before the rename over the
// lockfile, so that no crash can leave the old directory naming the
// inode the new lockfile is (TestStraceSpares).
//
// A durable Replace told which lockfile comes next (Handle.Next) moves
// the original next to that lockfile, under one of its temp names,
// before its own directory's fsync, which then covers the move: when that
// lockfile is replaced, the spare waiting for it is already in place and
// its temp file needs no fsync of another directory. No other lockfile
// takes it until that lockfile's handle is closed. Nothing is written
// to it before that fsync has returned (it becomes a spare only after),
// so a crash before it leaves at worst a second, stale temp name of the
// unchanged original.
//
// A spare stays a lockfix temp file of the lockfile it was, or of the
// one it was placed next to: a crash leaves it stale, and the next Open
// of that lockfile removes it.
type Spares struct {
	mu   sync.Mutex
	free []*spare // for any lockfile that fits
	// kept are the spares placed next to a lockfile (place), by the path
	// given to Handle.Next, for that lockfile alone until its handle is
	// closed (release).
	kept map[string]*spare
	max  int // of free and kept together
}

// spare is one original kept: open, locked, at name.
type spare struct {
	f     *rawFile
	name  string
	dev   uint64
	uid   uint32
	gid   uint32
	mode  uint32
	flags int   // FS_IOC_GETFLAGS; -1 where the filesystem has none
	size  int64 // its bytes, which the new content overwrites
}

// NewSpares returns a pool that keeps at most max spares (each holds a
// descriptor).
func NewSpares(max int) *Spares { return &Spares{max: max} }

// Len returns the number of spares kept.
func (s *Spares) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.len()
}

// len is Len with the pool's lock held.
func (s *Spares) len() int { return len(s.free) + len(s.kept) }

// Close removes the spares left. A nil pool has none.
func (s *Spares) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	free := s.free
	for _, sp := range s.kept {
		free = append(free, sp)
	}
	s.free, s.kept = nil, nil
	s.mu.Unlock()
	for _, sp := range free {
		sp.drop()
	}
}

// drop removes the spare, as Forget would have removed the original.
func (sp *spare) drop() {
	os.Remove(sp.name)
	sp.f.Close()
}

// placedFor returns the spare placed next to the lockfile h holds and
// its key in kept, nil when there is none. The key is the path the
// caller gave Next, which may be h's path (reaching it through a
// symlinked directory) or its target; either way the spare is in the
// lockfile's directory (place takes only a regular file). The pool's
// lock is held.
func (s *Spares) placedFor(h *Handle) (string, *spare) {
	for _, key := range []string{h.path, h.target} {
		if sp := s.kept[key]; sp != nil {
			return key, sp
		}
	}
	return "", nil
}

// release lets any lockfile take the spare placed next to the lockfile h
// holds (its handle is closed: a spare it did not take is no longer its
// own).
func (s *Spares) release(h *Handle) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key, sp := s.placedFor(h); sp != nil {
		delete(s.kept, key)
		s.free = append(s.free, sp)
	}
}

// place moves the original at old next to the lockfile next, under one
// of next's temp names, and returns that name; "" when there is no room
// for a spare, next is not a regular file (a symlink's directory is not
// its target's) or the move fails (the original is still at old). The
// caller syncs old's directory before the original is kept (keep, with
// next) and written over.
func (s *Spares) place(old, next string) string {
	if s == nil || leaseOff || next == "" || s.Len() >= s.max {
		return ""
	}
	if st, err := os.Lstat(next); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	name, err := tempName(next)
	if err != nil {
		return ""
	}
	span := trace.Start("file.place")
	err = unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, name, unix.RENAME_NOREPLACE)
	span.End(next)
	if err != nil {
		return ""
	}
	return name
}

// keep makes the original orig, now at name, a spare, or reports false
// (the caller then removes it). next is the lockfile that place moved it
// next to ("" when it was not moved).
func (s *Spares) keep(name string, orig os.FileInfo, next string) bool {
	if s == nil || leaseOff {
		return false
	}
	s.mu.Lock()
	full := s.len() >= s.max
	s.mu.Unlock()
	if full {
		return false
	}
	want, ok := orig.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	f, err := openRaw(name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	sp, ok := checkSpare(f, want)
	if !ok {
		f.Close()
		return false
	}
	sp.name = name
	s.mu.Lock()
	if s.len() < s.max {
		if next == "" {
			s.free = append(s.free, sp)
		} else {
			if prev := s.kept[next]; prev != nil {
				// Placed twice for one lockfile: the one before is any
				// lockfile's.
				s.free = append(s.free, prev)
			}
			if s.kept == nil {
				s.kept = map[string]*spare{}
			}
			s.kept[next] = sp
		}
		f = nil
	}
	s.mu.Unlock()
	if f != nil {
		f.Close()
		return false
	}
	return true
}

// checkSpare returns f as a spare when it is the file want describes,
// with one name, locked by f, open nowhere else and without extended
// attributes.
func checkSpare(f *rawFile, want *syscall.Stat_t) (*spare, bool) {
	st, err := f.stat()
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 ||
		uint64(st.Dev) != uint64(want.Dev) || uint64(st.Ino) != uint64(want.Ino) {
		return nil, false
	}
	// The flock first: another lockfix's stale-file cleanup, which opens
	// temp files and removes those it can lock, then leaves it alone.
	if unix.Flock(f.fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return nil, false
	}
	if !alone(f.fd) {
		return nil, false
	}
	if n, err := unix.Flistxattr(f.fd, nil); n != 0 || err != nil && !errors.Is(err, unix.ENOTSUP) {
		return nil, false
	}
	return &spare{f: f, dev: uint64(st.Dev), uid: st.Uid, gid: st.Gid, mode: st.Mode, flags: inodeFlags(f.fd), size: st.Size}, true
}

// alone reports whether fd is the only open file (descriptor or mapping,
// in any process) of its inode: the kernel grants a write lease only
// then. The lease is let go at once: no program can reach the file now
// but by its temp name.
func alone(fd int) bool {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
		return false
	}
	unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	return true
}

// inodeFlags returns fd's inode flags (chattr), -1 where the filesystem
// has none.
func inodeFlags(fd int) int {
	v, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return -1
	}
	return v
}

// misfit ranks a spare of size bytes for new content of want bytes, in
// blocks of blk bytes: 0 is the best. The spare whose blocks are closest
// in number to the new content's comes first: its blocks are overwritten,
// and the fewer the filesystem frees (cutting a longer spare) or
// allocates (growing a shorter one), the less it does. Of those, one that
// needs no cut.
func misfit(size, want, blk int64) int64 {
	d := (size+blk-1)/blk - (want+blk-1)/blk
	if d < 0 {
		d = -d
	}
	d *= 2
	if size > want {
		d++
	}
	return d
}

// take returns the spare for the lockfile h holds, for new content of
// want bytes, with its temp name, the directory it came from and its size
// (the caller writes over its bytes, from the start, and cuts what is
// left: overwriting allocated blocks spares the filesystem freeing them
// and allocating others); nil when none fits or the move fails (the spare
// is then removed). A spare placed next to this lockfile (place) is taken
// where it is, and comes from no other directory (""); otherwise, of the
// spares not kept for another lockfile, the one that best fits (see
// misfit) is moved to name, a new temp name of the lockfile.
func (s *Spares) take(h *Handle, name string, want int64) (*rawFile, string, string, int64) {
	if s == nil {
		return nil, "", "", 0
	}
	st, ok := h.info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, "", "", 0
	}
	if s.Len() == 0 {
		return nil, "", "", 0
	}
	// Read before the pool's lock, which the other workers wait for.
	flags := inodeFlags(int(h.lock.Fd()))
	blk := max(int64(st.Blksize), 512)
	fits := func(c *spare) bool {
		return c.dev == uint64(st.Dev) && c.uid == st.Uid && c.gid == st.Gid && c.mode == st.Mode && c.flags == flags
	}
	s.mu.Lock()
	// A spare placed for this lockfile that does not fit it (another
	// owner) stays kept until the handle closes.
	key, sp := s.placedFor(h)
	placed := sp != nil && fits(sp)
	if placed {
		delete(s.kept, key)
	} else {
		sp = nil
		best, score := -1, int64(-1) // the spare and its misfit; the newest wins a tie
		for i := len(s.free) - 1; i >= 0 && score != 0; i-- {
			c := s.free[i]
			if !fits(c) {
				continue
			}
			if d := misfit(c.size, want, blk); best < 0 || d < score {
				best, score = i, d
			}
		}
		if best >= 0 {
			sp = s.free[best]
			s.free = append(s.free[:best], s.free[best+1:]...)
		}
	}
	s.mu.Unlock()
	if sp == nil {
		return nil, "", "", 0
	}
	span := trace.Start("file.reuse")
	// Asked again: a program that opened it by its temp name since it
	// was kept (a backup reading the directory) would see it rewritten.
	if !alone(sp.f.fd) {
		span.End(h.path + " (open elsewhere: not reused)")
		sp.drop()
		return nil, "", "", 0
	}
	if placed {
		sp.f.name = sp.name
		span.End(h.path + " (placed)")
		return sp.f, sp.name, "", sp.size
	}
	err := unix.Renameat2(unix.AT_FDCWD, sp.name, unix.AT_FDCWD, name, unix.RENAME_NOREPLACE)
	if err != nil {
		span.End(h.path)
		sp.drop()
		return nil, "", "", 0
	}
	from := filepath.Dir(sp.name)
	sp.f.name = name
	span.End(h.path + " (from " + from + ")")
	return sp.f, name, from, sp.size
}
