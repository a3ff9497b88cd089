package atomicfile

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Leases close the window between the unchanged check and the rename
// against programs that write the lockfile in place without lockfix's
// lock (a deploy script, an older tool).
//
// Open takes a read lease on the lockfile (fcntl F_SETLEASE, F_RDLCK)
// right after its flock and before it reads: the kernel grants one only
// when no process has the file open for writing, and breaks it when one
// opens it for writing or truncates it. Such an open then waits in the
// kernel until the lease is let go: the watcher below lets a broken lease
// go at once (on the SIGIO the kernel sends), so the other program waits
// microseconds, and marks the handle. The replace checks the lease just
// before the rename and again just after it: when it was broken at any
// point, the other program's open happened after lockfix's read, so the
// original is put back (the rename is undone) and ErrChanged reported;
// the other program then writes to the file at the path, and its change
// is kept.
//
// A lease needs the file's owner (or CAP_LEASE) and a filesystem that
// grants them; without one (see Handle.Leased) the replace checks the
// file's bytes again after the rename instead, through the descriptor
// still open on the original, and puts the original back when they
// changed.

// leases are the handles holding a lease, for the watcher: a sync.Map,
// whose stores and deletes (one each per file) take no lock that a fleet's
// workers would queue on.
var leases struct {
	held  sync.Map // *Handle -> struct{}
	watch sync.Once
}

// leaseState is a handle's lease, guarded by its own mutex: the workers of
// a fleet check theirs at every replace, and one mutex for all of them,
// held across the fcntl, made them queue behind each other (with 64
// workers, 39 were seen waiting for it at once).
type leaseState struct {
	mu sync.Mutex
	// leased: the handle's descriptor holds a read lease, taken before
	// the read; broken: another program opened the file for writing
	// since; released: the broken lease was let go.
	leased, broken, released bool
	// committing holds a broken lease until the commit has put the
	// original back (holdBreaks).
	committing bool
}

// leaseWait bounds how long Open retries a lease that another program's
// open-for-writing refuses (EAGAIN): a writer that opens, writes and
// closes holds the file for microseconds.
const leaseWait = 100 * time.Millisecond

// leaseOff turns leases off (tests of the fallback).
var leaseOff bool

// takeLease tries to take a read lease on f, retrying while a writer has
// the file open, for at most leaseWait. It reports whether it holds one.
func takeLease(f File) bool {
	if leaseOff {
		return false
	}
	leases.watch.Do(watchLeases)
	deadline := time.Now().Add(leaseWait)
	pause := 50 * time.Microsecond
	for {
		_, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_RDLCK)
		if err == nil {
			return true
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) || time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// openForWriting reports whether another process has f's file open for
// writing, as far as a lease can tell: the kernel refuses one (EAGAIN)
// exactly then. Open takes no lease when a writer holds the file open
// for all of leaseWait; the second look without a lease asks again, since
// such a writer can still write the original after lockfix has let it
// go. Where leases are not granted at all, or f is itself open for
// writing (the file of an earlier Replace through the same handle, whose
// own descriptor would make the kernel refuse), it reports false.
func openForWriting(f File) bool {
	if leaseOff {
		return false
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY {
		return false
	}
	for {
		_, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_RDLCK)
		switch {
		case err == nil:
			unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
			return false
		case errors.Is(err, unix.EINTR):
			continue
		}
		return errors.Is(err, unix.EAGAIN)
	}
}

// holdLease registers h, whose descriptor holds a lease, with the
// watcher.
func holdLease(h *Handle) {
	h.ls.mu.Lock()
	h.ls.leased, h.ls.broken, h.ls.released = true, false, false
	h.ls.mu.Unlock()
	leases.held.Store(h, struct{}{})
}

// dropLease unregisters h before its leased descriptor is closed: once it
// returns, the watcher, which looks at leased under the handle's mutex,
// never touches a descriptor number reused since.
func dropLease(h *Handle) {
	h.ls.mu.Lock()
	was := h.ls.leased
	h.ls.leased, h.ls.broken = false, false
	h.ls.mu.Unlock()
	if was {
		leases.held.Delete(h)
	}
}

// lease reports whether h took a lease at Open, and whether another
// program has broken it since. It lets a broken lease go at once.
func (h *Handle) lease() (held, broken bool) {
	h.ls.mu.Lock()
	defer h.ls.mu.Unlock()
	if !h.ls.leased {
		return false, false
	}
	if !h.ls.broken {
		h.checkLease()
	}
	return true, h.ls.broken
}

// checkLease marks h when its lease is being broken (or was, past the
// kernel's lease-break-time) and lets it go. The caller holds h.ls.mu,
// and h holds a lease.
func (h *Handle) checkLease() {
	t, err := unix.FcntlInt(h.lock.Fd(), unix.F_GETLEASE, 0)
	if err == nil && t == unix.F_RDLCK {
		return
	}
	h.ls.broken = true
	if h.ls.committing {
		// Between the check before the rename and the look after it,
		// the other program's open waits: it completes once the original
		// is back at the path (holdBreaks), so that it neither writes into
		// a file that has lost the name nor sees lockfix's content there
		// in the meantime.
		return
	}
	h.releaseLease()
}

// releaseLease lets h's broken lease go and unregisters it. The caller
// holds h.ls.mu.
func (h *Handle) releaseLease() {
	if h.ls.released {
		return
	}
	unix.FcntlInt(h.lock.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
	h.ls.released = true
	leases.held.Delete(h)
}

// holdBreaks, on, keeps a broken lease held (the breaker's open waits)
// until it is called off again, which lets a broken lease go.
func (h *Handle) holdBreaks(on bool) {
	h.ls.mu.Lock()
	defer h.ls.mu.Unlock()
	h.ls.committing = on
	if !on && h.ls.leased && h.ls.broken {
		h.releaseLease()
	}
}

// watchLeases starts the watcher: on every SIGIO (the kernel's notice of
// a lease break) it checks every held lease.
func watchLeases() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGIO)
	go func() {
		for range ch {
			leases.held.Range(func(k, _ any) bool {
				h := k.(*Handle)
				h.ls.mu.Lock()
				if h.ls.leased && !h.ls.broken {
					h.checkLease()
				}
				h.ls.mu.Unlock()
				return true
			})
		}
	}()
}
