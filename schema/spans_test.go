package schema_test

import (
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// TestRecordSpans checks that each span holds exactly its record: the
// spans tile the package array, and decoding record i's bytes alone gives
// package i.
func TestRecordSpans(t *testing.T) {
	for v := 0; v <= 2; v++ {
		b := lockgen.Bytes(lockgen.Options{Version: v, Packages: 50, Seed: 3})
		s, err := schema.Sniff(b)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		spans, err := schema.RecordSpans(b, s.HeaderSize, len(l.Packages))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		pos := s.HeaderSize
		for i, sp := range spans {
			if sp.Offset != pos {
				t.Fatalf("v%d record %d at %d, want %d", v, i, sp.Offset, pos)
			}
			body := b[sp.Offset : sp.Offset+sp.Length]
			if v == 2 {
				body = body[6 : len(body)-4]
			}
			if string(body) != string(b[sp.BodyOffset:sp.BodyOffset+sp.BodyLength]) {
				t.Fatalf("v%d record %d: Body is not the record's strings", v, i)
			}
			r, n, err := schema.ParseBody(body, 0, i)
			if err != nil || n != len(body) || r.Package() != l.Packages[i] {
				t.Fatalf("v%d record %d: %+v (%d of %d bytes, %v), want %+v", v, i, r.Package(), n, len(body), err, l.Packages[i])
			}
			pos += sp.Length
		}
		if pos != len(b) {
			t.Fatalf("v%d: spans end at %d, the file at %d", v, pos, len(b))
		}
		// A cut file is reported at the record it cuts.
		if _, err := schema.RecordSpans(b[:len(b)-3], s.HeaderSize, len(l.Packages)); schema.ErrorName(err) != "Truncated" {
			t.Fatalf("v%d cut: %v, want Truncated", v, err)
		}
	}
}

// FuzzRecordSpans checks that no input makes RecordSpans panic or give a
// span outside the input.
func FuzzRecordSpans(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, start := range []int{0, 0x40, 0x68, len(b)} {
			spans, _ := schema.RecordSpans(b, start, 1<<20)
			for _, sp := range spans {
				if sp.Offset < start || sp.Length <= 0 || sp.Offset+sp.Length > len(b) || sp.BodyLength > sp.Length || sp.BodyOffset < sp.Offset {
					t.Fatalf("span %+v outside %d bytes", sp, len(b))
				}
			}
		}
	})
}
