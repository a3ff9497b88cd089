package atomicfile

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/lockfix/lockfix/internal/trace"
)

// StreamMin is the size from which OpenStream reads a file in the
// background; a smaller file is read before OpenStream returns.
const StreamMin = 4 << 20

// streamStep is how much a Stream reads at a time.
const streamStep = 1 << 20

// Stream is a file being read, in order, by a goroutine of its own, so
// that its reader can work on the first bytes while the rest arrives (a
// strict check of a large file runs while the file is read).
type Stream struct {
	path string
	buf  []byte       // sized from the stat; read in order
	in   atomic.Int64 // bytes of buf read so far

	mu    sync.Mutex
	cond  sync.Cond
	ended bool
	data  []byte // as read: buf, shorter or longer when the file changed
	err   error
}

// OpenStream opens path read-only with Open's checks (a regular file, not
// over MaxSize) and starts reading it.
func OpenStream(path string) (*Stream, error) {
	h, err := Open(path, Options{ReadOnly: true, stream: true})
	if err != nil {
		return nil, err
	}
	f := h.lock.(*rawFile)
	size := h.info.Size()
	s := &Stream{path: path}
	s.cond.L = &s.mu
	if size < StreamMin {
		span := trace.Start("file.read")
		data, err := readAll(f, size)
		f.Close()
		if trace.Enabled() {
			span.End(fmt.Sprintf("%s %dB", path, len(data)))
		}
		s.buf = data
		s.in.Store(int64(len(data)))
		s.end(data, err)
		return s, nil
	}
	s.buf = make([]byte, size, size+512)
	go s.read(f)
	return s, nil
}

// read reads the file into buf, a step at a time, then reads on in case
// it grew.
func (s *Stream) read(f *rawFile) {
	defer f.Close()
	span := trace.Start("file.read")
	off := 0
	var err error
	for off < len(s.buf) {
		n, e := f.ReadAt(s.buf[off:min(off+streamStep, len(s.buf))], int64(off))
		off += n
		s.in.Store(int64(off))
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
		if e == io.EOF {
			break // the file shrank since the stat
		}
		if e != nil {
			err = e
			break
		}
	}
	data := s.buf[:off]
	if err == nil && off == len(s.buf) {
		data, err = readOn(f, data)
	}
	if err == nil && len(data) > MaxSize {
		err = fmt.Errorf("%s: %w: the limit is %d bytes", s.path, ErrTooLarge, MaxSize)
	}
	if trace.Enabled() {
		span.End(fmt.Sprintf("%s %dB in the background", s.path, len(data)))
	}
	s.end(data, err)
}

// end records the outcome of the read and wakes every waiter.
func (s *Stream) end(data []byte, err error) {
	s.mu.Lock()
	s.ended, s.data, s.err = true, data, err
	s.cond.Broadcast()
	s.mu.Unlock()
}

// Bytes returns the buffer being filled, sized from the file's stat. Only
// its first Ready(n) bytes may be read.
func (s *Stream) Bytes() []byte { return s.buf }

// Ready waits until the first n bytes of Bytes are in, or the read has
// ended, and returns how many are in: at least n, unless the read ended
// early (an error, or a file that shrank).
func (s *Stream) Ready(n int) int {
	if in := int(s.in.Load()); in >= n {
		return in
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.ended && int(s.in.Load()) < n {
		s.cond.Wait()
	}
	return int(s.in.Load())
}

// Wait waits for the end of the read and returns the bytes as read. They
// are Bytes, unless the file changed size while it was read: then they
// are what was read, shorter or longer.
func (s *Stream) Wait() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.ended {
		s.cond.Wait()
	}
	return s.data, s.err
}
