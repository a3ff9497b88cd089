package schema

import (
	"encoding/binary"
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
// into the file (the decoded model has no offsets). It walks the lengths
// (and, for framed records, the frames) only and checks nothing else: run
// it on a file that passed the strict check. It returns a Truncated
// CorruptionError when a record passes the end of b, and never allocates
// more than b can hold.
func (s *Schema) RecordSpans(b []byte, count int) ([]Span, error) {
	start := s.HeaderSize
	if start > len(b) {
		return nil, Corrupt(ErrTruncated, len(b), "packages", fmt.Sprintf("the package array starts at %d, the file is %d bytes", start, len(b)))
	}
	head, tail := 0, 0
	if s.Framing != nil {
		head, tail = len(s.Framing.Marker)+4, 4
	}
	spans := make([]Span, 0, max(0, min(count, (len(b)-start)/(MinPlainRecord+head+tail)+1)))
	pos := start
	for i := 0; i < count; i++ {
		n, err := s.recordSize(b[pos:], head, tail)
		if err != nil {
			return spans, CorruptRecord(ErrTruncated, pos, i, "record", err.Error())
		}
		spans = append(spans, Span{Offset: pos, Length: n, BodyOffset: pos + head, Body: b[pos+head : pos+n-tail : pos+n-tail]})
		pos += n
	}
	return spans, nil
}

// recordSize returns the size of the record at the start of b: a frame of
// head bytes before its body and tail after it, or four plain strings.
func (s *Schema) recordSize(b []byte, head, tail int) (int, error) {
	if s.Framing != nil {
		if len(b) < head {
			return 0, fmt.Errorf("the file ends inside the record's frame")
		}
		n := head + tail + int(binary.BigEndian.Uint32(b[head-4:]))
		if n < head+tail || n > len(b) {
			return 0, fmt.Errorf("the framed record needs %d bytes, %d remain", n, len(b))
		}
		return n, nil
	}
	pos := 0
	for i := 0; i < 4; i++ {
		if len(b)-pos < 2 {
			return 0, fmt.Errorf("the file ends inside the length of %s", FieldNames[i])
		}
		pos += 2 + int(binary.BigEndian.Uint16(b[pos:]))
		if pos > len(b) {
			return 0, fmt.Errorf("%s passes the end of the file", FieldNames[i])
		}
	}
	return pos, nil
}
