package schema

import (
	"encoding/binary"
	"fmt"
)

// Span is where one record lies in a file: the offset of its first byte
// and the bytes it takes, framing included, and where its four
// length-prefixed strings (see ParseBody) lie. It holds no pointer, so a
// large file's spans cost the garbage collector nothing.
type Span struct {
	Offset, Length         int
	BodyOffset, BodyLength int
}

// RecordSpans returns where each of the first count records of the
// package array starting at file offset start of b lies, for reports
// that point into the file (the decoded model has no offsets). It walks
// the lengths only and checks nothing else; run it on a file that passed
// the strict check. Both record layouts are read: a framed record
// (FORMAT.md section 5.2) starts with the marker "PK", a plain one
// (section 5.1) with the high byte of its name's length, which is 0 as a
// name has at most 214 bytes, so the first byte tells them apart. It
// returns a Truncated CorruptionError when a record passes the end of b,
// and never allocates more than b can hold.
func RecordSpans(b []byte, start, count int) ([]Span, error) {
	if start < 0 || start > len(b) {
		return nil, Corrupt(ErrTruncated, len(b), "packages", fmt.Sprintf("the package array starts at %d, the file is %d bytes", start, len(b)))
	}
	spans := make([]Span, 0, max(0, min(count, (len(b)-start)/MinPlainRecord+1)))
	pos := start
	for i := 0; i < count; i++ {
		n, frame, err := recordSize(b[pos:])
		if err != nil {
			return spans, CorruptRecord(ErrTruncated, pos, i, "record", err.Error())
		}
		sp := Span{pos, n, pos, n}
		if frame {
			sp.BodyOffset, sp.BodyLength = pos+6, n-10
		}
		spans = append(spans, sp)
		pos += n
	}
	return spans, nil
}

// recordSize returns the size of the framed or plain record at the start
// of b, and whether it is framed.
func recordSize(b []byte) (int, bool, error) {
	if len(b) >= 6 && b[0] == 'P' && b[1] == 'K' {
		n := 10 + int(binary.BigEndian.Uint32(b[2:]))
		if n < 10 || n > len(b) {
			return 0, true, fmt.Errorf("the framed record needs %d bytes, %d remain", n, len(b))
		}
		return n, true, nil
	}
	pos := 0
	for i := 0; i < 4; i++ {
		if len(b)-pos < 2 {
			return 0, false, fmt.Errorf("the file ends inside the length of %s", FieldNames[i])
		}
		pos += 2 + int(binary.BigEndian.Uint16(b[pos:]))
		if pos > len(b) {
			return 0, false, fmt.Errorf("%s passes the end of the file", FieldNames[i])
		}
	}
	return pos, false, nil
}
