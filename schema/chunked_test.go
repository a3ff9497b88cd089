package schema_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// piecesOf checks b, a file of s, in pieces of every records, split where
// the records' sizes say they end, and returns the problems; ok is false
// when the sizes do not walk the array to its end (then the pieces
// cannot be cut).
func piecesOf(s *schema.Schema, b []byte, every int) (problems []error, ok bool) {
	if len(b) < s.HeaderSize {
		return nil, false
	}
	cf := s.FieldOf(schema.KindCount)
	count := int(schema.Uint(b[cf.Offset:cf.End()]))
	// The record boundaries, from the sizes alone.
	var ends []int
	for off := s.HeaderSize; off < len(b); {
		_, size, _, _, err := s.NextRecord(b, off, len(ends))
		if err != nil || size <= 0 {
			return nil, false
		}
		off += size
		ends = append(ends, off)
	}
	if len(ends) != count {
		return nil, false
	}
	c := s.NewArrayCheck(count, nil)
	at := s.HeaderSize
	for first := 0; first < count; first += every {
		n := min(every, count-first)
		end := ends[first+n-1]
		piece := b[at:end]
		errs, last := c.CheckPiece(piece, first, n)
		c.Add(piece, n, last, errs)
		at = end
	}
	return c.End(b[:s.HeaderSize]), true
}

// FuzzArrayCheck: on any input whose records can be cut into pieces, the
// check in pieces never panics and passes exactly when Check passes.
func FuzzArrayCheck(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := schema.Sniff(b)
		if err != nil {
			return
		}
		want := s.Check(b)
		for _, every := range []int{1, 3, 64} {
			got, ok := piecesOf(s, b, every)
			if !ok {
				return
			}
			if (len(got) == 0) != (len(want) == 0) {
				t.Fatalf("in pieces of %d: %v; whole: %v", every, got, want)
			}
		}
	})
}

// TestArrayCheckClean: a valid file of every version checked in pieces
// of any size has no problem; damaged, it has Check's.
func TestArrayCheckClean(t *testing.T) {
	for _, v := range schema.Versions() {
		b := lockgen.Bytes(lockgen.Options{Version: v, Packages: 300, Seed: 4})
		s, _ := schema.Sniff(b)
		for _, every := range []int{1, 7, 300, 1000} {
			if got, ok := piecesOf(s, b, every); !ok || len(got) > 0 {
				t.Errorf("v%d, pieces of %d: %v", v, every, got)
			}
		}
		d := bytes.Clone(b)
		d[len(d)-30] = '!' // in the last record's integrity
		want := s.Check(d)
		got, ok := piecesOf(s, d, 7)
		if !ok || len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("v%d damaged: in pieces %v, whole %v", v, got, want)
		}
	}
}

// TestEncodePieces: the pieces and the header are the bytes of the
// whole encoding, with the packages' strings in the file (Source) or
// elsewhere, and with strings in the file that are not a record's body
// in order.
func TestEncodePieces(t *testing.T) {
	for _, from := range schema.Versions() {
		b := lockgen.Bytes(lockgen.Options{Version: from, Packages: 500, Seed: 12})
		s, _ := schema.Sniff(b)
		inPlace, errs := s.DecodeInPlace(b, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		copied, _ := s.Decode(b)
		mixed := inPlace.Clone()
		// The version of another record: in the file, not behind the name.
		mixed.Packages[10].Version = inPlace.Packages[11].Version
		mixed.Packages[11].Version = inPlace.Packages[10].Version
		for _, to := range schema.Versions() {
			target, _ := schema.Lookup(to)
			for name, l := range map[string]*schema.Lockfile{"in place": inPlace, "copied": copied, "mixed": mixed} {
				want, err := target.EncodeTrusted(l, schema.EncodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				enc, err := target.EncodePieces(l, schema.EncodeOptions{}, true, 64)
				if err != nil {
					t.Fatal(err)
				}
				enc.Source(b)
				var array []byte
				for k := range enc.Pieces() {
					p, first, n := enc.Piece(nil, k)
					if first != 64*k || n != min(64, len(l.Packages)-first) {
						t.Fatalf("piece %d holds records %d..%d", k, first, first+n-1)
					}
					array = append(array, p...)
				}
				got := append(enc.Header(len(array), schema.CRC64(array)), array...)
				if !bytes.Equal(got, want) {
					t.Errorf("v%d -> v%d, %s: the pieces are not the whole encoding", from, to, name)
				}
			}
		}
	}
}
