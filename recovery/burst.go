package recovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"

	"github.com/lockfix/lockfix/schema"
)

// The burst search: damage at an unknown position, a contiguous run of
// bytes (a misdirected write, a bad sector fragment), in a header whose
// stored CRC-64 survived.
//
// Every bit of a header is either fixed by the format's rules (the magic,
// the version, the reserved byte, padding, the undefined flag bits, the
// high bits of the terminal mode, the high bit of a writer byte, and the
// count and array fields when the array is intact) or free. The fixed
// bits are put back first. The damage then lies in the free bits of some
// window of the header, and over GF(2) the syndrome s = stored ^ computed
// is the sum of the columns of the flipped free bits. For each start
// byte, the columns of the free bits from that byte on are reduced once,
// in order, into an echelon basis (each entry zero at the pivots of the
// entries before it), so that reducing s through a prefix of the list is
// the solution over the window that prefix covers: the search is one pass
// of at most 64 XORs per start byte over a basis computed once per
// layout.
//
// A window of k unknowns leaves 64-k equations of redundancy: the
// chance that a syndrome of damage elsewhere is consistent with it is
// 2^(k-64). A solution is accepted only with at least burstRedundancy
// bits of it, counting, for windows over the registry hash, the bits the
// packages' registries pin down; it must give a valid header, and it must
// be the only distinct header any window gives.

const (
	maxBurst        = 16 // bytes in a window
	burstRedundancy = 16 // bits of redundancy a solution must keep
	registrySlack   = 4  // bits a registry check is worth less than its width (several registries)
)

// burstEntry is one unknown of the windows from a start byte, reduced.
type burstEntry struct {
	v, m uint64 // reduced column; the unknowns it combines (bit i: unknown i)
	piv  uint8  // its highest set bit
	bit  uint16 // the header bit of unknown i
}

// burstStart is the reduced list of the unknowns from one start byte:
// entries up to the first dependent unknown, at most 64.
type burstStart struct {
	ents []burstEntry
	// byteEnd[i] is the number of unknowns in the whole bytes up to and
	// including the byte of unknown i: the k of that window.
	byteEnd []uint8
}

// burstPlan is the burst search of one layout: the free bits of each
// header byte and the reduced windows from each start byte.
type burstPlan struct {
	free   []byte
	starts []burstStart
}

var (
	burstMu    sync.Mutex
	burstPlans = map[burstKey]*burstPlan{}
)

type burstKey struct {
	s        *schema.Schema
	derivedK bool
}

// freeBits returns, for each byte of the header of s, the mask of its
// bits the format leaves free. With derivedKnown, the fields the intact
// array determines are fixed.
func freeBits(s *schema.Schema, derivedKnown bool) []byte {
	free := make([]byte, s.HeaderSize)
	set := func(f *schema.HeaderField, m byte) {
		for i := f.Offset; i < f.End(); i++ {
			free[i] = m
		}
	}
	for i := range s.Header {
		f := &s.Header[i]
		switch f.Kind {
		case schema.KindConfig:
			switch f.Offset {
			case schema.OffReserved:
			case schema.OffFeatureFlags:
				var fb [4]byte
				binary.BigEndian.PutUint32(fb[:], uint32(s.Flags))
				copy(free[f.Offset:], fb[:])
			case schema.OffTerminalMode:
				set(f, 0x03)
			default:
				set(f, 0xff)
			}
		case schema.KindHeaderChecksum:
			set(f, 0xff)
		case schema.KindCount, schema.KindArraySize, schema.KindArrayChecksum:
			if !derivedKnown {
				set(f, 0xff)
			}
		case schema.KindWriter:
			set(f, 0x7f)
		}
	}
	return free
}

// planFor returns the burst plan of s, building it once.
func planFor(s *schema.Schema, derivedKnown bool) *burstPlan {
	burstMu.Lock()
	defer burstMu.Unlock()
	key := burstKey{s, derivedKnown}
	if p := burstPlans[key]; p != nil {
		return p
	}
	t := syndromes(s.HeaderSize, crcOffset(s))
	p := &burstPlan{free: freeBits(s, derivedKnown), starts: make([]burstStart, s.HeaderSize)}
	for a := range p.starts {
		st := &p.starts[a]
		dependent := false
		for j := a; j < min(a+maxBurst, s.HeaderSize) && !dependent; j++ {
			n0 := len(st.ents)
			for k := 0; k < 8; k++ {
				if p.free[j]>>uint(k)&1 == 0 {
					continue
				}
				if len(st.ents) == 64 {
					dependent = true
					break
				}
				bit := j*8 + k
				v, m := t.col[bit], uint64(1)<<uint(len(st.ents))
				for _, e := range st.ents {
					if v>>e.piv&1 == 1 {
						v ^= e.v
						m ^= e.m
					}
				}
				if v == 0 {
					dependent = true // no window from a this long is unique
					break
				}
				st.ents = append(st.ents, burstEntry{v: v, m: m, piv: uint8(bits.Len64(v) - 1), bit: uint16(bit)})
			}
			if dependent {
				// The byte j is not whole in any unique window: drop its
				// unknowns.
				st.ents = st.ents[:n0]
			}
		}
		st.byteEnd = make([]uint8, len(st.ents))
		for i := len(st.ents) - 1; i >= 0; i-- {
			if i == len(st.ents)-1 || st.ents[i+1].bit/8 != st.ents[i].bit/8 {
				st.byteEnd[i] = uint8(i + 1)
			} else {
				st.byteEnd[i] = st.byteEnd[i+1]
			}
		}
	}
	burstPlans[key] = p
	return p
}

// normalize puts back the bits the format fixes (the free mask's zeros in
// the fields whose free bits are a subset of a byte: the undefined flag
// bits, the high bits of the terminal mode and of writer bytes).
func normalize(s *schema.Schema, h []byte, free []byte) {
	for i := range s.Header {
		f := &s.Header[i]
		if f.Kind == schema.KindWriter || f.Kind == schema.KindConfig && (f.Offset == schema.OffFeatureFlags || f.Offset == schema.OffTerminalMode) {
			for j := f.Offset; j < f.End(); j++ {
				h[j] &= free[j]
			}
		}
	}
}

// burstResult is the answer of the burst search.
type burstResult struct {
	h        []byte // the repaired header
	from, to int    // the window's first and last byte
	unknowns int    // free bits in the window
	how      string
}

// searchBurst looks for the one contiguous run of damage that accounts
// for the checksum mismatch of h (the fixed fields already restored) and
// leaves a valid header. regs gives the packages' registry hashes, for
// windows that need them.
func searchBurst(s *schema.Schema, h []byte, derivedKnown bool, regs func() map[uint32]bool) (burstResult, bool) {
	off := crcOffset(s)
	if off < 0 || len(h) != s.HeaderSize {
		return burstResult{}, false
	}
	p := planFor(s, derivedKnown)
	base := bytes.Clone(h)
	normalize(s, base, p.free)
	syn := syndrome(base, off)
	if syn == 0 {
		if s.HeaderValid(base) {
			return burstResult{h: base, from: -1, how: "the fixed bits put back, the header CRC-64 holds"}, true
		}
		return burstResult{}, false
	}
	var found burstResult
	n := 0
	work := make([]byte, len(h))
	regLo, regHi := schema.OffRegistryHash*8, (schema.OffRegistryHash+4)*8
	for a := range p.starts {
		st := &p.starts[a]
		r, m := syn, uint64(0)
		i := 0
		for ; i < len(st.ents); i++ {
			e := &st.ents[i]
			if r>>e.piv&1 == 1 {
				r ^= e.v
				m ^= e.m
			}
			if r == 0 {
				break
			}
		}
		if r != 0 {
			continue // not explained by a window from a
		}
		k := int(st.byteEnd[i])
		if int(st.ents[bits.TrailingZeros64(m)].bit)/8 != a {
			continue // the answer leaves byte a alone: a later start finds it
		}
		regBits := 0
		for _, e := range st.ents[:k] {
			if int(e.bit) >= regLo && int(e.bit) < regHi {
				regBits++
			}
		}
		red := 64 - k
		needReg := false
		if red < burstRedundancy {
			if regBits == 0 || red+regBits-registrySlack < burstRedundancy {
				continue
			}
			needReg = true
		}
		copy(work, base)
		last := 0
		for j := 0; j < k; j++ {
			if m>>uint(j)&1 == 1 {
				b := int(st.ents[j].bit)
				work[b/8] ^= 1 << uint(b%8)
				last = b / 8
			}
		}
		if !s.HeaderValid(work) {
			continue
		}
		if needReg && !regs()[binary.BigEndian.Uint32(work[schema.OffRegistryHash:])] {
			continue
		}
		if n > 0 && bytes.Equal(found.h, work) {
			continue
		}
		n++
		if n > 1 {
			return burstResult{}, false // two headers explain it: never guess
		}
		lo, hi := a, last
		for j := range h {
			if h[j] != work[j] {
				lo, hi = min(lo, j), max(hi, j)
			}
		}
		how := fmt.Sprintf("burst over bytes 0x%02x-0x%02x: %d unknown bits of bytes 0x%02x-0x%02x solved from the header CRC-64, the bits the format fixes put back, the only valid header any window of up to %d bytes gives", lo, hi, k, a, last, maxBurst)
		if needReg {
			how += "; its registryHash is a registry of the packages"
		}
		found = burstResult{h: bytes.Clone(work), from: lo, to: hi, unknowns: k, how: how}
	}
	return found, n == 1
}
