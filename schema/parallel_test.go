package schema_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// frameOffsets returns the offset of every record of a valid v2 file.
func frameOffsets(b []byte) []int {
	var offs []int
	for off := v2.HeaderSize; off < len(b); {
		offs = append(offs, off)
		off += v2.FrameOverhead + int(binary.BigEndian.Uint32(b[off+2:]))
	}
	return offs
}

// TestParallelCheckAgrees checks large damaged v2 files, whose records
// are checked in chunks on several goroutines, and requires the same
// problems, in the same order, as the check on one goroutine.
func TestParallelCheckAgrees(t *testing.T) {
	good := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 20_000, Seed: 3})
	offs := frameOffsets(good)
	mid := offs[len(offs)/2]
	cases := map[string]func(b []byte) []byte{
		"valid":                 func(b []byte) []byte { return b },
		"bad marker in chunk 0": func(b []byte) []byte { b[offs[100]] = 'Q'; return b },
		"bad size at the split": func(b []byte) []byte { binary.BigEndian.PutUint32(b[mid+2:], 9000); return b },
		"bad marker in chunk 1": func(b []byte) []byte { b[offs[15000]] = 'Q'; return b },
		"record CRC in chunk 1": func(b []byte) []byte { b[offs[12000]+9] ^= 1; return b },
		"bad name before split": func(b []byte) []byte {
			b[offs[len(offs)/2-1]+8] = ' '
			return b
		},
		"torn":     func(b []byte) []byte { return b[:len(b)-30] },
		"trailing": func(b []byte) []byte { return append(b, "PK"...) },
		"unsorted at the split": func(b []byte) []byte {
			l, _ := schema.Decode(b)
			p := l.Packages
			k := len(p) / 2
			p[k-1], p[k] = p[k], p[k-1]
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
