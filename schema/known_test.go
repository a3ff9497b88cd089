package schema_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// TestCheckKnownAgrees damages v1 and v2 files, small (checked on one
// goroutine) and large (in parallel chunks), and checks them with a known
// that vouches for the records whose strings are a package of the good
// file, wherever it lies: CheckKnown must find exactly the problems of
// Check. A record whose strings were damaged is not vouched for and is
// checked in full; swapped records are vouched for and their order is
// still checked.
func TestCheckKnownAgrees(t *testing.T) {
	for _, v := range []int{1, 2} {
		for _, n := range []int{50, 20_000} {
			good := lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: 9})
			l, err := schema.Decode(good)
			if err != nil {
				t.Fatal(err)
			}
			set := map[schema.Package]bool{}
			for _, p := range l.Packages {
				set[p] = true
			}
			s, _ := schema.Lookup(v)
			framed := s.Framing != nil
			// at is the offset of record i's name (its length prefix).
			at := func(b []byte, i int) int {
				off := s.HeaderSize
				for j := range i {
					off += s.RecordSize(&l.Packages[j])
				}
				if framed {
					off += 6
				}
				return off
			}
			mid := n / 2
			cases := map[string]func(b []byte) []byte{
				"valid":       func(b []byte) []byte { return b },
				"bad name":    func(b []byte) []byte { b[at(b, mid)+2] = ' '; return b },
				"bad version": func(b []byte) []byte { o := at(b, mid); b[o+2+int(binary.BigEndian.Uint16(b[o:]))+2] = 'x'; return b },
				"unsorted": func(b []byte) []byte {
					p := slices.Clone(l.Packages)
					p[mid], p[mid+1] = p[mid+1], p[mid]
					return encodeRaw(b, p, framed)
				},
				"duplicate": func(b []byte) []byte {
					p := slices.Insert(slices.Clone(l.Packages), mid, l.Packages[mid])
					return encodeRaw(b, p, framed)
				},
				"torn":     func(b []byte) []byte { return b[:len(b)-3] },
				"trailing": func(b []byte) []byte { return append(b, 0, 1, 'a') },
			}
			for name, damage := range cases {
				b := damage(slices.Clone(good))
				want := fmt.Sprint(schema.Check(b))
				var mu sync.Mutex
				asked := map[int]int{}
				got := fmt.Sprint(s.CheckKnown(b, func(i int, r *schema.RawPackage) bool {
					mu.Lock()
					asked[i]++
					mu.Unlock()
					return set[r.Package()]
				}))
				if got != want {
					t.Errorf("v%d, %d packages, %s: CheckKnown\n%s\nCheck\n%s", v, n, name, got, want)
				}
				for i, k := range asked {
					if k > 1 {
						t.Errorf("v%d, %d packages, %s: known asked %d times about record %d", v, n, name, k, i)
					}
				}
				if name == "valid" && len(asked) != n {
					t.Errorf("v%d, %d packages: known asked about %d records, want all %d", v, n, len(asked), n)
				}
				if name != "valid" && want == "[]" {
					t.Errorf("v%d, %d packages, %s: no problem found", v, n, name)
				}
			}
		}
	}
}

// TestCheckKnownSkipsRules: a record known vouches for does not have its
// strings' rules checked (its caller has them from a check already), while
// its checksum still is.
func TestCheckKnownSkipsRules(t *testing.T) {
	for _, v := range []int{1, 2} {
		s, _ := schema.Lookup(v)
		l := lockgen.Lockfile(lockgen.Options{Version: v, Packages: 5, Seed: 2})
		l.Packages[2].Version = "not-semver"
		good := lockgen.Bytes(lockgen.Options{Version: v, Packages: 5, Seed: 2})
		b := encodeRaw(good, l.Packages, s.Framing != nil)
		if len(schema.Check(b)) == 0 {
			t.Fatalf("v%d: the bad version is not found by Check", v)
		}
		yes := func(int, *schema.RawPackage) bool { return true }
		if errs := s.CheckKnown(b, yes); len(errs) != 0 {
			t.Errorf("v%d: CheckKnown with every record vouched for = %v, want no problem", v, errs)
		}
		if s.Framing != nil {
			b[len(b)-1] ^= 1
			if errs := s.CheckKnown(b, yes); len(errs) == 0 {
				t.Errorf("v%d: CheckKnown misses a record checksum", v)
			}
		}
	}
}

// TestDecodeInPlaceIsDecode: the decode that shares its input's bytes
// gives what the strict decoder gives, for every version, with and
// without packages, with a writer, on one goroutine and in parallel
// chunks, and every problem of Check for a damaged file.
func TestDecodeInPlaceIsDecode(t *testing.T) {
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		for _, n := range []int{0, 1, 300, 20_000} {
			b := lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: uint64(n + v), Writer: "bench 1.0"})
			want, err := s.Decode(b)
			if err != nil {
				t.Fatalf("v%d, %d packages: %v", v, n, err)
			}
			got, errs := s.DecodeInPlace(b, nil)
			if len(errs) > 0 || got.Config != want.Config || got.Writer != want.Writer || !slices.Equal(got.Packages, want.Packages) || len(got.Packages) != n {
				t.Errorf("v%d, %d packages: DecodeInPlace = %v, %d packages, want %+v (%d)", v, n, errs, len(got.Packages), want.Config, len(want.Packages))
			}
			if n == 0 {
				continue
			}
			bad := slices.Clone(b)
			bad[len(bad)-1] ^= 0x40
			got, errs = s.DecodeInPlace(bad, nil)
			if got != nil || fmt.Sprint(errs) != fmt.Sprint(s.Check(bad)) {
				t.Errorf("v%d, %d packages, damaged: DecodeInPlace = %v, %v; want nil and %v", v, n, got != nil, errs, s.Check(bad))
			}
		}
	}
}

// TestDecodeArrivingAgrees decodes large v1 and v2 files, valid and
// damaged, while they arrive a step at a time (plain records are hopped
// over as they arrive), and requires the problems of Check on the whole
// bytes and, for a valid file, Decode's packages. A read of a byte before
// it arrived sees a zero (a wrong answer here) and races with the copy (a
// report under -race).
func TestDecodeArrivingAgrees(t *testing.T) {
	for _, v := range []int{1, 2} {
		s, _ := schema.Lookup(v)
		good := lockgen.Bytes(lockgen.Options{Version: v, Packages: 20_000, Seed: 6})
		cases := map[string]func(b []byte) []byte{
			"valid":     func(b []byte) []byte { return b },
			"early":     func(b []byte) []byte { b[s.HeaderSize+300] = 0xff; return b },
			"late":      func(b []byte) []byte { b[len(b)-5000] = 0xff; return b },
			"torn":      func(b []byte) []byte { return b[:len(b)-30] },
			"trailing":  func(b []byte) []byte { return append(b, 0, 2, 'a') },
			"big count": func(b []byte) []byte { b[s.Field("packageCount").Offset] = 0x7f; return b },
		}
		for name, damage := range cases {
			b := damage(slices.Clone(good))
			want := fmt.Sprint(schema.Check(b))
			wantL, _ := schema.Decode(b)
			for _, step := range []int{1 << 10, 64 << 10} {
				a := fill(b, step)
				l, errs := s.DecodeInPlace(a.buf, a.ready)
				if got := fmt.Sprint(errs); got != want {
					t.Errorf("v%d, %s, arriving %d bytes at a time:\n%s\nwant\n%s", v, name, step, got, want)
				}
				if (l == nil) != (wantL == nil) || l != nil && !slices.Equal(l.Packages, wantL.Packages) {
					t.Errorf("v%d, %s, arriving %d bytes at a time: the packages differ from Decode's", v, name, step)
				}
				a.ready(len(b))
			}
			if name != "valid" && want == "[]" {
				t.Errorf("v%d, %s: no problem found", v, name)
			}
		}
	}
}
