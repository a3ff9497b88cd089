package recovery

import (
	"encoding/binary"
	"math/bits"
	"sync"

	"github.com/lockfix/lockfix/schema"
)

// The header CRC-64 is affine over GF(2): crc(x ^ e) = crc(x) ^ L(e) with
// L linear. A header is n bytes with the stored checksum at some offset;
// the checksum bytes are taken as zero when computing, so a flip there
// changes the stored value instead. The syndrome of a header is
// stored ^ computed: zero for an intact header, and L(e) for an error
// pattern e. syndromes holds L(e_i) for every single-bit error e_i.

// syndromeTable is the syndrome of every single-bit error of a header of
// one size, and the reverse map for single and double corrections.
type syndromeTable struct {
	size  int      // header size in bytes
	off   int      // offset of the stored checksum
	col   []uint64 // col[i] = L(e_i), bit i = byte i/8, bit i%8 (LSB 0)
	index syndromeIndex
}

// syndromeIndex maps a syndrome to its bit: an open-addressed table
// (linear probing, a quarter full), which a double correction probes once
// per bit of the header. No syndrome of a single bit is zero, so zero
// marks an empty slot.
type syndromeIndex struct {
	keys  []uint64
	bits  []int32
	shift uint
}

func newSyndromeIndex(n int) syndromeIndex {
	size, shift := 1, uint(64)
	for size < 4*n {
		size <<= 1
		shift--
	}
	return syndromeIndex{keys: make([]uint64, size), bits: make([]int32, size), shift: shift}
}

func (x *syndromeIndex) slot(s uint64) int { return int((s * 0x9e3779b97f4a7c15) >> x.shift) }

func (x *syndromeIndex) put(s uint64, bit int) {
	mask := len(x.keys) - 1
	i := x.slot(s)
	for x.keys[i] != 0 && x.keys[i] != s {
		i = (i + 1) & mask
	}
	x.keys[i], x.bits[i] = s, int32(bit)
}

func (x *syndromeIndex) get(s uint64) (int, bool) {
	if s == 0 {
		return 0, false
	}
	mask := len(x.keys) - 1
	for i := x.slot(s); x.keys[i] != 0; i = (i + 1) & mask {
		if x.keys[i] == s {
			return int(x.bits[i]), true
		}
	}
	return 0, false
}

var (
	tablesMu sync.Mutex
	tables   = map[[2]int]*syndromeTable{}
)

// syndromes returns the table for headers of size bytes whose checksum is
// at offChecksum, building it once.
func syndromes(size, offChecksum int) *syndromeTable {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	key := [2]int{size, offChecksum}
	if t := tables[key]; t != nil {
		return t
	}
	t := &syndromeTable{size: size, off: offChecksum, col: make([]uint64, size*8), index: newSyndromeIndex(size * 8)}
	buf := make([]byte, size)
	zero := schema.HeaderCRC(buf, offChecksum)
	for i := range t.col {
		byteAt, bit := i/8, uint(i%8)
		if byteAt >= offChecksum && byteAt < offChecksum+8 {
			// A flip of the stored checksum: stored is big-endian.
			t.col[i] = 1 << (uint(7-(byteAt-offChecksum))*8 + bit)
		} else {
			buf[byteAt] = 1 << bit
			t.col[i] = schema.HeaderCRC(buf, offChecksum) ^ zero
			buf[byteAt] = 0
		}
		t.index.put(t.col[i], i)
	}
	tables[key] = t
	return t
}

// syndrome returns stored ^ computed for header h whose checksum is at
// offChecksum.
func syndrome(h []byte, offChecksum int) uint64 {
	return binary.BigEndian.Uint64(h[offChecksum:]) ^ schema.HeaderCRC(h, offChecksum)
}

// corrections returns every error pattern of one or two bits whose
// syndrome is s, each as a list of bit positions. FORMAT.md: at the header
// sizes of the format all of them are distinct, so there is at most one;
// the caller still accepts a correction only when exactly one yields a
// valid header. It runs in O(n) with the index: for each i, the
// partner of a double error is the bit whose syndrome is s ^ L(e_i).
func (t *syndromeTable) corrections(s uint64) [][]int {
	if s == 0 {
		return nil
	}
	var out [][]int
	if i, ok := t.index.get(s); ok {
		out = append(out, []int{i})
	}
	for i, c := range t.col {
		if j, ok := t.index.get(s ^ c); ok && j > i {
			out = append(out, []int{i, j})
		}
	}
	return out
}

// solve finds the unique x over GF(2) with sum_i x_i*cols[i] = s, by
// Gaussian elimination on the 64 equations (one per syndrome bit) in
// len(cols) <= 64 unknowns. It fails when the columns are dependent (the
// answer would not be unique) or the equations are inconsistent (the
// damage is not confined to the unknowns).
func solve(cols []uint64, s uint64) (uint64, bool) {
	k := len(cols)
	if k == 0 || k > 64 {
		return 0, false
	}
	var rows [64]uint64
	var rhs uint64
	for r := 0; r < 64; r++ {
		var row uint64
		for i, c := range cols {
			row |= (c >> uint(r) & 1) << uint(i)
		}
		rows[r] = row
	}
	rhs = s
	rank := 0
	for col := 0; col < k; col++ {
		p := -1
		for r := rank; r < 64; r++ {
			if rows[r]>>uint(col)&1 == 1 {
				p = r
				break
			}
		}
		if p < 0 {
			return 0, false // rank deficit: more than one solution
		}
		rows[p], rows[rank] = rows[rank], rows[p]
		bp, br := rhs>>uint(p)&1, rhs>>uint(rank)&1
		rhs &^= 1<<uint(p) | 1<<uint(rank)
		rhs |= bp<<uint(rank) | br<<uint(p)
		for r := 0; r < 64; r++ {
			if r != rank && rows[r]>>uint(col)&1 == 1 {
				rows[r] ^= rows[rank]
				rhs ^= (rhs >> uint(rank) & 1) << uint(r)
			}
		}
		rank++
	}
	if rank < 64 && rhs>>uint(rank) != 0 {
		return 0, false // inconsistent: the damage is elsewhere too
	}
	// Row i now reads x_i = rhs_i.
	var x uint64
	if k == 64 {
		x = rhs
	} else {
		x = rhs & (1<<uint(k) - 1)
	}
	return x, true
}

// fixRecordBit finds the single flipped bit of a framed record whose
// CRC-32C fails: in the body or in the stored CRC. It returns the bit's
// position in the body (byte*8+bit), or -1 with inStored set for a flip
// of the stored CRC, and ok false when no single flip explains it.
//
// A flip of bit k of body byte j changes the CRC by T[1<<k] advanced
// through the n-1-j bytes after it, so walking from the last byte to the
// first keeps eight registers and compares them with the syndrome: O(8n),
// no recomputation of the CRC.
func fixRecordBit(body []byte, stored uint32) (pos int, inStored, ok bool) {
	s := schema.CRC32C(body) ^ stored
	if s == 0 {
		return 0, false, false
	}
	if bits.OnesCount32(s) == 1 {
		return -1, true, true
	}
	castagnoli := schema.CRC32CTable()
	var v [8]uint32
	for k := range v {
		v[k] = castagnoli[1<<uint(k)]
	}
	for j := len(body) - 1; j >= 0; j-- {
		for k := range v {
			if v[k] == s {
				return j*8 + k, false, true
			}
		}
		for k := range v {
			v[k] = castagnoli[byte(v[k])] ^ v[k]>>8
		}
	}
	return 0, false, false
}
