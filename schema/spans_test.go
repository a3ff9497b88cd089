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
		spans, err := s.RecordSpans(b, len(l.Packages))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		pos := s.HeaderSize
		for i, sp := range spans {
			if sp.Offset != pos {
				t.Fatalf("v%d record %d at %d, want %d", v, i, sp.Offset, pos)
			}
			body := b[sp.Offset : sp.Offset+sp.Length]
			if s.Framing != nil {
				body = body[s.Framing.Overhead()-4 : len(body)-4]
			}
			if string(b[sp.BodyOffset:sp.BodyOffset+len(sp.Body)]) != string(sp.Body) {
				t.Fatalf("v%d record %d: body offset %d", v, i, sp.BodyOffset)
			}
			if string(body) != string(sp.Body) {
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
		if _, err := s.RecordSpans(b[:len(b)-3], len(l.Packages)); schema.ErrorName(err) != "Truncated" {
			t.Fatalf("v%d cut: %v, want Truncated", v, err)
		}
	}
}

// FuzzRecordSpans checks that no input makes RecordSpans panic or give a
// span outside the input.
func FuzzRecordSpans(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range schema.Versions() {
			s, _ := schema.Lookup(v)
			spans, _ := s.RecordSpans(b, 1<<20)
			for _, sp := range spans {
				if sp.Offset < s.HeaderSize || sp.Length <= 0 || sp.Offset+sp.Length > len(b) || len(sp.Body) > sp.Length {
					t.Fatalf("span %+v outside %d bytes", sp, len(b))
				}
			}
		}
	})
}

// TestEachRecord: EachRecord walks every record of a checked file, for
// every version, with and without packages and with a writer, and gives
// the strict decoder's packages.
func TestEachRecord(t *testing.T) {
	for _, v := range schema.Versions() {
		for _, n := range []int{0, 1, 300, 9000} {
			b := lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: uint64(n + v), Writer: "bench 1.0"})
			s, err := schema.Sniff(b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Decode(b)
			if err != nil {
				t.Fatalf("v%d, %d packages: %v", v, n, err)
			}
			c := s.EachRecord(b, func(i int, r *schema.RawPackage) {
				if i >= len(want.Packages) || r.Package() != want.Packages[i] {
					t.Fatalf("v%d: record %d is %+v", v, i, r.Package())
				}
			})
			if c != n {
				t.Errorf("v%d: EachRecord counted %d, want %d", v, c, n)
			}
		}
	}
}
