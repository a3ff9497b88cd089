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

// leases are the handles holding a lease, for the watcher.
var leases struct {
	sync.Mutex
	held  map[*Handle]struct{}
	watch sync.Once
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
	leases.Lock()
	if leases.held == nil {
		leases.held = map[*Handle]struct{}{}
	}
	leases.held[h] = struct{}{}
	h.leased, h.leaseBroken = true, false
	leases.Unlock()
}

// dropLease unregisters h before its leased descriptor is closed (so that
// the watcher never touches a descriptor number reused since).
func dropLease(h *Handle) {
	if !h.leased {
		return
	}
	leases.Lock()
	delete(leases.held, h)
	h.leased, h.leaseBroken = false, false
	leases.Unlock()
}

// lease reports whether h took a lease at Open, and whether another
// program has broken it since. It lets a broken lease go at once.
func (h *Handle) lease() (held, broken bool) {
	leases.Lock()
	defer leases.Unlock()
	if !h.leased {
		return false, false
	}
	if !h.leaseBroken {
		h.checkLease()
	}
	return true, h.leaseBroken
}

// checkLease marks h when its lease is being broken (or was, past the
// kernel's lease-break-time) and lets it go. The caller holds leases.
func (h *Handle) checkLease() {
	t, err := unix.FcntlInt(h.lock.Fd(), unix.F_GETLEASE, 0)
	if err == nil && t == unix.F_RDLCK {
		return
	}
	h.leaseBroken = true
	if h.committing {
		// Between the check before the rename and the look after it,
		// the other program's open waits: it completes once the original
		// is back at the path (holdBreaks), so that it neither writes into
		// a file that has lost the name nor sees lockfix's content there
		// in the meantime.
		return
	}
	unix.FcntlInt(h.lock.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
	delete(leases.held, h)
}

// holdBreaks, on, keeps a broken lease held (the breaker's open waits)
// until it is called off again, which lets a broken lease go.
func (h *Handle) holdBreaks(on bool) {
	leases.Lock()
	defer leases.Unlock()
	h.committing = on
	if !on && h.leased && h.leaseBroken {
		if _, held := leases.held[h]; held {
			unix.FcntlInt(h.lock.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
			delete(leases.held, h)
		}
	}
}

// watchLeases starts the watcher: on every SIGIO (the kernel's notice of
// a lease break) it checks every held lease.
func watchLeases() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGIO)
	go func() {
		for range ch {
			leases.Lock()
			for h := range leases.held {
				h.checkLease()
			}
			leases.Unlock()
		}
	}()
}
