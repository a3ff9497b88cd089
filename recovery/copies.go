package recovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// Copies: a peer whose packages overlap the damaged file's is a copy of
// it. A stretch of records the damaged file lost (a torn tail, garbage,
// a record whose CRC-32C fails beyond correction) is taken from the
// copies whose surviving context agrees: the records on both sides of the
// gap are in the copy with the same bytes, the copy holds its records
// between them whole, and they fill the gap's bytes exactly (or, for a
// torn tail, bring the array to the count and size a trusted header
// declares). A fill is proven when the header's array checksum holds
// over the rebuilt array; otherwise it is the fill most copies agree on,
// and needs Mode Yes.

// fill is the records one gap takes from the copies.
type fill struct {
	gap   int      // index in arr.gaps; -1 for a torn tail at a boundary
	recs  []record // the records, in order
	n, m  int      // copies that agree, copies that offered a fill
	names []string
}

// frameSize returns the bytes record r takes in layout s.
func frameSize(s *schema.Schema, r *record) int {
	if s.Framing != nil {
		return len(r.body) + s.Framing.Overhead()
	}
	return len(r.body)
}

// between returns the records of copy c strictly between the records
// with the bodies prev and next (nil: the array's start or end), when c
// holds both with the same bytes and every record between them whole.
func between(c *Peer, prev, next []byte) ([]record, bool) {
	recs := c.arr.recs
	find := func(body []byte) int {
		raw, _, err := schema.ParseBody(body, 0, 0)
		if err != nil {
			return -1
		}
		i, ok := slices.BinarySearchFunc(recs, &raw, func(a record, k *schema.RawPackage) int {
			if c := bytes.Compare(a.name(), k.Name); c != 0 {
				return c
			}
			return bytes.Compare(a.version(), k.Version)
		})
		if !ok || !bytes.Equal(recs[i].body, body) {
			return -1
		}
		return i
	}
	lo, hi := 0, len(recs)
	if prev != nil {
		i := find(prev)
		if i < 0 {
			return nil, false
		}
		lo = i + 1
	} else if len(recs) == 0 || recs[0].off != c.s.HeaderSize {
		return nil, false
	}
	if next != nil {
		i := find(next)
		if i < lo {
			return nil, false
		}
		hi = i
	} else if len(c.arr.gaps) > 0 && c.arr.gaps[len(c.arr.gaps)-1].off >= recs[len(recs)-1].off {
		return nil, false // the copy's own tail is damaged
	}
	// The copy's records from lo-1 to hi must be contiguous: no gap of
	// its own between them.
	for i := max(lo, 1); i <= min(hi, len(recs)-1); i++ {
		if recs[i-1].off+recs[i-1].size != recs[i].off {
			return nil, false
		}
	}
	return recs[lo:hi], true
}

// copies returns the peers that are copies: lockfiles with records.
func copies(peers []*Peer) []*Peer {
	var out []*Peer
	for _, p := range peers {
		if p.arr != nil && len(p.arr.recs) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// fillFromCopies returns arr with the gaps that the copies fill filled,
// and the fills; countField is the count of a trusted header (-1: none).
func fillFromCopies(b []byte, s *schema.Schema, arr *array, countField int, peers []*Peer) (*array, []fill) {
	cs := copies(peers)
	if len(cs) == 0 {
		return nil, nil
	}
	// The gaps, and a torn tail at a record boundary that a trusted count
	// reveals.
	type hole struct {
		gap        int
		at         int // index in arr.recs of the first record after it
		size       int // bytes it must fill; -1 for a tail
		prev, next []byte
	}
	var holes []hole
	ri := 0
	for gi, g := range arr.gaps {
		for ri < len(arr.recs) && arr.recs[ri].off < g.off {
			ri++
		}
		h := hole{gap: gi, at: ri, size: g.end - g.off}
		if ri > 0 {
			h.prev = arr.recs[ri-1].body
		}
		if ri < len(arr.recs) {
			h.next = arr.recs[ri].body
		} else {
			h.size = -1
		}
		holes = append(holes, h)
	}
	if len(arr.gaps) == 0 && countField > len(arr.recs) && len(arr.recs) > 0 {
		holes = append(holes, hole{gap: -1, at: len(arr.recs), size: -1, prev: arr.recs[len(arr.recs)-1].body})
	}
	var fills []fill
	for _, h := range holes {
		type offer struct {
			recs  []record
			names []string
		}
		var offers []offer
		m := 0
		for _, c := range cs {
			got, ok := between(c, h.prev, h.next)
			if !ok {
				continue
			}
			size := 0
			for i := range got {
				size += frameSize(s, &got[i])
			}
			if h.size >= 0 && size != h.size || len(got) == 0 {
				continue
			}
			m++
			i := slices.IndexFunc(offers, func(o offer) bool { return sameRecords(o.recs, got) })
			if i < 0 {
				offers = append(offers, offer{recs: got})
				i = len(offers) - 1
			}
			offers[i].names = append(offers[i].names, c.Name)
		}
		if m == 0 {
			continue
		}
		best := 0
		for i := range offers {
			if len(offers[i].names) > len(offers[best].names) {
				best = i
			}
		}
		if 2*len(offers[best].names) <= m {
			continue // no majority
		}
		fills = append(fills, fill{gap: h.gap, recs: offers[best].recs, n: len(offers[best].names), m: m, names: offers[best].names})
	}
	if len(fills) == 0 {
		return nil, nil
	}
	// The array with the fills in place: the filled records take the
	// offsets of the bytes they replace (a tail runs past the end).
	out := &array{s: s, regs: nil}
	filled := map[int]bool{}
	for _, f := range fills {
		filled[f.gap] = true
	}
	byGap := map[int]fill{}
	for _, f := range fills {
		byGap[f.gap] = f
	}
	ri = 0
	place := func(f fill, at int) int {
		for _, r := range f.recs {
			r.off, r.size, r.rebuilt = at, frameSize(s, &r), true
			out.recs = append(out.recs, r)
			at += r.size
		}
		return at
	}
	end := len(b)
	for gi, g := range arr.gaps {
		for ri < len(arr.recs) && arr.recs[ri].off < g.off {
			out.recs = append(out.recs, arr.recs[ri])
			ri++
		}
		if f, ok := byGap[gi]; ok {
			end = max(end, place(f, g.off))
			continue
		}
		out.gaps = append(out.gaps, g)
	}
	out.recs = append(out.recs, arr.recs[ri:]...)
	if f, ok := byGap[-1]; ok {
		last := &arr.recs[len(arr.recs)-1]
		end = max(end, place(f, last.off+last.size))
	}
	out.end = end
	out.damage = arr.damage
	out.repairs = slices.Clone(arr.repairs)
	return out, fills
}

// sameRecords reports whether a and b hold the same records.
func sameRecords(a, b []record) bool {
	return slices.EqualFunc(a, b, func(x, y record) bool { return bytes.Equal(x.body, y.body) })
}

// describe returns the fill's records for a report.
func (f fill) describe() string {
	var ids []string
	for i, r := range f.recs {
		if i == 3 && len(f.recs) > 4 {
			ids = append(ids, fmt.Sprintf("and %d more", len(f.recs)-3))
			break
		}
		ids = append(ids, string(r.name())+"@"+string(r.version()))
	}
	return fmt.Sprintf("%d records (%s)", len(f.recs), strings.Join(ids, ", "))
}

// copySource names where a fill came from.
func (f fill) source() string {
	names := f.names
	if len(names) > 4 {
		names = append(names[:4:4], fmt.Sprintf("%d more", len(f.names)-4))
	}
	return fmt.Sprintf("%d of %d copies (%s)", f.n, f.m, strings.Join(names, ", "))
}

// arrayProven reports whether the header h of layout s declares the
// array of out (size and CRC-64) and its count: the rebuilt array is
// then exactly the one the header was written with.
func arrayProven(s *schema.Schema, h, out []byte, count int) bool {
	sf, cf := s.FieldOf(schema.KindArraySize), s.FieldOf(schema.KindArrayChecksum)
	if sf == nil || cf == nil {
		return false
	}
	arr := out[s.HeaderSize:]
	return schema.Uint(h[sf.Offset:sf.End()]) == uint64(len(arr)) && schema.Uint(h[cf.Offset:cf.End()]) == schema.CRC64(arr) &&
		int(binary.BigEndian.Uint32(h[countOffset(s):])) == count
}

// declaresArray is arrayProven for out as assemble wrote it: its own
// header already holds its array's size and CRC-64.
func declaresArray(s *schema.Schema, h, out []byte, count int) bool {
	sf, cf := s.FieldOf(schema.KindArraySize), s.FieldOf(schema.KindArrayChecksum)
	if sf == nil || cf == nil || len(out) < s.HeaderSize {
		return false
	}
	return bytes.Equal(h[sf.Offset:sf.End()], out[sf.Offset:sf.End()]) && bytes.Equal(h[cf.Offset:cf.End()], out[cf.Offset:cf.End()]) &&
		int(binary.BigEndian.Uint32(h[countOffset(s):])) == count
}

// byteMajority returns the byte-wise majority of b (whose damaged
// stretches are gaps) and the peers of the same layout, when at least
// three files take part. Each byte is the one a strict majority of the
// files that reach it hold; where they have none, the one a strict
// majority of those that hold it outside their own damaged stretches
// (the records their salvage could not read) hold. A byte that has
// neither fails the majority. The length is the longest that two files
// reach.
//
// The majority is strong when at least two files hold every byte of it
// and every byte was decided by the files that reach it: a majority of
// three copies at every byte, not one file's word where the others are
// damaged.
func byteMajority(b []byte, recs []record, gaps []gap, s *schema.Schema, peers []*Peer) (consensus, bool) {
	srcs := []majoritySource{{b, gaps}}
	names := []string{}
	// A copy holds, at the same offset, the first, the middle or the last
	// record that survives in b as it lies in b (a copy's own damage may
	// hit one of them).
	var anchors []record
	for _, i := range []int{0, len(recs) / 2, len(recs) - 1} {
		if i >= 0 && i < len(recs) && !recs[i].rebuilt && recs[i].off+recs[i].size <= len(b) && (s.Framing != nil || inFile(b, &recs[i])) {
			anchors = append(anchors, recs[i])
		}
	}
	holds := func(p *Peer) bool {
		for _, a := range anchors {
			if len(p.data) >= a.off+a.size && bytes.Equal(p.data[a.off:a.off+a.size], b[a.off:a.off+a.size]) {
				return true
			}
		}
		return false
	}
	for _, p := range peers {
		if !holds(p) {
			continue
		}
		if p.s != nil && p.s.HeaderSize == s.HeaderSize && (p.s.Framing == nil) == (s.Framing == nil) {
			srcs = append(srcs, majoritySource{p.data, p.voteGaps})
			names = append(names, p.Name)
		}
	}
	if len(srcs) < 3 {
		return consensus{}, false
	}
	lens := make([]int, len(srcs))
	for i, x := range srcs {
		lens[i] = len(x.data)
	}
	slices.Sort(lens)
	n := lens[len(lens)-2]
	out := make([]byte, n)
	gi := make([]int, len(srcs)) // the next gap of each source
	reach := make([]int, 0, len(srcs))
	outside := make([]bool, len(srcs))
	strong := true
	var single []lone
	alone := func(si, i, j int) {
		if k := len(single) - 1; k >= 0 && single[k].src == si && single[k].end == i {
			single[k].end = j
			return
		}
		single = append(single, lone{off: i, end: j, src: si})
	}
	for i := 0; i < n; {
		// The files that reach i, those of them outside their own damage,
		// and where that changes: the end of a file, the start or end of
		// one's damage.
		end := n
		reach = reach[:0]
		for si := range srcs {
			x := &srcs[si]
			if i >= len(x.data) {
				continue
			}
			end = min(end, len(x.data))
			reach = append(reach, si)
			outside[si] = true
			for gi[si] < len(x.gaps) && x.gaps[gi[si]].end <= i {
				gi[si]++
			}
			if gi[si] < len(x.gaps) {
				if g := x.gaps[gi[si]]; g.off <= i {
					end = min(end, g.end)
					outside[si] = false
				} else {
					end = min(end, g.off)
				}
			}
		}
		// Over [i, end) the files are the same: a chunk on which they all
		// agree is copied whole, the others are voted byte by byte. Where
		// one file alone is outside its damage (or alone reaches), the
		// bytes it gives are its word alone.
		lone := -1
		for _, v := range reach {
			if outside[v] {
				if lone >= 0 {
					lone = -2
					break
				}
				lone = v
			}
		}
		if lone == -1 && len(reach) == 1 {
			lone = reach[0]
		}
		for i < end {
			c := min(end, i+majorityChunk)
			first := srcs[reach[0]].data[i:c]
			same := true
			for _, v := range reach[1:] {
				if !bytes.Equal(first, srcs[v].data[i:c]) {
					same = false
					break
				}
			}
			if same {
				copy(out[i:c], first)
				strong = strong && len(reach) >= 2
				if lone >= 0 {
					alone(lone, i, c)
				}
				i = c
				continue
			}
			for ; i < c; i++ {
				ch, n, ok := byteVote(srcs, reach, nil, i)
				if !ok {
					ch, _, ok = byteVote(srcs, reach, outside, i)
					n = 0
				}
				if !ok {
					return consensus{}, false
				}
				out[i] = ch
				if lone >= 0 && srcs[lone].data[i] == ch {
					alone(lone, i, i+1)
				}
				strong = strong && n >= 2
			}
		}
	}
	c := consensus{out: out, k: len(srcs), names: names, strong: strong, single: single}
	for _, l := range single {
		c.singleWhy = append(c.singleWhy, loneReason(srcs, names, l))
	}
	return c, true
}

// lone is a stretch of a byte-wise majority that one file alone decided
// (src: its index, 0 for the damaged file): every other file ends before
// it or is damaged there.
type lone struct {
	off, end, src int
}

// loneReason says why only one file speaks for the stretch l: where each
// other file ends or is damaged.
func loneReason(srcs []majoritySource, names []string, l lone) string {
	name := func(si int) string {
		if si == 0 {
			return "this file"
		}
		return names[si-1]
	}
	var why []string
	for si := range srcs {
		if si == l.src {
			continue
		}
		x := &srcs[si]
		if l.off >= len(x.data) {
			why = append(why, fmt.Sprintf("%s ends at 0x%x", name(si), len(x.data)))
			continue
		}
		if g := gapAt(x.gaps, l.off); g != nil && g.order {
			why = append(why, fmt.Sprintf("%s breaks the order of the records there", name(si)))
			continue
		}
		why = append(why, fmt.Sprintf("%s is damaged there", name(si)))
	}
	state := "undamaged there by every test"
	if inGaps(srcs[l.src].gaps, l.off, l.end) {
		state = "the only file that reaches there, damaged there itself"
	}
	return fmt.Sprintf("1 of %d copies: %s, %s (%s)", len(srcs), name(l.src), state, strings.Join(why, ", "))
}

// piece is a stretch of a repair to a byte-wise majority, and, when one
// file alone decided it, why.
type piece struct {
	off, end int
	why      string
}

// pieces cuts [off, end) where the stretches one file alone decided
// begin and end.
func (c *consensus) pieces(off, end int) []piece {
	var out []piece
	for k, l := range c.single {
		if l.end <= off || l.off >= end {
			continue
		}
		if l.off > off {
			out = append(out, piece{off: off, end: l.off})
			off = l.off
		}
		e := min(end, l.end)
		out = append(out, piece{off: off, end: e, why: c.singleWhy[k]})
		off = e
	}
	if off < end {
		out = append(out, piece{off: off, end: end})
	}
	return out
}

// voteGaps returns the stretches of arr that a byte-wise majority must
// not take its bytes from: its gaps (records that break a rule of
// docs/format.md section 5, a failing CRC-32C) and the records that
// break the order of an otherwise sorted array (a damaged name or
// version that keeps the rules of its strings), in order.
func voteGaps(arr *array) []gap {
	bad := orderSuspects(arr.recs)
	if len(bad) == 0 {
		return arr.gaps
	}
	out := make([]gap, 0, len(arr.gaps)+len(bad))
	i := 0
	for _, g := range arr.gaps {
		for i < len(bad) && bad[i].off < g.off {
			out = append(out, bad[i])
			i++
		}
		out = append(out, g)
	}
	return append(out, bad[i:]...)
}

// orderSuspects returns, as gaps, the records of recs that break the
// order of an array that is sorted but for them (at most
// max(2, len/100), the rule of dropOutOfOrder): nil when recs are sorted
// or when more are out of order (a writer that does not sort).
func orderSuspects(recs []record) []gap {
	sorted := true
	for i := 1; i < len(recs) && sorted; i++ {
		sorted = cmpRec(&recs[i-1], &recs[i]) < 0
	}
	if sorted {
		return nil
	}
	keep := longestSorted(recs)
	if len(recs)-len(keep) > max(2, len(recs)/100) {
		return nil
	}
	var out []gap
	k := 0
	for i := range recs {
		if k < len(keep) && keep[k] == i {
			k++
			continue
		}
		out = append(out, gap{off: recs[i].off, end: recs[i].off + recs[i].size, record: i, order: true})
	}
	return out
}

// gapAt returns the gap that holds offset at, or nil.
func gapAt(gaps []gap, at int) *gap {
	for i := range gaps {
		if gaps[i].off <= at && at < gaps[i].end {
			return &gaps[i]
		}
	}
	return nil
}

// inGaps reports whether a gap overlaps [off, end).
func inGaps(gaps []gap, off, end int) bool {
	for _, g := range gaps {
		if g.off < end && off < g.end {
			return true
		}
	}
	return false
}

// consensus is the byte-wise majority of k files (this one and the
// peers names).
type consensus struct {
	out    []byte
	k      int
	names  []string
	strong bool
	// single are the stretches one file alone decided, and why.
	single    []lone
	singleWhy []string
}

// majoritySource is a file that takes part in a byte-wise majority, and
// its damaged stretches.
type majoritySource struct {
	data []byte
	gaps []gap
}

// byteVote returns the byte at i that a strict majority of the files in
// reach hold (with only set, of those for which only is true), and how
// many hold it.
func byteVote(srcs []majoritySource, reach []int, only []bool, i int) (byte, int, bool) {
	var cand [4]byte
	var cnt [4]int
	k, voters := 0, 0
	for _, v := range reach {
		if only != nil && !only[v] {
			continue
		}
		voters++
		ch := srcs[v].data[i]
		j := 0
		for j < k && cand[j] != ch {
			j++
		}
		if j == k {
			if k == len(cand) {
				continue
			}
			cand[k] = ch
			k++
		}
		cnt[j]++
	}
	for j := 0; j < k; j++ {
		if 2*cnt[j] > voters {
			return cand[j], cnt[j], true
		}
	}
	return 0, 0, false
}

// maxSilentBytes bounds the bytes in which a valid file may differ from
// the byte-wise majority of its copies for the difference to be taken
// for silent damage (bit rot that left every rule kept): a file that
// differs in more is another revision of the lockfile, not damage.
const maxSilentBytes = 16

// silentDamage returns the strong byte-wise majority of the valid file b
// and its copies when it differs from b in a few bytes that no checksum
// of b covers: damage that kept every rule of the format, which only the
// copies reveal. A header whose CRC-64 holds is the writer's, so the
// difference must lie in the array; a layout whose checksums cover
// every byte (a header and an array CRC-64) has no silent damage. The
// config block is never overruled: a valid config that differs from the
// copies' is a config, not damage.
func silentDamage(b []byte, s *schema.Schema, arr *array, peers []*Peer) (consensus, bool) {
	checked := crcOffset(s) >= 0
	if checked && s.FieldOf(schema.KindArrayChecksum) != nil || len(copies(peers)) < 2 {
		return consensus{}, false
	}
	c, ok := byteMajority(b, arr.recs, nil, s, peers)
	if !ok || len(c.out) != len(b) || bytes.Equal(c.out, b) {
		return consensus{}, false
	}
	// The majority need not be strong: b is valid and no stretch of it is
	// damaged, so it takes part in every vote, and where it is outvoted two
	// other files agree against it. Where one file alone speaks, that is
	// b, kept.
	n := 0
	for i := range b {
		if b[i] != c.out[i] {
			// A config block that differs is another node's config (drift,
			// which 'validate --reference' reports), never taken for
			// damage: a valid value is not overruled.
			inConfig := i >= schema.OffConfigVersion && i < schema.OffConfigVersion+schema.ConfigSize
			if n++; n > maxSilentBytes || checked && i < s.HeaderSize || inConfig {
				return consensus{}, false
			}
		}
	}
	if len(schema.Check(c.out)) > 0 {
		return consensus{}, false
	}
	return c, true
}

// majorityChunk is the stretch byteMajority compares whole before it
// votes byte by byte.
const majorityChunk = 256

// suspectsAsGaps returns arr with the records that reconcile dropped as
// probably damaged (out of order in a plain array: NameMayBeDamaged)
// turned into gaps, so that copies can fill them; arr itself when there
// are none.
func suspectsAsGaps(arr *array, lost []Lost) *array {
	at := map[int]bool{}
	for _, l := range lost {
		if l.NameMayBeDamaged {
			at[l.Offset] = true
		}
	}
	if len(at) == 0 {
		return arr
	}
	out := *arr
	out.recs, out.gaps = nil, nil
	gi := 0
	for i, r := range arr.recs {
		for gi < len(arr.gaps) && arr.gaps[gi].off < r.off {
			out.gaps = append(out.gaps, arr.gaps[gi])
			gi++
		}
		if at[r.off] {
			out.gaps = append(out.gaps, gap{off: r.off, end: r.off + r.size, record: i,
				names: []Lost{{Record: i, Offset: r.off, Name: string(r.name()), Version: string(r.version()), NameMayBeDamaged: true}}})
			continue
		}
		out.recs = append(out.recs, r)
	}
	out.gaps = append(out.gaps, arr.gaps[gi:]...)
	out.regs = nil
	return &out
}

// headerFromCopy returns the header of a copy whose own header holds and
// declares exactly the array of b (its count, size and CRC-64): the
// header b was written with, proven by the array checksum. Only layouts
// with an array checksum have such a proof.
func headerFromCopy(s *schema.Schema, b []byte, count int, peers []*Peer) ([]byte, Repair, bool) {
	if s.FieldOf(schema.KindArrayChecksum) == nil {
		return nil, Repair{}, false
	}
	for _, p := range headerPeers(peers) {
		if p.s != s {
			continue
		}
		h := p.data[:s.HeaderSize]
		if arrayProven(s, h, b, count) {
			return bytes.Clone(h), Repair{Kind: "copy", Offset: 0,
				Detail: fmt.Sprintf("header taken from copy %s: its CRC-64 holds and its array size and CRC-64 are this file's array's", p.Name)}, true
		}
	}
	return nil, Repair{}, false
}
