package schema

import (
	"fmt"
)

// Span is where one record lies in a file: the offset of its first byte,
// the bytes it takes (framing included), the offset of its four
// length-prefixed strings and the strings themselves (aliasing the file;
// see ParseBody).
type Span struct {
	Offset, Length int
	BodyOffset     int
	Body           []byte
}

// RecordSpans returns where each of the first count records of the
// package array of b, a file of version s, lies, for reports that point
// into the file (the decoded model has no offsets). It hops over the
// records by their lengths (SizeAt) and checks nothing else: run it on a
// file that passed the strict check. Where it cannot hop, it returns the
// spans so far and the error of that record's frame (ReadFrame) or, for
// a plain record, a Truncated CorruptionError; it never allocates more
// than b can hold.
func (s *Schema) RecordSpans(b []byte, count int) ([]Span, error) {
	if s.HeaderSize > len(b) {
		return nil, Corrupt(ErrTruncated, len(b), "packages", fmt.Sprintf("the package array starts at %d, the file is %d bytes", s.HeaderSize, len(b)))
	}
	return s.SpansFrom(b, s.HeaderSize, 0, count)
}

// SpansFrom is RecordSpans of the count records that start at file offset
// off with record first, for a walk of the array in parts.
func (s *Schema) SpansFrom(b []byte, off, first, count int) ([]Span, error) {
	head, tail := s.bodyEdges()
	pos := min(max(off, 0), len(b))
	spans := make([]Span, 0, max(0, min(count, (len(b)-pos)/(MinPlainRecord+head+tail)+1)))
	for i := first; i < first+count; i++ {
		n := s.SizeAt(b[pos:])
		if n < 0 {
			if s.Framing != nil {
				_, err := s.ReadFrame(b[pos:], pos, i)
				return spans, err
			}
			return spans, CorruptRecord(ErrTruncated, pos, i, "record", "the record's strings pass the end of the file")
		}
		spans = append(spans, Span{Offset: pos, Length: n, BodyOffset: pos + head, Body: b[pos+head : pos+n-tail : pos+n-tail]})
		pos += n
	}
	return spans, nil
}

// EachRecord calls f with every record of b, a file of version s that
// passed the strict check, in file order (the strings alias b), and
// returns how many there are. It does not check them again: for anything
// else than a checked file it stops at the first record it cannot cut.
func (s *Schema) EachRecord(b []byte, f func(i int, r *RawPackage)) int {
	n := 0
	// One record variable for all: f's pointer would make each escape.
	var r RawPackage
	head, tail := s.bodyEdges()
	for off := s.HeaderSize; off < len(b); n++ {
		size := s.SizeAt(b[off:])
		if size < 0 {
			break
		}
		body := b[off+head : off+size-tail]
		if CutBody(body, off+head, &r) != len(body) {
			break
		}
		f(n, &r)
		off += size
	}
	return n
}

// bodyEdges returns the bytes of a record before and after its strings: a
// frame's head and CRC-32C, none for a plain record.
func (s *Schema) bodyEdges() (head, tail int) {
	if fr := s.Framing; fr != nil {
		return fr.Head(), fr.Overhead() - fr.Head()
	}
	return 0, 0
}
