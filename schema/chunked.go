package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// This file encodes and checks a file in pieces of whole records, so that
// a large file can be written and checked without holding it whole: the
// records first, in order, then the header, whose array size and CRC-64
// are known only once every record is.

// Encoding is a lockfile being encoded at a version in pieces (see
// Schema.EncodePieces): the records of any run of packages, then the
// header, once the array's CRC-64 is known.
type Encoding struct {
	s      *Schema
	l      *Lockfile
	cfg    Config
	writer []byte
	// every is the records of a piece.
	every int
	// src holds the packages' strings (Source), or is nil.
	src []byte
}

// EncodePieces is the encoder of EncodeWith (EncodeTrusted with trusted)
// for a file written in pieces of every records (the last may hold
// fewer). It makes the checks of the encoder now:
// an error here is the encoder's. The records are then Records' and the
// header Header's; together, in file order, they are the bytes EncodeWith
// (EncodeTrusted) returns.
func (s *Schema) EncodePieces(l *Lockfile, o EncodeOptions, trusted bool, every int) (*Encoding, error) {
	every = max(every, 1)
	cfg, writer, err := s.encodeChecks(l, o, trusted)
	if err != nil {
		return nil, err
	}
	return &Encoding{s: s, l: l, cfg: cfg, writer: writer, every: every}, nil
}

// Pieces returns the number of pieces.
func (e *Encoding) Pieces() int { return (len(e.l.Packages) + e.every - 1) / e.every }

// Piece appends the records of piece k to dst and returns them, with the
// piece's first record and number of records.
func (e *Encoding) Piece(dst []byte, k int) (piece []byte, first, n int) {
	first = k * e.every
	last := min(first+e.every, len(e.l.Packages))
	return e.Records(dst, first, last), first, last - first
}

// Schema returns the version encoded at.
func (e *Encoding) Schema() *Schema { return e.s }

// Count returns the number of records.
func (e *Encoding) Count() int { return len(e.l.Packages) }

// Source tells the encoding the bytes that its packages' strings are
// substrings of, when they are (a file decoded in place, DecodeInPlace):
// a package whose four strings lie there one after the other, each
// behind its length, as the body of its record does, is copied from
// there in one piece. The bytes are the same; src must not change while
// the encoding is used.
func (e *Encoding) Source(src []byte) { e.src = src }

// Records appends the records of packages lo..hi-1 to dst.
func (e *Encoding) Records(dst []byte, lo, hi int) []byte {
	fr := e.s.Framing
	for i := lo; i < hi; i++ {
		p := &e.l.Packages[i]
		body := e.body(p)
		switch {
		case body == nil:
			dst = e.s.AppendRecord(dst, p)
		case fr == nil:
			dst = append(dst, body...)
		default:
			dst = append(dst, fr.Marker...)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
			dst = append(dst, body...)
			dst = binary.BigEndian.AppendUint32(dst, CRC32C(body))
		}
	}
	return dst
}

// body returns the bytes of src that are the body AppendBody writes for
// p, or nil when p's strings do not lie in src so: each length where the
// body has it, and each string's own bytes (the same memory) after it.
func (e *Encoding) body(p *Package) []byte {
	src := e.src
	if len(src) == 0 || len(p.Name) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(src)))
	name := uintptr(unsafe.Pointer(unsafe.StringData(p.Name)))
	if name < base+2 || name-base > uintptr(len(src)) {
		return nil
	}
	off := int(name-base) - 2
	size := BodySize(p)
	if size > len(src)-off {
		return nil
	}
	b := src[off : off+size : off+size]
	pos := 0
	for _, f := range [4]string{p.Name, p.Version, p.Resolved, p.Integrity} {
		if int(binary.BigEndian.Uint16(b[pos:])) != len(f) {
			return nil
		}
		pos += 2
		if len(f) > 0 && unsafe.StringData(f) != &b[pos] {
			return nil
		}
		pos += len(f)
	}
	return b
}

// Header returns the header of the file whose package array is the
// records of every package, size bytes with CRC-64 arraySum (ignored by
// a version that records none).
func (e *Encoding) Header(size int, arraySum uint64) []byte {
	h := make([]byte, e.s.HeaderSize)
	e.s.putHeader(h, e.cfg, len(e.l.Packages), e.writer)
	e.s.SealHead(h, size, arraySum)
	return h
}

// SealHead writes into the header h the fields derived from the package
// array, its size and its CRC-64 sum, and then the header checksum.
func (s *Schema) SealHead(h []byte, size int, sum uint64) {
	for i := range s.Header {
		f := &s.Header[i]
		switch f.Kind {
		case KindArraySize:
			putUint(h[f.Offset:f.End()], uint64(size))
		case KindArrayChecksum:
			putUint(h[f.Offset:f.End()], sum)
		}
	}
	for i := range s.Header {
		if f := &s.Header[i]; f.Kind == KindHeaderChecksum {
			putUint(h[f.Offset:f.End()], HeaderCRC(h[:s.HeaderSize], f.Offset))
		}
	}
}

// ArrayCheck is the strict check of a file that arrives in pieces of
// whole records, in file order, and then its header (Schema.CheckKnown
// for bytes never held whole). Each piece's records are checked by
// CheckPiece, which is the record check of CheckKnown and may run on
// several goroutines at once; Add then takes the pieces in order (the
// order across pieces, the array's size and CRC-64), and End checks the
// header against them. The problems are those CheckKnown reports for the
// whole file, in the same order, with two exceptions: a piece whose
// records do not fill it exactly is reported at its end (TrailingData),
// where a check of the whole file would read on into the next piece; and
// a plain record that starts a piece and has an empty name can be
// reported out of order a second time.
type ArrayCheck struct {
	s     *Schema
	count int
	known Known
	// next is the number of records added, at file offset off; size the
	// bytes added and sum their CRC-64.
	next, off int
	sum       uint64
	// last is a copy of the last record added, for the order check of
	// the next piece's first.
	last []byte
	errs []error
}

// NewArrayCheck starts the check of a file of s whose header says it
// holds count records. known, when not nil, vouches for records as in
// CheckKnown.
func (s *Schema) NewArrayCheck(count int, known Known) *ArrayCheck {
	return &ArrayCheck{s: s, count: count, known: known, off: s.HeaderSize}
}

// CheckPiece checks piece, which must hold exactly the n records first
// .. first+n-1 of the file, each as CheckKnown does (the record after the
// last also checks what follows it). It returns the problems, with
// offsets in piece (Add makes them file offsets), and the offset in piece
// of its last record (for Add). The order of the piece's first record
// after the record before it is checked by Add. It may run on several
// goroutines at once; c is not changed.
func (c *ArrayCheck) CheckPiece(piece []byte, first, n int) ([]error, int) {
	s := c.s
	ch := chunk{first: first, last: first + n, off: 0, prev: -1}
	var res chunkResult
	if s.Framing == nil {
		res = s.checkPlain(piece, nil, ch, c.count, hooks{known: c.known})
	} else {
		res = s.checkRecords(piece, nil, ch, c.count, hooks{known: c.known})
	}
	// The offset of the last record, and that the n records fill the
	// piece: a hop over their sizes (the bytes are in the cache).
	last, off := -1, 0
	for i := 0; i < n; i++ {
		size := s.SizeAt(piece[off:])
		if size < 0 {
			return res.errs, last // the check has reported the damage
		}
		last, off = off, off+size
	}
	if off != len(piece) && len(res.errs) == 0 {
		res.errs = append(res.errs, CorruptRecord(ErrTrailingData, off, first+n, "packages",
			fmt.Sprintf("%d bytes follow the %d records of a piece", len(piece)-off, n)))
	}
	return res.errs, last
}

// SizeAt returns the bytes the record at the start of b takes, read from
// its lengths alone: a frame's marker and bodySize (Framing.Hop; the
// checksum is not read), or a plain record's four string lengths
// (PlainSize). It is -1 when b cannot hold the record. It is the hop over
// records whose other rules were checked, or are checked apart.
func (s *Schema) SizeAt(b []byte) int {
	if fr := s.Framing; fr != nil {
		return fr.Hop(b)
	}
	return PlainSize(b)
}

// PlainSize returns the bytes the four length-prefixed strings of a plain
// record at the start of b take, from their lengths alone (no limit), or
// -1 when b ends inside them.
func PlainSize(b []byte) int {
	at := 0
	for range 4 {
		_, _, n, ok := cutString(b[at:], 1<<16-1)
		if !ok {
			return -1
		}
		at += 2 + n
	}
	return at
}

// Add takes the next piece in file order, its n records, the offset of
// its last one and the problems CheckPiece found in it (whose offsets it
// makes file offsets): it checks the order of its first record after the
// last record of the piece before and adds the piece to the array's size
// and CRC-64.
func (c *ArrayCheck) Add(piece []byte, n, last int, errs []error) {
	s := c.s
	for _, err := range errs {
		var ce *CorruptionError
		if errors.As(err, &ce) && ce.Offset >= 0 {
			ce.Offset += int64(c.off)
		}
	}
	var order error
	if c.next > 0 && len(c.last) > 0 && n > 0 {
		prev, _, _, _, perr := s.NextRecord(c.last, 0, c.next-1)
		cur, _, _, _, cerr := s.NextRecord(piece, 0, c.next)
		if perr == nil && cerr == nil {
			cur.Off[0] += c.off
			order = CheckOrder(&prev, &cur, c.next)
		}
	}
	if order == nil {
		c.errs = append(c.errs, errs...)
	} else {
		// As in a check of the whole file: after the first record's own
		// problems, before the next record's.
		j := 0
		for ; j < len(errs); j++ {
			var ce *CorruptionError
			if !errors.As(errs[j], &ce) || ce.Record != c.next {
				break
			}
		}
		c.errs = append(append(append(c.errs, errs[:j]...), order), errs[j:]...)
	}
	if s.FieldOf(KindArrayChecksum) != nil {
		c.sum = CRC64Update(c.sum, piece)
	}
	c.next += n
	c.off += len(piece)
	if last >= 0 && last < len(piece) {
		c.last = append(c.last[:0], piece[last:]...)
	}
}

// Clean reports whether no problem was found so far.
func (c *ArrayCheck) Clean() bool { return len(c.errs) == 0 }

// End checks header, the file's header, against the pieces added, and
// returns every problem of the file, as CheckKnown reports them: the
// header's, the array size's and CRC-64's, then the records'.
func (c *ArrayCheck) End(header []byte) []error {
	s := c.s
	errs, whole := s.CheckHeader(header)
	if !whole {
		return errs
	}
	cf := s.FieldOf(KindCount)
	if count := int(Uint(header[cf.Offset:cf.End()])); count != c.count || c.next != c.count {
		errs = append(errs, s.countError(count, c.next, count > c.next))
	}
	if s.Framing != nil {
		arrayLen := c.off - s.HeaderSize
		if f := s.FieldOf(KindArraySize); f != nil {
			if size := Uint(header[f.Offset:f.End()]); size != uint64(arrayLen) {
				errs = append(errs, Corrupt(ErrPackageCountMismatch, f.Offset, f.Name,
					fmt.Sprintf("%s is %d, the file holds %d bytes after the header", f.Name, size, arrayLen)))
			}
		}
		if f := s.FieldOf(KindArrayChecksum); f != nil {
			if stored := Uint(header[f.Offset:f.End()]); stored != c.sum {
				errs = append(errs, Corrupt(ErrChecksumMismatch, f.Offset, f.Name,
					fmt.Sprintf("package array CRC-64 is 0x%016x, the array computes to 0x%016x", stored, c.sum)))
			}
		}
	}
	return append(errs, c.errs...)
}
