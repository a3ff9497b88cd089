package atomicfile

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/lockfix/lockfix/internal/trace"
)

// StreamMin is the size from which OpenStream reads a file as its reader
// asks; a smaller file is read before OpenStream returns.
const StreamMin = 4 << 20

// streamStep is how much a Stream reads at a time.
const streamStep = 1 << 20

// Stream is a file read in order as its reader asks for its bytes (Ready),
// so that the reader can work on the first bytes before the rest is read:
// a strict check of a large file runs while the file is read, the
// goroutine that needs the next bytes reading them.
type Stream struct {
	path string
	f    *rawFile     // nil once the read has ended
	buf  []byte       // sized from the stat; read in order
	in   atomic.Int64 // bytes of buf read so far

	mu       sync.Mutex // held while reading
	ended    bool
	data     []byte // as read: buf, shorter or longer when the file changed
	err      error
	pooled   bool // buf came from buffers and goes back on Release
	released bool
	// shared: f is a Handle's locked descriptor, which the stream reads
	// but does not close.
	shared bool
}

// streamOwner says who closes a stream's descriptor and keeps its buffer.
type streamOwner int

const (
	ownedByStream  streamOwner = iota // OpenStream: closed at the end, pooled
	readOnlyHandle                    // OpenArriving read-only: closed at the end, Data
	lockedHandle                      // OpenArriving: the handle's lock, Data
)

// buffers keeps the buffers of large streams for the next ones (*[]byte):
// a fleet of large files is read without allocating and zeroing a buffer
// per file, which the read then overwrites, and without collecting each
// one after its file.
var buffers sync.Pool

// buffer returns a buffer of size bytes with room to read on (as
// readAll's buffers have), from buffers when one there is large enough.
func buffer(size int64) []byte {
	if p, ok := buffers.Get().(*[]byte); ok && int64(cap(*p)) >= size+512 {
		return (*p)[:size]
	}
	return make([]byte, size, size+512)
}

// OpenStream opens path read-only with Open's checks (a regular file, not
// over MaxSize). A file under StreamMin is read at once; a larger one as
// Ready asks.
func OpenStream(path string) (*Stream, error) {
	h, err := Open(path, Options{ReadOnly: true, stream: true})
	if err != nil {
		return nil, err
	}
	return newStream(path, h.lock.(*rawFile), h.info.Size(), ownedByStream), nil
}

// OpenArriving is Open for a file that is read as its reader asks: the
// handle is locked and leased as Open's (unless opts.ReadOnly) before the
// read starts, and the returned stream reads the file (a small one at
// once) through the handle's descriptor. Data is nil until Arrived has
// ended the read; the handle cannot write before. Close ends a read still
// going on. The stream's buffer becomes the handle's Data and is never
// reused for another stream.
func OpenArriving(path string, opts Options) (*Handle, *Stream, error) {
	opts.stream = true
	h, err := Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	owner := lockedHandle
	if opts.ReadOnly {
		owner = readOnlyHandle
	}
	s := newStream(path, h.lock.(*rawFile), h.info.Size(), owner)
	if opts.ReadOnly {
		h.lock = nil // the stream closes the descriptor when its read ends
	}
	h.arriving = s
	return h, s, nil
}

// Arrived reads the rest of the file of OpenArriving, makes the bytes read
// the handle's Data and returns them (see Stream.Wait: shorter or longer
// than the stream's Bytes when the file changed size while it was read).
func (h *Handle) Arrived() ([]byte, error) {
	if h.arriving == nil {
		return h.data, nil
	}
	data, err := h.arriving.Wait()
	if err != nil {
		return nil, err
	}
	h.data, h.arriving = data, nil
	return data, nil
}

// newStream reads size bytes of f: at once when fewer than StreamMin, in
// steps as asked otherwise. A handle's stream keeps its buffer out of the
// pool (it becomes the handle's Data), and leaves a locked handle's
// descriptor open.
func newStream(path string, f *rawFile, size int64, owner streamOwner) *Stream {
	shared := owner == lockedHandle
	s := &Stream{path: path, shared: shared}
	if size < StreamMin {
		span := trace.Start("file.read")
		data, err := readAll(f, size)
		if !shared {
			f.Close()
		}
		if err == nil && len(data) > MaxSize {
			err = fmt.Errorf("%s: %w: the limit is %d bytes", path, ErrTooLarge, MaxSize)
		}
		if trace.Enabled() {
			span.End(fmt.Sprintf("%s %dB", path, len(data)))
		}
		s.buf = data
		s.in.Store(int64(len(data)))
		s.ended, s.data, s.err = true, data, err
		return s
	}
	s.f = f
	if owner == ownedByStream {
		s.buf, s.pooled = buffer(size), true
	} else {
		s.buf = make([]byte, size, size+512)
	}
	return s
}

// step reads the next streamStep bytes, or reads on past the stat's size
// and ends the read. The caller holds mu.
func (s *Stream) step() {
	off := int(s.in.Load())
	if off == len(s.buf) {
		data, err := readOn(s.f, s.buf)
		if err == nil && len(data) > MaxSize {
			err = fmt.Errorf("%s: %w: the limit is %d bytes", s.path, ErrTooLarge, MaxSize)
		}
		s.end(data, err)
		return
	}
	n, err := s.f.ReadAt(s.buf[off:min(off+streamStep, len(s.buf))], int64(off))
	s.in.Store(int64(off + n))
	switch {
	case err == io.EOF:
		s.end(s.buf[:off+n], nil) // the file shrank since the stat
	case err != nil:
		s.end(s.buf[:off+n], err)
	}
}

// end ends the read. The caller holds mu.
func (s *Stream) end(data []byte, err error) {
	s.ended, s.data, s.err = true, data, err
	if !s.shared {
		s.f.Close()
	}
	s.f = nil
	if trace.Enabled() {
		trace.Line("file.read", 0, fmt.Sprintf("%s %dB as asked", s.path, len(data)))
	}
}

// Bytes returns the buffer being filled, sized from the file's stat. Only
// its first Ready(n) bytes may be read.
func (s *Stream) Bytes() []byte { return s.buf }

// Ready reads until the first n bytes of Bytes are in, or the read has
// ended, and returns how many are in: at least n, unless the read ended
// early (an error, or a file that shrank). Several goroutines may call
// it; one reads while the others wait.
func (s *Stream) Ready(n int) int {
	if in := int(s.in.Load()); in >= n {
		return in
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.ended && int(s.in.Load()) < n {
		s.step()
	}
	return int(s.in.Load())
}

// Wait reads to the end and returns the bytes as read. They are Bytes,
// unless the file changed size while it was read: then they are what was
// read, shorter or longer.
func (s *Stream) Wait() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.ended {
		s.step()
	}
	return s.data, s.err
}

// Release ends the use of the stream: it closes the file if the read has
// not ended and keeps a large file's buffer for the next stream. Neither
// Bytes nor what Wait returned may be used afterwards. It is safe to call
// more than once.
func (s *Stream) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		if !s.shared {
			s.f.Close()
		}
		s.f = nil
		s.ended, s.err = true, fmt.Errorf("%s: stream released", s.path)
	}
	if s.pooled && !s.released {
		buf := s.buf
		buffers.Put(&buf)
	}
	s.released = true
	s.buf, s.data = nil, nil
}
