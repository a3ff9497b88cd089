package recovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// Limits of the search for unknown bits.
const (
	speculativeLimit  = 48 // unknowns when guessing which zero fields were reset
	crossCheckAbove   = 48 // solutions with more unknowns must match a package registry
	maxSolvedUnknowns = 64
)

// crcOffset returns the offset of the header checksum of version s, or -1
// when its header has none.
func crcOffset(s *schema.Schema) int {
	if f := s.FieldOf(schema.KindHeaderChecksum); f != nil {
		return f.Offset
	}
	return -1
}

// countOffset returns the offset of the package count of version s.
func countOffset(s *schema.Schema) int { return s.FieldOf(schema.KindCount).Offset }

// header is the analysis of a header.
type header struct {
	s       *schema.Schema
	version int
	h       []byte // the repaired header
	// verified: the header CRC-64 accounts for every change, so every
	// field is the original.
	verified bool
	// crcHolds: the stored CRC-64 matches the (repaired) header, so the
	// fields that are valid are the original even if verified is false.
	crcHolds bool
	repairs  []Repair
	guessed  []Guess
	reason   string // unrepairable
	// unproven: a header without a checksum that shows damage, with
	// peers to compare: its fields that look valid may be damage too.
	unproven bool
}

func (hd *header) cfg() schema.Config { return schema.DecodeConfig(hd.h[schema.OffConfigVersion:]) }

// flipDetail describes the difference of two byte ranges bit by bit when
// it is small, byte by byte otherwise.
func flipDetail(old, new []byte, base int) string {
	var flips []string
	for i := range old {
		d := old[i] ^ new[i]
		for d != 0 {
			k := bits.TrailingZeros8(d)
			flips = append(flips, fmt.Sprintf("bit %d of byte 0x%02x", k, base+i))
			d &^= 1 << uint(k)
		}
	}
	if len(flips) <= 2 {
		return strings.Join(flips, " and ") + " flipped back"
	}
	return fmt.Sprintf("bytes 0x%02x-0x%02x rewritten from % x to % x", base, base+len(old)-1, old, new)
}

// restore sets a field with a fixed value and records the repair.
func (hd *header) restore(off int, want []byte, what string) {
	cur := hd.h[off : off+len(want)]
	if bytes.Equal(cur, want) {
		return
	}
	old := bytes.Clone(cur)
	copy(cur, want)
	hd.repairs = append(hd.repairs, Repair{Kind: "restore", Offset: off, Detail: flipDetail(old, want, off) + " (" + what + ")"})
}

// restoreFixed restores the fields whose value the description fixes:
// the magic, configVersion (recognised from the file's layout), the
// reserved byte and every field of kind KindFixed.
func (hd *header) restoreFixed() {
	for _, f := range hd.s.Header {
		switch {
		case f.Kind == schema.KindMagic:
			hd.restore(f.Offset, []byte(schema.Magic), "magic must be \"BUN1\"")
		case f.Kind == schema.KindVersion:
			hd.restore(f.Offset, []byte{byte(hd.version)}, fmt.Sprintf("configVersion %d, from the file's layout", hd.version))
		case f.Kind == schema.KindConfig && f.Offset == schema.OffReserved:
			hd.restore(f.Offset, []byte{0}, "reserved must be 0")
		case f.Kind == schema.KindFixed:
			want := f.Value
			if want == nil {
				want = make([]byte, f.Size)
			}
			hd.restore(f.Offset, want, f.Rule)
		}
	}
}

// unknownBits returns the bit positions of the fields of h that break
// their rules: the damage there is certain and its position known.
func unknownBits(s *schema.Schema, h []byte) []int {
	var u []int
	field := func(off, size int) {
		for i := off * 8; i < (off+size)*8; i++ {
			u = append(u, i)
		}
	}
	for _, f := range s.Header {
		switch f.Kind {
		case schema.KindConfig:
			if f.Offset != schema.OffReserved && schema.ConfigFieldBad(f.Offset, h[schema.OffConfigVersion:], s.Flags) {
				field(f.Offset, f.Size)
			}
		case schema.KindWriter:
			for _, i := range writerBad(h[f.Offset:f.End()]) {
				field(f.Offset+i, 1)
			}
		}
	}
	return u
}

// writerBad returns the indexes of the bytes of a v2 writer field that
// break its rule (printable ASCII, then NUL padding): a byte that is not
// printable, and every byte from a NUL that is followed by more text.
func writerBad(w []byte) []int {
	var bad []int
	end := bytes.IndexByte(w, 0)
	if end < 0 {
		end = len(w)
	}
	for i, ch := range w {
		if (i < end && (ch < 0x20 || ch > 0x7e)) || (i >= end && !schema.AllZero(w[i:])) {
			bad = append(bad, i)
		}
	}
	return bad
}

// resettable returns the bit positions of fields that are valid but zero,
// as a reset would leave them: the defined flag bits and the terminal
// mode.
func resettable(s *schema.Schema, h []byte) []int {
	var u []int
	c := schema.DecodeConfig(h[schema.OffConfigVersion:])
	if c.Flags == 0 {
		def := uint32(s.Flags)
		for k := 0; k < 32; k++ {
			if def>>uint(k)&1 == 1 {
				// flags are big-endian at 0x09: bit k is in byte 0x0c - k/8
				u = append(u, (schema.OffFeatureFlags+3-k/8)*8+k%8)
			}
		}
	}
	if c.TerminalMode == 0 {
		for i := 0; i < 8; i++ {
			u = append(u, schema.OffTerminalMode*8+i)
		}
	}
	return u
}

func flip(h []byte, pos []int) {
	for _, p := range pos {
		h[p/8] ^= 1 << uint(p%8)
	}
}

// explain tries to account for the header CRC-64 mismatch of h: a single
// or double bit error, then the bits of the invalid fields solved from the
// CRC, then those plus the zero fields a reset would leave. It returns the
// bits to flip and how they were found.
func explain(sc *schema.Schema, h []byte, registries map[uint32]bool) ([]int, string, bool) {
	offChecksum := crcOffset(sc)
	t := syndromes(len(h), offChecksum)
	s := syndrome(h, offChecksum)
	if s == 0 {
		return nil, "", sc.HeaderValid(h)
	}
	work := make([]byte, len(h))
	try := func(pos []int) bool {
		copy(work, h)
		flip(work, pos)
		return sc.HeaderValid(work)
	}
	var found [][]int
	for _, c := range t.corrections(s) {
		if try(c) {
			found = append(found, c)
		}
	}
	if len(found) == 1 {
		how := "single-bit correction, CRC-64"
		if len(found[0]) == 2 {
			how = "double-bit correction, CRC-64"
		}
		return found[0], how, true
	}
	if len(found) > 1 {
		return nil, "", false // ambiguous: never guess
	}
	if schema.AllZero(h[offChecksum : offChecksum+8]) {
		return nil, "", false // the stored CRC itself was wiped
	}
	setA := unknownBits(sc, h)
	sets := [][]int{setA}
	// Valid fields that are zero may have been reset; when the config
	// block looks wiped they surely were, and the solution may use up to
	// 64 unknowns (checked against the packages' registries).
	limit := speculativeLimit
	if wipedHeader(h) {
		limit = maxSolvedUnknowns
	}
	if extra := resettable(sc, h); len(extra) > 0 && len(setA)+len(extra) <= limit {
		sets = append(sets, append(append([]int(nil), setA...), extra...))
	}
	for _, u := range sets {
		if len(u) == 0 || len(u) > maxSolvedUnknowns {
			continue
		}
		cols := make([]uint64, len(u))
		for i, p := range u {
			cols[i] = t.col[p]
		}
		x, ok := solve(cols, s)
		if !ok {
			continue
		}
		var pos []int
		for i, p := range u {
			if x>>uint(i)&1 == 1 {
				pos = append(pos, p)
			}
		}
		if !try(pos) {
			continue
		}
		if len(u) > crossCheckAbove {
			// Little slack is left in the 64 equations: the solved
			// registryHash must be one of the packages' registries.
			rh := binary.BigEndian.Uint32(work[schema.OffRegistryHash:])
			if !registries[rh] {
				continue
			}
		}
		return pos, fmt.Sprintf("%d unknown bits solved from the header CRC-64, unique solution", len(u)), true
	}
	return nil, "", false
}

// fieldName names the header field of s holding byte off.
func fieldName(s *schema.Schema, off int) string {
	for _, f := range s.Header {
		if off >= f.Offset && off < f.End() {
			return f.Name
		}
	}
	return "header"
}

// describeFlips records the repair of flipped bits, grouped by field.
func (hd *header) describeFlips(old []byte, pos []int, how string) {
	if len(pos) <= 2 {
		var parts []string
		for _, p := range pos {
			parts = append(parts, fmt.Sprintf("bit %d of byte 0x%02x (%s)", p%8, p/8, fieldName(hd.s, p/8)))
		}
		off := 0
		if len(pos) > 0 {
			off = pos[0] / 8
		}
		hd.repairs = append(hd.repairs, Repair{Kind: "correct", Offset: off, Detail: strings.Join(parts, " and ") + " flipped back (" + how + ")"})
		return
	}
	byField := map[string][2]int{}
	var order []string
	for _, p := range pos {
		n := fieldName(hd.s, p/8)
		r, seen := byField[n]
		if !seen {
			order = append(order, n)
			r = [2]int{p / 8, p / 8}
		}
		r[0], r[1] = min(r[0], p/8), max(r[1], p/8)
		byField[n] = r
	}
	for _, n := range order {
		r := byField[n]
		hd.repairs = append(hd.repairs, Repair{Kind: "solve", Offset: r[0],
			Detail: fmt.Sprintf("%s (bytes 0x%02x-0x%02x) restored from % x to % x (%s)", n, r[0], r[1], old[r[0]:r[1]+1], hd.h[r[0]:r[1]+1], how)})
	}
}

// guess records a field filled without proof.
func (hd *header) guess(field, value, source string) {
	hd.guessed = append(hd.guessed, Guess{Field: field, Value: value, Source: source})
}

// rebuild repairs the config fields one by one: a field that is valid is
// kept (as verified by the CRC-64, as any v0 reader trusts it, or
// reported as unverified), registryHash is derived from the packages,
// and what cannot be derived comes from the reference, then --registry,
// then the defaults, each reported as guessed.
func (hd *header) rebuild(arr *array, opts Options) {
	c := hd.cfg()
	trusted := hd.crcHolds || crcOffset(hd.s) < 0 && !hd.unproven
	wiped := c.RegistryHash == 0 && c.Rows == 0 && c.Cols == 0
	peers := headerPeers(opts.Peers)
	// fromPeers returns the value most peers give for the config field at
	// off (size n).
	fromPeers := func(off, n int) (vote, bool) {
		return majority(peers, func(p *Peer) []byte { return p.data[off : off+n] })
	}
	unverified := "as found, unverified: the header CRC-64 did not account for the damage"
	defined := hd.s.Flags

	var regs []schema.RegistryCount
	if c.RegistryHash == 0 || wiped {
		regs = arr.registries()
	}
	switch {
	case c.RegistryHash != 0 && !wiped:
		if !trusted && !arr.hasRegistry(c.RegistryHash) {
			if v, ok := fromPeers(schema.OffRegistryHash, 4); ok {
				c.RegistryHash = binary.BigEndian.Uint32(v.value)
				hd.guess("registryHash", fmt.Sprintf("0x%08x", c.RegistryHash), v.source())
				break
			}
			hd.guess("registryHash", fmt.Sprintf("0x%08x", c.RegistryHash), unverified)
		}
	case len(regs) == 1 || len(regs) > 1 && regs[0].Count > regs[1].Count:
		c.RegistryHash = regs[0].Hash
		hd.repairs = append(hd.repairs, Repair{Kind: "derive", Offset: schema.OffRegistryHash,
			Detail: fmt.Sprintf("registryHash set to 0x%08x, the hash of %s, the registry of %d of the %d packages", regs[0].Hash, regs[0].URL, regs[0].Count, len(arr.recs))})
	case len(peers) > 0:
		v, _ := fromPeers(schema.OffRegistryHash, 4)
		c.RegistryHash = binary.BigEndian.Uint32(v.value)
		hd.guess("registryHash", fmt.Sprintf("0x%08x", c.RegistryHash), v.source())
	case opts.Registry != "":
		norm, h, err := schema.RegistryHash(opts.Registry)
		if err != nil {
			hd.reason = fmt.Sprintf("--registry: %v", err)
			return
		}
		c.RegistryHash = h
		hd.guess("registryHash", fmt.Sprintf("0x%08x (%s)", h, norm), "--registry")
	default:
		why := "no package resolves from a registry"
		if len(regs) > 1 {
			why = fmt.Sprintf("the packages' registries tie (%s and %s, %d packages each)", regs[0].URL, regs[1].URL, regs[0].Count)
		}
		hd.reason = "registryHash cannot be derived: " + why + "; give --registry URL or --reference FILE"
		return
	}

	type field struct {
		name    string
		off     int
		size    int
		bad     bool
		show    func() string
		set     func(v []byte)
		def     func()
		defDesc string
	}
	fields := []field{
		{"featureFlags", schema.OffFeatureFlags, 4, c.Flags&^defined != 0 || wiped && c.Flags == 0,
			func() string { return c.Flags.String() },
			func(v []byte) { c.Flags = schema.Flags(binary.BigEndian.Uint32(v)) & defined }, func() { c.Flags = 0 }, "default (no flags)"},
		{"terminalMode", schema.OffTerminalMode, 1, !c.TerminalMode.Valid() || wiped && c.TerminalMode == 0,
			func() string { return c.TerminalMode.String() },
			func(v []byte) { c.TerminalMode = schema.TerminalMode(v[0]) }, func() { c.TerminalMode = schema.ModeCooked }, "default (cooked)"},
		{"rows", schema.OffRows, 1, c.Rows == 0,
			func() string { return fmt.Sprint(c.Rows) },
			func(v []byte) { c.Rows = v[0] }, func() { c.Rows = schema.DefaultRows }, "default (24)"},
		{"cols", schema.OffCols, 1, c.Cols == 0,
			func() string { return fmt.Sprint(c.Cols) },
			func(v []byte) { c.Cols = v[0] }, func() { c.Cols = schema.DefaultCols }, "default (80)"},
	}
	for _, f := range fields {
		v, haveVote := fromPeers(f.off, f.size)
		switch {
		case (f.bad || !trusted) && haveVote:
			// A damaged or unproven field: the value most peers give.
			f.set(v.value)
			hd.guess(f.name, f.show(), v.source())
		case !f.bad && !trusted:
			hd.guess(f.name, f.show(), unverified)
		case !f.bad:
		default:
			f.def()
			hd.guess(f.name, f.show(), f.defDesc)
		}
	}
	c.Reserved = 0
	schema.PutConfig(hd.h[schema.OffConfigVersion:], c)

	if wf := hd.s.FieldOf(schema.KindWriter); wf != nil {
		w := hd.h[wf.Offset:wf.End()]
		switch {
		case len(writerBad(w)) > 0 || wiped && schema.AllZero(w):
			name := opts.Writer
			if name == "" {
				name = schema.DefaultWriter
			}
			src := "default (this program)"
			if v, ok := majority(peers, func(p *Peer) []byte { return p.writer(hd.s) }); ok && !schema.AllZero(v.value) {
				name, src = schema.WriterString(v.value), v.source()
			}
			clear(w)
			copy(w, name)
			hd.guess("writer", fmt.Sprintf("%q", name), src)
		case !trusted:
			if v, ok := majority(peers, func(p *Peer) []byte { return p.writer(hd.s) }); ok && !schema.AllZero(v.value) {
				copy(w, v.value)
				hd.guess("writer", fmt.Sprintf("%q", schema.WriterString(v.value)), v.source())
				break
			}
			hd.guess("writer", fmt.Sprintf("%q", strings.TrimRight(string(w), "\x00")), unverified)
		}
	}
}
