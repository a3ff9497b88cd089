package schema_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// frameOffsets returns the offset of every record of a valid v2 file.
func frameOffsets(b []byte) []int {
	var offs []int
	for off := v2.Schema.HeaderSize; off < len(b); {
		offs = append(offs, off)
		off += v2.Framing.Overhead() + int(binary.BigEndian.Uint32(b[off+2:]))
	}
	return offs
}

// TestParallelCheckAgrees checks large damaged v2 files, whose records
// are checked in chunks on several goroutines, and requires the same
// problems, in the same order, as the check on one goroutine.
func TestParallelCheckAgrees(t *testing.T) {
	good := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 20_000, Seed: 3})
	offs := frameOffsets(good)
	// split is a boundary between two chunks of schema/v2's parallel
	// check (4096 records each).
	const split = 4096
	mid := offs[split]
	cases := map[string]func(b []byte) []byte{
		"valid":                 func(b []byte) []byte { return b },
		"bad marker in chunk 0": func(b []byte) []byte { b[offs[100]] = 'Q'; return b },
		"bad size at the split": func(b []byte) []byte { binary.BigEndian.PutUint32(b[mid+2:], 9000); return b },
		"bad marker in chunk 1": func(b []byte) []byte { b[offs[15000]] = 'Q'; return b },
		"record CRC in chunk 1": func(b []byte) []byte { b[offs[12000]+9] ^= 1; return b },
		"bad name before split": func(b []byte) []byte {
			b[offs[split-1]+8] = ' '
			return b
		},
		"problems in four chunks, in order": func(b []byte) []byte {
			for _, i := range []int{100, 5000, 9000, 19000} {
				b[offs[i]+9] ^= 1
			}
			return b
		},
		"torn": func(b []byte) []byte { return b[:len(b)-30] },
		"packageCount far too large": func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[v2.Schema.Field("packageCount").Offset:], 0xffffffff)
			return b
		},
		"trailing": func(b []byte) []byte { return append(b, "PK"...) },
		"unsorted at the split": func(b []byte) []byte {
			l, _ := schema.Decode(b)
			p := l.Packages
			p[split-1], p[split] = p[split], p[split-1]
			return encodeRaw(b, p, true)
		},
	}
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	for name, damage := range cases {
		b := damage(slices.Clone(good))
		runtime.GOMAXPROCS(1)
		one := fmt.Sprint(schema.Check(b))
		runtime.GOMAXPROCS(4)
		many := fmt.Sprint(schema.Check(b))
		if one != many {
			t.Errorf("%s: in parallel\n%s\none goroutine\n%s", name, many, one)
		}
		if name != "valid" && one == "[]" {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// arriving is a buffer filled in order by a goroutine, a step at a time,
// as a file being read is: ready waits for the bytes a check asks for.
type arriving struct {
	buf  []byte
	mu   sync.Mutex
	cond *sync.Cond
	in   int
}

func fill(src []byte, step int) *arriving {
	a := &arriving{buf: make([]byte, len(src))}
	a.cond = sync.NewCond(&a.mu)
	go func() {
		for off := 0; off < len(src); off += step {
			end := min(off+step, len(src))
			copy(a.buf[off:end], src[off:end])
			a.mu.Lock()
			a.in = end
			a.cond.Broadcast()
			a.mu.Unlock()
			runtime.Gosched()
		}
	}()
	return a
}

func (a *arriving) ready(n int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.in < n {
		a.cond.Wait()
	}
	return a.in
}

// TestCheckArrivingAgrees checks large v2 files, valid and damaged, while
// they arrive a step at a time, and requires the problems of Check on the
// whole bytes. A read of a byte before it arrived sees a zero (a wrong
// answer here) and races with the copy (a report under -race).
func TestCheckArrivingAgrees(t *testing.T) {
	s, ok := schema.Lookup(2)
	if !ok || s.Framing == nil {
		t.Fatal("version 2 has no framed records")
	}
	good := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 20_000, Seed: 5})
	offs := frameOffsets(good)
	cases := map[string]func(b []byte) []byte{
		"valid":             func(b []byte) []byte { return b },
		"record CRC early":  func(b []byte) []byte { b[offs[10]+9] ^= 1; return b },
		"bad marker late":   func(b []byte) []byte { b[offs[17000]] = 'Q'; return b },
		"array CRC":         func(b []byte) []byte { b[v2.Schema.Field("packagesChecksum").Offset] ^= 1; return b },
		"bad size mid-file": func(b []byte) []byte { binary.BigEndian.PutUint32(b[offs[9000]+2:], 5000); return b },
		"trailing":          func(b []byte) []byte { return append(b, "PK"...) },
		"torn":              func(b []byte) []byte { return b[:len(b)-30] },
	}
	for name, damage := range cases {
		b := damage(slices.Clone(good))
		want := fmt.Sprint(schema.Check(b))
		for _, step := range []int{1 << 10, 64 << 10} {
			a := fill(b, step)
			if got := fmt.Sprint(s.CheckArriving(a.buf, a.ready)); got != want {
				t.Errorf("%s, arriving %d bytes at a time:\n%s\nwant\n%s", name, step, got, want)
			}
			a.ready(len(b)) // let the filler end before the next case
		}
		if name != "valid" && want == "[]" {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// plainOffsets returns the offset of every record of a valid v1 file.
func plainOffsets(b []byte) []int {
	var offs []int
	for off := 0x40; off < len(b); {
		offs = append(offs, off)
		for range 4 {
			off += 2 + int(binary.BigEndian.Uint16(b[off:]))
		}
	}
	return offs
}

// TestParallelPlainCheckAgrees is TestParallelCheckAgrees for plain (v1)
// records, whose chunks are found by hopping over their lengths.
func TestParallelPlainCheckAgrees(t *testing.T) {
	good := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 20_000, Seed: 3})
	offs := plainOffsets(good)
	const split = 4096
	count := func(b []byte, n uint32) []byte {
		binary.BigEndian.PutUint32(b[0x19:], n)
		return fixCRC(b)
	}
	cases := map[string]func(b []byte) []byte{
		"valid":                    func(b []byte) []byte { return b },
		"bad name in chunk 0":      func(b []byte) []byte { b[offs[100]+2] = ' '; return b },
		"bad name before split":    func(b []byte) []byte { b[offs[split-1]+2] = ' '; return b },
		"bad name at the split":    func(b []byte) []byte { b[offs[split]+2] = ' '; return b },
		"length over the limit":    func(b []byte) []byte { binary.BigEndian.PutUint16(b[offs[9000]:], 0xffff); return b },
		"length past the end":      func(b []byte) []byte { binary.BigEndian.PutUint16(b[offs[19999]:], 2000); return b },
		"problems in four chunks":  func(b []byte) []byte { return badNames(b, offs, 100, 5000, 9000, 19000) },
		"torn":                     func(b []byte) []byte { return b[:len(b)-30] },
		"ends before the count":    func(b []byte) []byte { return b[:offs[15000]] },
		"packageCount far too big": func(b []byte) []byte { return count(b, 0xffffffff) },
		"packageCount too small":   func(b []byte) []byte { return count(b, 12000) },
		"zeros": func(b []byte) []byte {
			// Empty records of 8 bytes each, fewer bytes than valid
			// records of MinPlainRecord need.
			return count(append(b[:0x40], make([]byte, 8*20_000)...), 20_000)
		},
		"trailing": func(b []byte) []byte { return append(b, 0, 3, 'a') },
		"unsorted at the split": func(b []byte) []byte {
			l, _ := schema.Decode(b)
			p := l.Packages
			p[split-1], p[split] = p[split], p[split-1]
			return encodeRaw(b, p, false)
		},
	}
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	for name, damage := range cases {
		b := damage(slices.Clone(good))
		runtime.GOMAXPROCS(1)
		one := fmt.Sprint(schema.Check(b))
		l1, err1 := schema.Decode(b)
		runtime.GOMAXPROCS(4)
		many := fmt.Sprint(schema.Check(b))
		l4, err4 := schema.Decode(b)
		if one != many {
			t.Errorf("%s: in parallel\n%s\none goroutine\n%s", name, many, one)
		}
		if fmt.Sprint(err1) != fmt.Sprint(err4) || (l1 == nil) != (l4 == nil) || l1 != nil && !slices.Equal(l1.Packages, l4.Packages) {
			t.Errorf("%s: Decode in parallel differs: %v, on one goroutine %v", name, err4, err1)
		}
		if name != "valid" && one == "[]" {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// badNames breaks the name of each record i of a plain file.
func badNames(b []byte, offs []int, is ...int) []byte {
	for _, i := range is {
		b[offs[i]+2] = ' '
	}
	return b
}

// TestParallelEncodeAgrees encodes a large lockfile at every version on
// one goroutine and on several (its records then go in chunks), and
// requires the same bytes, which decode to the same content.
func TestParallelEncodeAgrees(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	for _, v := range schema.Versions() {
		l := lockgen.Lockfile(lockgen.Options{Version: v, Packages: 20_001, Seed: 4})
		s, _ := schema.Lookup(v)
		runtime.GOMAXPROCS(1)
		one, err := s.Encode(l)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GOMAXPROCS(4)
		many, err := s.Encode(l)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, many) {
			t.Errorf("v%d: the bytes encoded in parallel differ", v)
		}
		back, err := schema.Decode(many)
		if err != nil || !slices.Equal(back.Packages, l.Packages) {
			t.Errorf("v%d: the bytes encoded in parallel do not decode to the lockfile: %v", v, err)
		}
	}
}

// TestCheckVisit: CheckVisit returns Check's problems and shows every
// record of a valid file exactly once, each run's records in order on
// one goroutine, for every version, small (one run) and large (runs
// checked in parallel); a file with a damaged record still has every
// record whose strings can be read shown.
func TestCheckVisit(t *testing.T) {
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		for _, n := range []int{0, 7, 30_000} {
			good := lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: uint64(n + v)})
			want, err := s.Decode(good)
			if err != nil {
				t.Fatal(err)
			}
			cases := map[string][]byte{"valid": good}
			if n > 0 {
				// A byte of the last record's integrity that is not base64:
				// the record still reads, and breaks a rule.
				damaged := slices.Clone(good)
				damaged[len(damaged)-10] = '!'
				cases["damaged"] = damaged
			}
			for name, b := range cases {
				var mu sync.Mutex
				seen := make([]int, n)
				visit := func(first int) func(int, *schema.RawPackage) {
					next := first
					return func(i int, r *schema.RawPackage) {
						if i != next {
							t.Errorf("v%d %s: run from %d showed record %d after %d", v, name, first, i, next-1)
						}
						next = i + 1
						if name == "valid" && r.Package() != want.Packages[i] {
							t.Errorf("v%d: record %d shown as %+v", v, i, r.Package())
						}
						mu.Lock()
						seen[i]++
						mu.Unlock()
					}
				}
				got := s.CheckVisit(b, nil, visit)
				if fmt.Sprint(got) != fmt.Sprint(s.Check(b)) || (name == "valid") != (len(got) == 0) {
					t.Fatalf("v%d %d %s: CheckVisit says %v, Check %v", v, n, name, got, s.Check(b))
				}
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("v%d %d %s: record %d shown %d times", v, n, name, i, c)
					}
				}
			}
		}
	}
}
