package migrate

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// PiecesMin is the file size from which Run writes a file's new content
// in pieces (ReplaceInPieces) when it syncs each file on its own and
// writes: a smaller file is encoded whole and replaced with
// atomicfile.Replace.
const PiecesMin = 4 << 20

// pieceRecords is the number of records in a piece: a few hundred KiB,
// which stay in the processor's cache from their encoding to their check
// and their write.
const pieceRecords = 2048

// ReplaceInPieces replaces h's file with c.After encoded at c.To, never
// holding the new content whole: the records are encoded in pieces on
// several goroutines, each piece checked with the rule of Verify(e) as
// soon as it is encoded (PieceCheck: the strict check of its records,
// compared with e's packages) and written to the temp file in file order;
// the header, whose array CRC-64 is known once every piece is, is written
// last, after the check of the whole (PieceCheck.End) has passed. The
// rename and everything around it are those of atomicfile.Replace, and so
// are the errors: ErrVerify wraps a failed check, and nothing is
// written. c must come from a convert that left Data to be encoded here
// (Data nil); a conversion with Data is replaced whole.
func (c *Conversion) ReplaceInPieces(h *atomicfile.Handle, e Expect) error {
	if c.Data != nil {
		return h.Replace(c.Data, Verify(e))
	}
	if c.target == nil {
		return fmt.Errorf("%s: nothing to write: the file is at version %d already", h.Path(), c.To)
	}
	enc, err := c.target.EncodePieces(c.After, c.eo, c.trusted, pieceRecords)
	if err != nil {
		return fmt.Errorf("encode at version %d: %w", c.To, err)
	}
	// The strings of the packages are the file's, which holds their
	// bodies: each is copied whole.
	enc.Source(c.src)
	s := enc.Schema()
	check, err := VerifyPieces(e, s, enc.Count())
	if err != nil {
		return fmt.Errorf("%s: %w: %w", h.Path(), atomicfile.ErrVerify, err)
	}
	w, err := h.CreatePieces(s.HeaderSize)
	if err != nil {
		return err
	}
	defer w.Abort() // after Replace, a no-op
	sum, err := writePieces(enc, check, w, pieceHint(c.src, enc))
	if err != nil {
		return err
	}
	header := enc.Header(int(w.Size())-s.HeaderSize, sum)
	return w.Replace(header, func() error { return check.End(header) })
}

// writePieces encodes the pieces of enc on up to GOMAXPROCS goroutines,
// each checked by check where it was encoded, and writes them to w in
// file order, after Add has taken them. It returns the CRC-64 of the
// array for the header. Once a check has found a problem nothing more is
// written, but every piece is still checked, so that PieceCheck.End
// reports every problem, as Verify would.
func writePieces(enc *schema.Encoding, check *PieceCheck, w *atomicfile.Pieces, hint int) (uint64, error) {
	pieces := enc.Pieces()
	workers := min(runtime.GOMAXPROCS(0), 8, max(pieces, 1))
	type piece struct {
		buf      []byte
		n, last  int
		problems []error
	}
	results := make([]chan piece, pieces)
	for k := range results {
		results[k] = make(chan piece, 1)
	}
	// free holds the buffers: a worker takes one before it takes a piece,
	// so that the next piece to write always has its buffer, and the
	// pieces in flight are bounded. Only this goroutine sends to it.
	free := make(chan []byte, 2*workers+1)
	for range cap(free) {
		free <- nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for buf := range free {
				k := int(next.Add(1)) - 1
				if k >= pieces {
					return
				}
				if buf == nil {
					buf = make([]byte, 0, hint)
				}
				b, first, n := enc.Piece(buf[:0], k)
				problems, last := check.Piece(b, first, n)
				results[k] <- piece{buf: b, n: n, last: last, problems: problems}
			}
		})
	}
	span := trace.Start("migrate.pieces")
	hasSum := enc.Schema().FieldOf(schema.KindArrayChecksum) != nil
	var sum uint64
	var werr error
	clean := true
	for k := range pieces {
		p := <-results[k]
		clean = check.Add(p.buf, p.n, p.last, p.problems) && clean
		if clean {
			if hasSum {
				sum = schema.CRC64Update(sum, p.buf)
			}
			if werr = w.Write(p.buf); werr != nil {
				break
			}
		}
		free <- p.buf
	}
	close(free)
	wg.Wait()
	if trace.Enabled() {
		span.End(fmt.Sprintf("%d pieces of %d records, %d workers", pieces, pieceRecords, workers))
	}
	if werr != nil {
		return 0, werr
	}
	// When a piece was not clean, PieceCheck.End reports its problems;
	// nothing was written after it.
	return sum, nil
}

// pieceHint is the room to make in a piece's buffer: a piece of the
// mean record of the file read, framed at the target, and an eighth
// more (a larger piece grows its buffer).
func pieceHint(src []byte, enc *schema.Encoding) int {
	n := enc.Count()
	if n == 0 {
		return 0
	}
	mean := len(src) / n
	if fr := enc.Schema().Framing; fr != nil {
		mean += fr.Overhead()
	}
	return min(n, pieceRecords) * mean * 9 / 8
}

// inPieces reports whether the runner writes a file of size bytes in
// pieces: a large file (PiecesMin), synced on its own (the batches of
// SyncBatch hold their new contents whole until their sync), not a dry
// run (which checks the new bytes whole, and writes nothing).
func (r *runner) inPieces(size int) bool {
	return size >= PiecesMin && r.o.Sync == SyncFile && !r.o.DryRun
}
