package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"github.com/minio/crc64nvme"
	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/trace"
)

// Pieces is the temp file of a Replace whose new content is written in
// pieces, so that a large file is never held whole: a head of a size
// known at the start (a header whose checksums cover what follows) is
// written last, at offset 0, and the pieces in order after it. Every
// promise of Replace holds: the temp file has the original's owner, mode
// and extended attributes, is locked while in use and removed on any
// error; the caller checks each piece before it writes it and the head
// before Replace, whose check (verify) must pass before the rename; the
// rename and what follows it are Replace's.
//
// The handle does not keep the new content: after a successful Replace,
// Data is nil.
type Pieces struct {
	p    *Pending
	head int
	// off is the bytes written so far, the head's room included; sum the
	// CRC-64/NVME of the bytes after the head, and headBytes the head,
	// for untouched.
	off       int64
	flushed   int64 // the bytes whose write-back has been started
	sum       uint64
	headBytes []byte
	span      trace.Span
}

// CreatePieces creates the temp file of a Replace written in pieces,
// with room for a head of head bytes. It gives the temp file the
// original's owner, mode and extended attributes now.
func (h *Handle) CreatePieces(head int) (*Pieces, error) {
	if err := h.writable(); err != nil {
		return nil, err
	}
	if head < 0 || head > MaxSize {
		return nil, fmt.Errorf("%s: a head of %d bytes", h.path, head)
	}
	p, fail, err := h.createTemp(nil, false)
	if err != nil {
		return nil, err
	}
	if op, err := p.keepAttributes(); err != nil {
		_, err := fail(op, err)
		return nil, err
	}
	w := &Pieces{p: p, head: head, headBytes: make([]byte, head)}
	p.pieces = w
	// The head's room, written as the pieces are (a full disk fails here
	// as it would on any piece); the head overwrites it.
	if err := w.write(w.headBytes); err != nil {
		return nil, err
	}
	w.span = trace.Start("file.write")
	return w, nil
}

// Write appends piece to the temp file. On an error the temp file is
// removed; the caller checks piece before it writes it.
func (w *Pieces) Write(piece []byte) error {
	if err := w.write(piece); err != nil {
		return err
	}
	w.sum = crc64nvme.Update(w.sum, piece)
	if w.off-w.flushed >= flushStep {
		// Start the write-back of what is written so far, so that the
		// disk writes while the rest is encoded, and the fsync at the
		// end waits for little more than the last step. (A hint: where
		// the filesystem cannot, the fsync writes it all.)
		unix.SyncFileRange(int(w.p.tmp.Fd()), w.flushed, w.off-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.off
	}
	return nil
}

// flushStep is how many bytes a Pieces writes between the starts of
// their write-back.
const flushStep = 8 << 20

func (w *Pieces) write(b []byte) error {
	p := w.p
	if p.tmp == nil {
		return fmt.Errorf("%s: temp file already committed or aborted", p.h.path)
	}
	if w.off+int64(len(b)) > MaxSize {
		p.Abort()
		return fmt.Errorf("%s: %w: the new content is over %d bytes, the limit", p.h.path, ErrTooLarge, MaxSize)
	}
	if _, err := p.tmp.Write(b); err != nil {
		_, err := w.fail("write", err)
		return err
	}
	w.off += int64(len(b))
	return nil
}

func (w *Pieces) fail(op string, err error) (*Pending, error) {
	w.p.Abort()
	return nil, fmt.Errorf("%s: %s temp file %s: %w", w.p.h.path, op, filepath.Base(w.p.name), err)
}

// Size returns the bytes written so far, the head's room included.
func (w *Pieces) Size() int64 { return w.off }

// Abort removes the temp file. It is safe to call more than once, also
// after Replace.
func (w *Pieces) Abort() { w.p.Abort() }

// Replace ends the write: verify, the caller's check of the new content
// (its pieces checked as they were written, and head), must pass; then
// head is written at offset 0, the temp file is fsynced and renamed over
// the lockfile as Replace does, with the same checks and the same
// outcome on every error. verify's error is wrapped in ErrVerify.
func (w *Pieces) Replace(head []byte, verify func() error) error {
	p := w.p
	h := p.h
	if trace.Enabled() {
		w.span.End(fmt.Sprintf("%s %dB in pieces", h.path, w.off))
	}
	if p.tmp == nil {
		return fmt.Errorf("%s: temp file already committed or aborted", h.path)
	}
	if len(head) != w.head {
		p.Abort()
		return fmt.Errorf("%s: a head of %d bytes for the %d kept", h.path, len(head), w.head)
	}
	if verify != nil {
		span := trace.Start("file.verify")
		err := verify()
		span.End(h.path + " (its pieces checked as written)")
		if err != nil {
			p.Abort()
			return fmt.Errorf("%s: %w: %w", h.path, ErrVerify, err)
		}
	}
	if err := pwriteAll(p.tmp, head, 0); err != nil {
		_, err := w.fail("write", err)
		return err
	}
	w.headBytes = bytes.Clone(head)
	span := trace.Start("file.fsync")
	err := p.tmp.Sync()
	span.End(h.path)
	if err != nil {
		_, err := w.fail("fsync", err)
		return err
	}
	return p.commit(true)
}

// pwriteAll writes all of b at offset off of f.
func pwriteAll(f File, b []byte, off int64) error {
	if wa, ok := f.(io.WriterAt); ok {
		_, err := wa.WriteAt(b, off)
		return err
	}
	for len(b) > 0 {
		n, err := unix.Pwrite(int(f.Fd()), b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// untouched is Pending.untouched for content written in pieces: the
// file is as long as what was written, starts with the head, and the
// rest has the CRC-64 of the pieces.
func (w *Pieces) untouched() bool {
	f := w.p.tmp
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Size != w.off {
		return false
	}
	buf := make([]byte, 64<<10)
	sum := uint64(0)
	for off := int64(0); off < w.off; {
		n, err := unix.Pread(int(f.Fd()), buf[:min(int64(len(buf)), w.off-off)], off)
		if err != nil || n <= 0 {
			return false
		}
		b := buf[:n]
		if off < int64(w.head) {
			k := min(int64(n), int64(w.head)-off)
			if !bytes.Equal(b[:k], w.headBytes[off:off+k]) {
				return false
			}
			b = b[k:]
		}
		sum = crc64nvme.Update(sum, b)
		off += int64(n)
	}
	return sum == w.sum
}
