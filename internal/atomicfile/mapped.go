package atomicfile

import (
	"fmt"

	"github.com/lockfix/lockfix/internal/trace"
	"golang.org/x/sys/unix"
)

// A check that only reads a large lockfile maps it instead of reading it:
// the bytes are the page cache's own, with no copy and no fresh buffer to
// fault in and zero, which for a 200 MB file cost more than the check's
// CRC-64. A mapped file must not change under its reader: a truncation
// would turn the reader's next access into a SIGBUS that Go cannot
// recover from, and a write in place would change the bytes between two
// passes of a check. So OpenMapped maps only a file it holds a read lease
// on (fcntl F_SETLEASE, F_RDLCK, as the write path's Open takes one). The
// kernel grants one only when no process has the file open for writing,
// and then holds any program that opens the file for writing or
// truncates it in the open or the truncate until the lease is let go (at
// most the kernel's lease-break-time, 45 s by default). Unlike the write
// path, which lets a broken lease go at once, a Mapped keeps its lease
// until Release: the other program waits for the check, which takes
// milliseconds to a second, and then writes.
//
// Where no lease can be had (another owner's file without CAP_LEASE, a
// filesystem without leases, a writer holding the file open), or the file
// is small, OpenMapped returns a Stream on the same descriptor instead,
// and the caller reads the file as before, without opening it again.

// Mapped is a lockfile mapped read-only under a read lease.
type Mapped struct {
	data []byte
	f    *rawFile
}

// OpenMapped opens path with Open's checks (a regular file, not over
// MaxSize) and, when the file is at least StreamMin bytes and a read
// lease can be taken at once, maps it read-only. Its Bytes are valid
// until Release, which the caller must call; nothing may keep them (or a
// string or slice of them) past it. Where it does not map the file, it
// returns instead the Stream OpenStream would, on the descriptor it
// opened: exactly one of the two is not nil, unless there is an error,
// which leaves nothing open.
func OpenMapped(path string) (*Mapped, *Stream, error) {
	h, err := Open(path, Options{ReadOnly: true, stream: true})
	if err != nil {
		return nil, nil, err
	}
	f := h.lock.(*rawFile)
	size := h.info.Size()
	if size < StreamMin || leaseOff {
		return nil, newStream(path, f, size, ownedByStream), nil
	}
	span := trace.Start("file.map")
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		span.End(fmt.Sprintf("%s not mapped: no lease (%v)", path, err))
		return nil, newStream(path, f, size, ownedByStream), nil
	}
	// The size under the lease: a write that ended before it is in.
	st, err := f.stat()
	if err == nil && st.Size > MaxSize {
		err = fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, st.Size, MaxSize)
	}
	if err != nil {
		unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
		f.Close()
		return nil, nil, err
	}
	m := &Mapped{f: f}
	if st.Size >= StreamMin {
		m.data, err = unix.Mmap(f.fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED)
	}
	if st.Size < StreamMin || err != nil {
		unix.FcntlInt(f.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
		span.End(fmt.Sprintf("%s not mapped: %d bytes, %v", path, st.Size, err))
		return nil, newStream(path, f, st.Size, ownedByStream), nil
	}
	span.End(fmt.Sprintf("%s %dB", path, len(m.data)))
	return m, nil, nil
}

// Bytes returns the file's bytes, valid until Release.
func (m *Mapped) Bytes() []byte { return m.data }

// Release unmaps the file, lets the lease go (a program waiting to write
// the file goes on) and closes it.
func (m *Mapped) Release() {
	if m.data != nil {
		unix.Munmap(m.data)
		m.data = nil
	}
	if m.f != nil {
		unix.FcntlInt(m.f.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
		m.f.Close()
		m.f = nil
	}
}
