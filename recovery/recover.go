// Package recovery finds and repairs damage in bun.lockb lockfiles
// (FORMAT.md, all three config versions), in memory: Recover takes the
// bytes of a file and returns a Report with the repaired bytes.
//
// It classifies the damage and rebuilds what it can prove:
//
//   - the version is recognised from the file's layout when the magic or
//     the version byte is damaged or the header wiped: framed "PK"
//     records at 0x68 are version 2, plain records at 0x40 are 0 or 1,
//     told apart by the checksum field (or the reference's version);
//   - fields with a fixed value (magic, reserved, padding, headerSize,
//     a v0 checksum) are restored;
//   - in a checksummed header (v1, v2), bit flips are undone: the header
//     CRC-64 is affine over GF(2), so the syndrome stored^computed of an
//     error pattern is a linear function of it; the single and double
//     bit errors are looked up in a table of syndromes, and damage at
//     known positions (fields that break their rules) is solved from the
//     64 equations the stored CRC gives, accepted only when unique and
//     valid;
//   - otherwise the header is rebuilt field by field: packageCount,
//     packagesSize and the checksums from the records, registryHash from
//     the most common registry of the packages, the rest from a healthy
//     peer (Options.Reference), --registry, or the defaults, every such
//     value reported as guessed with its source;
//   - the package array keeps every record that is whole and valid: v2
//     records whose CRC-32C holds (after a single-bit correction), v0/v1
//     records up to the damage, then from the next plausible record; a
//     torn tail is cut; every package lost is named where its name
//     survived; unsorted records are sorted and exact duplicates dropped.
//
// Mode Default applies only repairs that lose no package and guess no
// value; Mode Yes also drops and fills. Recover never returns bytes that
// break a rule of docs/format.md section 6 (callers that write verify them
// again with schema.Check before replacing a file).
package recovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/lockfix/lockfix/schema"
)

// Mode chooses how far a repair may go.
type Mode int

const (
	// Default applies only repairs that lose no package and guess no
	// value; anything more is refused with the plan.
	Default Mode = iota
	// Yes also drops damaged packages and fills fields that cannot be
	// derived, reporting each.
	Yes
)

// Options tune Recover.
type Options struct {
	Mode Mode
	// Peers are other lockfiles of the same fleet (NewPeer), healthy or
	// damaged: their header fields are hypotheses the stored CRC-64 can
	// confirm, the source of fields that cannot be derived (with Yes,
	// the value most of them agree on) and of the version when the
	// layout cannot tell it; those whose packages overlap are copies to
	// take lost records from.
	Peers []*Peer
	// Registry is a registry URL for registryHash when the packages do
	// not give it.
	Registry string
	// Writer names this program, for a writer field that must be filled
	// ("lockfix 0.1.0"); empty: schema.DefaultWriter.
	Writer string
}

// Recover analyses b and repairs it as opts allow. It never panics and
// never modifies b.
func Recover(b []byte, opts Options) *Report {
	start := time.Now()
	r := recoverBytes(b, opts)
	r.Duration = time.Since(start)
	return r
}

func newReport() *Report {
	return &Report{Version: -1, Expected: -1, Damage: []Damage{}, Repairs: []Repair{}, Lost: []Lost{}, Guessed: []Guess{}}
}

func recoverBytes(b []byte, opts Options) *Report {
	r := newReport()
	d, ok := detect(b, peerVersion(opts.Peers))
	if !ok {
		return unrecognised(r, b, d.from)
	}
	s := d.s
	if newer(b, s) {
		// A version this build does not know, whose layout is otherwise
		// intact: never rewritten as one it does know.
		return unsupported(r, b)
	}
	r.Version, r.VersionFrom = s.Version, d.from
	hs := s.HeaderSize
	if len(b) < hs {
		r.Damage = append(r.Damage, schema.CorruptRecord(schema.ErrTruncated, len(b), schema.NoRecord, "header", fmt.Sprintf("the file is %d bytes, the v%d header alone is %d", len(b), s.Version, hs)))
		r.Status = StatusUnrepairable
		r.Reason = fmt.Sprintf("the file ends inside the header (%d of %d bytes): no package survives to rebuild from", len(b), hs)
		return r
	}
	var arr *array
	if s.Framing != nil {
		arr = salvageFramed(s, b, hs)
	} else {
		arr = salvagePlain(s, b, hs)
	}
	o := analyse(b, s, arr, opts)
	if sib := uncheckedSibling(s); sib != nil && !d.fromRef && !o.hd.verified {
		// The CRC-64 explains nothing, and the version byte or the peers
		// name the sibling layout without a checksum: a file of that
		// version whose checksum field was hit.
		switch {
		case int(b[schema.OffConfigVersion]) == sib.Version:
			s = sib
			r.Version, r.VersionFrom = s.Version, fmt.Sprintf("plain records at 0x%x, configVersion byte %d (its non-zero checksum field is damage)", s.HeaderSize, s.Version)
			o = analyse(b, s, arr, opts)
		case peerVersion(opts.Peers) == sib:
			s = sib
			r.Version, r.VersionFrom = s.Version, fmt.Sprintf("plain records at 0x%x, the peers' version %d (the header CRC-64 explains nothing: its non-zero checksum field is damage)", s.HeaderSize, s.Version)
			o = analyse(b, s, arr, opts)
		}
	}
	o.finish(b, s, arr, opts)
	var fills []fill
	if len(opts.Peers) > 0 && o.reason == "" && (len(o.lost) > 0 || o.unnamed > 0 || len(arr.gaps) > 0) {
		// The count of the header, trusted or not: a fill it does not
		// vouch for needs the copies' majority anyway.
		countField := int(binary.BigEndian.Uint32(o.hd.h[countOffset(s):]))
		if farr, fs := fillFromCopies(b, s, suspectsAsGaps(arr, o.lost), countField, opts.Peers); fs != nil {
			o2 := build(b, s, farr, opts)
			proven := o2.reason == "" && o2.hd.crcHolds && declaresArray(s, o2.hd.h, o2.out, len(o2.recs))
			sized := s.FieldOf(schema.KindArrayChecksum) != nil && o2.hd.crcHolds
			complete := o2.reason == "" && len(o2.lost) == 0 && o2.unnamed == 0
			if complete && (proven || !sized) {
				arr, o, fills = farr, o2, fs
				for _, f := range fills {
					at := farr.recs[0].off
					for _, r := range farr.recs {
						if bytes.Equal(r.body, f.recs[0].body) {
							at = r.off
							break
						}
					}
					rp := Repair{Kind: "copy", Offset: at, Detail: fmt.Sprintf("%s at offset 0x%x taken from %s", f.describe(), at, f.source())}
					if proven {
						rp.Detail += "; the header's array size and CRC-64 prove the rebuilt array exact"
					} else {
						rp.NeedsYes = true
						o.hd.guessed = append(o.hd.guessed, Guess{Field: fmt.Sprintf("records at 0x%x", at), Value: f.describe(),
							Source: f.source() + ", unconfirmed: no checksum covers them"})
					}
					o.repairs = append(o.repairs, rp)
				}
			}
		}
	}
	// The repair as planned, unless copies filled it.
	o.write(b, s)
	r.found = func() *schema.Lockfile { return found(b, s, arr, o) }
	// The byte-wise majority of the copies: when the repair alone loses
	// or guesses, and, in a layout whose checksums leave bytes uncovered
	// (v0, v1), whenever a strong majority (two copies at every byte)
	// says otherwise than the repair: a field kept because it looks valid
	// is no evidence there. A header the CRC-64 proves is never
	// overruled.
	need := o.reason != "" || len(o.lost) > 0 || o.unnamed > 0 || len(o.hd.guessed) > 0
	covered := crcOffset(s) >= 0 && s.FieldOf(schema.KindArrayChecksum) != nil
	if len(opts.Peers) >= 2 && (need || !covered) {
		if c, ok := byteMajority(b, arr.recs, voteGaps(arr), s, opts.Peers); ok && !bytes.Equal(c.out, b) {
			overrule := c.strong && !covered && !bytes.Equal(o.out, b) && !bytes.Equal(c.out, o.out) &&
				!(o.hd.verified && !bytes.Equal(c.out[:min(hs, len(c.out))], o.out[:hs]))
			if (need || overrule) && len(schema.Check(c.out)) == 0 {
				dmg := append(headerDamage(b, s), arr.damage...)
				return majorityReport(r, b, s, c, append(dmg, o.damage...), opts)
			}
		}
	}
	r.Damage = append(r.Damage, headerDamage(b, s)...)
	r.Damage = append(r.Damage, arr.damage...)
	r.Damage = append(r.Damage, o.damage...)
	r.Repairs = append(r.Repairs, o.hd.repairs...)
	r.Repairs = append(r.Repairs, arr.repairs...)
	r.Repairs = append(r.Repairs, o.repairs...)
	vb := int(b[schema.OffConfigVersion])
	switch {
	case len(siblings(s)) < 2 || o.hd.verified || d.fromRef:
	case wipedHeader(b):
		// A wiped header of a layout that versions share: they differ
		// only in the checksum.
		r.Guessed = append(r.Guessed, Guess{Field: "configVersion", Value: fmt.Sprint(s.Version), Source: r.VersionFrom + "; the header was wiped"})
	case crcOffset(s) < 0 && vb != s.Version && slices.ContainsFunc(siblings(s), func(o *schema.Schema) bool { return o.Version == vb }):
		// A file of the unchecked version with a flipped version bit, or
		// one of a checked sibling whose checksum was zeroed: the layout
		// cannot tell.
		r.Guessed = append(r.Guessed, Guess{Field: "configVersion", Value: fmt.Sprint(s.Version), Source: r.VersionFrom})
	}
	r.Guessed = append(r.Guessed, o.hd.guessed...)
	r.Lost = append(r.Lost, o.lost...)
	r.Unnamed = o.unnamed
	r.Expected = o.expected
	if o.reason != "" {
		r.Status, r.Reason = StatusUnrepairable, o.reason
		return r
	}
	r.Kept = len(o.recs)
	if bytes.Equal(o.out, b) {
		// Nothing to repair: the file must then be valid.
		if errs := schema.Check(b); len(errs) > 0 {
			r.Status = StatusUnrepairable
			r.Damage = r.Damage[:0]
			for _, e := range errs {
				r.Damage = append(r.Damage, damageOf(e, 0, -1))
			}
			r.Reason = "the file breaks rules that recovery does not repair"
			return r
		}
		if c, ok := silentDamage(b, s, arr, opts.Peers); ok {
			return majorityReport(r, b, s, c, nil, opts)
		}
		clean := newReport()
		clean.Version, clean.VersionFrom, clean.Status = s.Version, "header", StatusClean
		clean.Kept, clean.Expected = len(o.recs), len(o.recs)
		return clean
	}
	if !s.HeaderValid(o.out) {
		r.Status, r.Reason = StatusUnrepairable, "the rebuilt header does not validate (an internal error; nothing is written)"
		return r
	}
	if r.LostCount() > 0 || len(r.Guessed) > 0 {
		for i := range r.Repairs {
			if r.Repairs[i].Kind == "drop" || r.Repairs[i].Kind == "fill" {
				r.Repairs[i].NeedsYes = true
			}
		}
		if opts.Mode != Yes {
			r.Status, r.Needs, r.Plan = StatusRefused, "--yes", o.out
			return r
		}
	}
	r.Status, r.Output = StatusRepaired, o.out
	return r
}

// found builds the lenient view of the damaged file for Report.Found.
func found(b []byte, s *schema.Schema, arr *array, o *outcome) *schema.Lockfile {
	l := &schema.Lockfile{Config: schema.DecodeConfig(b[schema.OffConfigVersion:])}
	l.Config.Version = int(b[schema.OffConfigVersion])
	if wf := s.FieldOf(schema.KindWriter); wf != nil && len(b) >= s.HeaderSize {
		l.Writer = schema.WriterString(b[wf.Offset:wf.End()])
	}
	for i := range arr.recs {
		l.Packages = append(l.Packages, arr.recs[i].pkg())
	}
	for _, x := range o.lost {
		if x.Name != "" && x.Record >= 0 && !x.NameMayBeDamaged {
			l.Packages = append(l.Packages, schema.Package{Name: x.Name, Version: x.Version})
		}
	}
	schema.SortPackages(l.Packages)
	return l
}

// unrecognised reports a file that is not recognisable as a lockfile.
func unrecognised(r *Report, b []byte, why string) *Report {
	if s, err := schema.Sniff(b); err == nil {
		r.Version, r.VersionFrom = s.Version, "header"
		if errs := s.Check(b); len(errs) == 0 {
			r.Status = StatusClean
			return r
		}
		for _, e := range s.Check(b) {
			r.Damage = append(r.Damage, damageOf(e, 0, -1))
		}
		r.Status = StatusUnrepairable
		r.Reason = "its layout cannot be recognised"
		return r
	}
	for _, e := range schema.Check(b) {
		r.Damage = append(r.Damage, damageOf(e, 0, -1))
	}
	r.Status, r.Reason = StatusUnrepairable, why
	return r
}

// newer reports whether b is a file of a config version above every
// registered one whose layout, read as s, is otherwise intact: its stored
// header checksum holds over the bytes as they are, version byte
// included, so the writer wrote that version. The newer version's header
// may be longer than s's (a version that grows it, as examples/v3 does),
// so the checksum is tried over every length from s's header size up to
// maxNewerHeader bytes. In a layout without a checksum nothing tells a
// newer version from a damaged version byte, and the byte is taken for
// damage.
func newer(b []byte, s *schema.Schema) bool {
	if len(b) < s.HeaderSize || string(b[:4]) != schema.Magic || int(b[schema.OffConfigVersion]) <= schema.Latest() {
		return false
	}
	off := crcOffset(s)
	if off < 0 || schema.AllZero(b[off:off+8]) {
		return false
	}
	stored := binary.BigEndian.Uint64(b[off:])
	// The CRC-64 of the header with the checksum field taken as zero,
	// extended a byte at a time.
	crc := schema.CRC64Update(schema.CRC64(b[:off]), make([]byte, 8))
	crc = schema.CRC64Update(crc, b[off+8:s.HeaderSize])
	for n := s.HeaderSize; ; n++ {
		if crc == stored {
			return true
		}
		if n == len(b) || n == maxNewerHeader {
			return false
		}
		crc = schema.CRC64Update(crc, b[n:n+1])
	}
}

// maxNewerHeader bounds the header of a version newer than this build
// knows, for newer.
const maxNewerHeader = 4096

// unsupported reports a file of a version this build does not know.
func unsupported(r *Report, b []byte) *Report {
	vb := b[schema.OffConfigVersion]
	r.Damage = append(r.Damage, schema.CorruptRecord(schema.ErrUnsupportedVersion, schema.OffConfigVersion, schema.NoRecord, "configVersion", fmt.Sprintf("configVersion %d is not known to this build (known: %v)", vb, schema.Versions())))
	r.Status = StatusUnrepairable
	r.Reason = fmt.Sprintf("config version %d is newer than this build knows (%v) and its header is intact: it is not damage, and nothing is rewritten; use a lockfix that knows version %d", vb, schema.Versions(), vb)
	return r
}

// siblings returns the registered versions that share the layout of s
// (header size and record framing), s among them, in version order: v0
// and v1, which differ only in the checksum.
func siblings(s *schema.Schema) []*schema.Schema {
	var out []*schema.Schema
	for _, v := range schema.Versions() {
		o, _ := schema.Lookup(v)
		if o.HeaderSize == s.HeaderSize && (o.Framing == nil) == (s.Framing == nil) {
			out = append(out, o)
		}
	}
	return out
}

// uncheckedSibling returns, for a version with a header checksum, the
// sibling of its layout without one, or nil.
func uncheckedSibling(s *schema.Schema) *schema.Schema {
	if crcOffset(s) < 0 {
		return nil
	}
	for _, o := range siblings(s) {
		if crcOffset(o) < 0 {
			return o
		}
	}
	return nil
}

// detection is the version a file was recognised as.
type detection struct {
	s    *schema.Schema
	from string // how it was recognised, for the report
	// fromRef: the layout could not tell, and the reference's version
	// decided.
	fromRef bool
}

// detect recognises the version from the layout of the file (where the
// records start, and how), then the header's bytes, then the reference.
func detect(b []byte, refS *schema.Schema) (detection, bool) {
	if len(b) < schema.PrefixSize {
		return detection{from: fmt.Sprintf("the file is %d bytes, too short for a lockfile's header", len(b))}, false
	}
	magicOK := string(b[:4]) == schema.Magic
	vb := int(b[schema.OffConfigVersion])
	// The layouts whose first record is where they put it.
	var framed, plain []*schema.Schema
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		switch hs := s.HeaderSize; {
		case s.Framing != nil:
			if m := s.Framing.Marker; len(b) >= hs+len(m) && string(b[hs:hs+len(m)]) == m {
				framed = append(framed, s)
			}
		case len(b) >= hs+schema.MinPlainRecord:
			if r, _, err := schema.ParseBody(b[hs:], hs, 0); err == nil && schema.CheckRaw(&r, 0) == nil {
				plain = append(plain, s)
			}
		}
	}
	layout := func(s *schema.Schema, from string) (detection, bool) { return pick(b, s, from, refS) }
	switch {
	case len(framed) > 0 && len(plain) == 0:
		s := framed[0]
		for _, f := range framed {
			if f.Version == vb {
				s = f
			}
		}
		return layout(s, fmt.Sprintf("framed records at 0x%x", s.HeaderSize))
	case len(plain) > 0 && len(framed) == 0:
		s := plain[0]
		return layout(s, fmt.Sprintf("plain records at 0x%x", s.HeaderSize))
	}
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		if f := s.Field("headerSize"); f != nil && f.Kind == schema.KindFixed && f.Value != nil &&
			len(b) >= f.End() && bytes.Equal(b[f.Offset:f.End()], f.Value) && len(siblings(s)) == 1 {
			if vs, ok := schema.Lookup(vb); !ok || vs.HeaderSize == s.HeaderSize {
				return detection{s: s, from: fmt.Sprintf("headerSize field %d", schema.Uint(f.Value))}, true
			}
		}
	}
	if vs, ok := schema.Lookup(vb); magicOK && ok {
		return layout(vs, "header")
	}
	if refS != nil {
		d, ok := layout(refS, "the peers' layout (no record to tell it)")
		if len(siblings(refS)) == 1 {
			d.from = "the peers' version (no record to tell the layout)"
		}
		return d, ok
	}
	for _, v := range schema.Versions() {
		if s, _ := schema.Lookup(v); s.Framing != nil && nextFrame(s, b, s.HeaderSize) >= 0 {
			return layout(s, fmt.Sprintf("framed records after 0x%x", s.HeaderSize))
		}
	}
	for _, v := range schema.Versions() {
		if s, _ := schema.Lookup(v); s.Framing == nil && nextPlain(b, s.HeaderSize, nil) >= 0 {
			return layout(s, fmt.Sprintf("plain records after 0x%x", s.HeaderSize))
		}
	}
	if magicOK {
		return detection{from: fmt.Sprintf("configVersion %d is not known to this build and no record shows the layout", vb)}, false
	}
	return detection{from: fmt.Sprintf("not a lockfile: the magic is %q and no package record was found", b[:4])}, false
}

// pick chooses among the versions that share the layout of s: the only
// one; else by the checksum field (zero in a version without a checksum),
// the version byte and the reference.
func pick(b []byte, s *schema.Schema, from string, ref *schema.Schema) (detection, bool) {
	sib := siblings(s)
	if len(sib) == 1 {
		return detection{s: s, from: from}, true
	}
	var checked, unchecked *schema.Schema
	for _, o := range sib {
		if crcOffset(o) >= 0 {
			checked = o
		} else {
			unchecked = o
		}
	}
	vb := int(b[schema.OffConfigVersion])
	if checked == nil || unchecked == nil {
		for _, o := range sib {
			if o.Version == vb {
				return detection{s: o, from: from}, true
			}
		}
		return detection{s: s, from: from}, true
	}
	inSib := func(x *schema.Schema) bool { return x != nil && slices.Contains(sib, x) }
	off := crcOffset(checked)
	if len(b) < off+8 || schema.AllZero(b[off:off+8]) {
		if inSib(ref) && (wipedHeader(b) || vb == checked.Version) {
			return detection{s: ref, from: from + ", zero checksum field, the peers' version", fromRef: true}, true
		}
		if vb == unchecked.Version {
			return detection{s: unchecked, from: from}, true
		}
		return detection{s: unchecked, from: fmt.Sprintf("%s, zero checksum field (only a v%d header has one; configVersion said %d)", from, unchecked.Version, vb)}, true
	}
	if vb == checked.Version {
		return detection{s: checked, from: from}, true
	}
	return detection{s: checked, from: fmt.Sprintf("%s, non-zero checksum field (a v%d header's CRC-64)", from, checked.Version)}, true
}

// wipedHeader reports whether the config block looks zeroed: registryHash,
// rows and cols all zero. Zero values there are then no evidence of the
// original ones.
// contiguousRun returns how many records from the first of recs lie in
// b as they are written (not rebuilt, not taken from a copy), one after
// the other.
func contiguousRun(b []byte, s *schema.Schema, recs []record) int {
	if len(recs) == 0 || recs[0].rebuilt || s.Framing == nil && !inFile(b, &recs[0]) {
		return 0
	}
	j := 1
	for j < len(recs) && recs[j].off == recs[j-1].off+recs[j-1].size && !recs[j].rebuilt && (s.Framing != nil || inFile(b, &recs[j])) {
		j++
	}
	return j
}

func wipedHeader(b []byte) bool {
	return len(b) >= schema.PrefixSize && schema.AllZero(b[schema.OffRegistryHash:schema.OffRegistryHash+4]) &&
		b[schema.OffRows] == 0 && b[schema.OffCols] == 0
}

// headerDamage lists the header's problems, field by field.
func headerDamage(b []byte, s *schema.Schema) []Damage {
	var out []Damage
	if int(b[schema.OffConfigVersion]) != s.Version {
		out = append(out, schema.CorruptRecord(schema.ErrCorruptedHeader, schema.OffConfigVersion, schema.NoRecord, "configVersion", fmt.Sprintf("configVersion is %d, the file's layout is version %d", b[schema.OffConfigVersion], s.Version)))
	}
	for _, f := range s.Fields(b) {
		if f.Err != nil {
			out = append(out, damageOf(f.Err, f.Offset, -1))
		}
	}
	return out
}

// outcome is a planned repair.
type outcome struct {
	hd       *header
	recs     []record
	out      []byte
	lost     []Lost
	unnamed  int
	expected int
	repairs  []Repair
	damage   []Damage
	reason   string
}

// derived writes into h the fields that an intact array determines: the
// count, and the array's size and checksum where the version has them.
func derived(h []byte, s *schema.Schema, b []byte, arr *array) []Repair {
	old := bytes.Clone(h)
	var reps []Repair
	array := b[s.HeaderSize:]
	for _, f := range s.Header {
		v := h[f.Offset:f.End()]
		switch f.Kind {
		case schema.KindCount:
			schema.PutUint(v, uint64(len(arr.recs)))
		case schema.KindArraySize:
			schema.PutUint(v, uint64(len(array)))
		case schema.KindArrayChecksum:
			schema.PutUint(v, arr.arrayCRC(b))
		default:
			continue
		}
		if !bytes.Equal(old[f.Offset:f.End()], v) {
			reps = append(reps, Repair{Kind: "derive", Offset: f.Offset, Detail: fmt.Sprintf("%s set to %d (0x%x) from the package array, was 0x%x",
				f.Name, schema.Uint(v), schema.Uint(v), schema.Uint(old[f.Offset:f.End()]))})
		}
	}
	return reps
}

// build plans the repair of b, read as version s, whose array is arr,
// and writes it.
func build(b []byte, s *schema.Schema, arr *array, opts Options) *outcome {
	o := analyse(b, s, arr, opts)
	o.finish(b, s, arr, opts)
	o.write(b, s)
	return o
}

// write assembles the repaired file once, unless the repair failed.
func (o *outcome) write(b []byte, s *schema.Schema) {
	if o.out == nil && o.reason == "" {
		o.out = assemble(b, s, o.hd.h, o.recs)
	}
}

// analyse proves what the header's checksum can prove: the header as
// stored, bit errors, bursts, the peers' values, a copy's header. It
// reads no more of the array than the header needs.
func analyse(b []byte, s *schema.Schema, arr *array, opts Options) *outcome {
	hd := &header{s: s, version: s.Version, h: bytes.Clone(b[:s.HeaderSize])}
	o := &outcome{hd: hd, expected: -1}
	// Without a checksum, a field that looks valid is the original only
	// as far as nothing says otherwise: in a header that shows damage,
	// the peers' values are hypotheses for every field.
	hd.unproven = crcOffset(s) < 0 && len(headerPeers(opts.Peers)) > 0 && len(headerDamage(b, s)) > 0
	hd.restoreFixed()

	if crcOffset(s) >= 0 {
		var known map[uint32]bool
		regs := func() map[uint32]bool {
			if known == nil {
				known = map[uint32]bool{}
				for _, r := range arr.registries() {
					known[r.Hash] = true
				}
			}
			return known
		}
		type variant struct {
			h    []byte
			reps []Repair
		}
		// The header as stored, then (when the array is intact and the
		// stored one is not explained) with the fields the array
		// determines written in.
		variants := []func() (variant, bool){
			func() (variant, bool) { return variant{h: hd.h}, true },
			func() (variant, bool) {
				if !arr.intact {
					return variant{}, false
				}
				d := bytes.Clone(hd.h)
				reps := derived(d, s, b, arr)
				return variant{d, reps}, len(reps) > 0
			},
		}
		for _, next := range variants {
			v, ok := next()
			if !ok {
				continue
			}
			pos, how, ok := explainWith(s, v.h, regs)
			if !ok {
				continue
			}
			old := bytes.Clone(v.h)
			flip(v.h, pos)
			hd.h = v.h
			hd.repairs = append(hd.repairs, v.reps...)
			if len(pos) > 0 {
				hd.describeFlips(old, pos, how)
			}
			hd.verified, hd.crcHolds = true, true
			break
		}
		if off := crcOffset(s); !hd.verified && !schema.AllZero(hd.h[off:off+8]) {
			// Damage at an unknown position: the burst search.
			h, reps := hd.h, []Repair(nil)
			if arr.intact {
				h = bytes.Clone(hd.h)
				reps = derived(h, s, b, arr)
			}
			if br, ok := searchBurst(s, h, arr.intact, regs); ok {
				var pos []int
				for i := range h {
					for d := h[i] ^ br.h[i]; d != 0; d &= d - 1 {
						pos = append(pos, i*8+bits.TrailingZeros8(d))
					}
				}
				hd.repairs = append(hd.repairs, reps...)
				old := h
				hd.h = br.h
				if len(pos) > 0 {
					hd.describeFlips(old, pos, br.how)
				}
				hd.verified, hd.crcHolds = true, true
			}
		}
		if !hd.verified && len(opts.Peers) > 0 {
			// The peers' values as hypotheses the stored CRC-64 confirms,
			// in the header as stored and with the derived fields.
			for _, derive := range []bool{false, true} {
				h, reps := hd.h, []Repair(nil)
				if derive {
					if !arr.intact {
						continue
					}
					h = bytes.Clone(hd.h)
					reps = derived(h, s, b, arr)
				}
				if nh, creps, ok := confirmFromPeers(s, h, opts.Peers); ok {
					hd.h = nh
					hd.repairs = append(append(hd.repairs, reps...), creps...)
					hd.verified, hd.crcHolds = true, true
					break
				}
			}
			if !hd.verified && arr.intact {
				if nh, rep, ok := headerFromCopy(s, b, len(arr.recs), opts.Peers); ok {
					hd.h = nh
					hd.repairs = append(hd.repairs, rep)
					hd.verified, hd.crcHolds = true, true
				}
			}
		}
		if !hd.verified && syndrome(hd.h, crcOffset(s)) == 0 {
			hd.crcHolds = true
		}
	}
	return o
}

// finish rebuilds what the header's checksum did not prove and decides
// the records the repaired file keeps (write assembles it).
func (o *outcome) finish(b []byte, s *schema.Schema, arr *array, opts Options) {
	hd := o.hd
	if !hd.verified {
		hd.rebuild(arr, opts)
		if hd.reason != "" {
			o.reason = hd.reason
			return
		}
	}
	o.reconcile(b, s, arr)
	off := countOffset(s)
	if v := binary.BigEndian.Uint32(hd.h[off:]); int(v) != len(o.recs) && !hasDerive(hd.repairs, off) {
		o.repairs = append(o.repairs, Repair{Kind: "derive", Offset: off,
			Detail: fmt.Sprintf("packageCount set to %d from the records kept, was %d", len(o.recs), v)})
	}
}

func hasDerive(reps []Repair, off int) bool {
	for _, r := range reps {
		if r.Kind == "derive" && r.Offset == off {
			return true
		}
	}
	return false
}

// explainWith is explain with the package registries computed only when
// a wide solution needs the cross-check.
func explainWith(s *schema.Schema, h []byte, regs func() map[uint32]bool) ([]int, string, bool) {
	off := crcOffset(s)
	if syndrome(h, off) != 0 && !schema.AllZero(h[off:off+8]) && (len(unknownBits(s, h)) > crossCheckAbove || wipedHeader(h)) {
		return explain(s, h, regs())
	}
	return explain(s, h, nil)
}

// maxPlausibleCount is the most packages an untrusted packageCount is
// believed to declare when the file lost its tail: a count above both it
// and what the bytes left can hold is damage.
const maxPlausibleCount = 1 << 20

// reconcile decides which records the repaired file keeps: it cuts
// trailing data, lists the packages lost, sorts and drops exact
// duplicates.
func (o *outcome) reconcile(b []byte, s *schema.Schema, arr *array) {
	hd := o.hd
	hs := s.HeaderSize
	countField := int(binary.BigEndian.Uint32(hd.h[countOffset(s):]))
	trusted := hd.crcHolds
	if trusted {
		o.expected = countField
	}
	// sized: the (verified) header says where the array ends.
	sizeField := s.FieldOf(schema.KindArraySize)
	sized := sizeField != nil && trusted
	arrayEnd := max(len(b), arr.end)
	if sized {
		if ps := schema.Uint(hd.h[sizeField.Offset:sizeField.End()]); ps <= uint64(arrayEnd-hs) {
			arrayEnd = hs + int(ps)
		}
	}
	recs := arr.recs
	// Records past the array the (verified) header declares.
	var trailingRecs []record
	switch {
	case sized:
		i := len(recs)
		for i > 0 && recs[i-1].off+recs[i-1].size > arrayEnd {
			i--
		}
		recs, trailingRecs = recs[:i], recs[i:]
	case trusted && len(arr.gaps) == 0 && len(recs) > countField:
		recs, trailingRecs = recs[:countField], recs[countField:]
	}
	for _, r := range trailingRecs {
		o.lost = append(o.lost, Lost{Record: -1, Offset: r.off, Name: string(r.name()), Version: string(r.version()),
			Why: "a whole record after the end of the array the verified header declares (TrailingData)"})
	}
	if len(trailingRecs) > 0 {
		o.damage = append(o.damage, schema.CorruptRecord(schema.ErrTrailingData, trailingRecs[0].off, schema.NoRecord, "packages", fmt.Sprintf("%d records follow the %d the header declares", len(trailingRecs), countField)))
		o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: trailingRecs[0].off, Detail: fmt.Sprintf("%d trailing records dropped", len(trailingRecs))})
	}
	named, nameless := 0, 0
	for gi, g := range arr.gaps {
		last := gi == len(arr.gaps)-1 && g.end == len(b)
		junk := false
		switch {
		case g.off >= arrayEnd:
			junk = true
		case last && !g.torn && len(g.names) == 0 && len(recs) >= countField:
			junk = true
		}
		if junk {
			o.damage = append(o.damage, schema.CorruptRecord(schema.ErrTrailingData, g.off, schema.NoRecord, "packages", fmt.Sprintf("%d bytes after the last record are not records", g.end-g.off)))
			o.repairs = append(o.repairs, Repair{Kind: "cut", Offset: g.off, Detail: fmt.Sprintf("%d bytes of trailing data cut at offset 0x%x", g.end-g.off, g.off)})
			continue
		}
		why := "record damaged: " + g.damage.Problem()
		if g.torn {
			why = "torn tail: the file ends inside the record"
		}
		kind, what := "drop", fmt.Sprintf("damaged bytes 0x%x-0x%x skipped", g.off, g.end)
		if g.torn {
			what = fmt.Sprintf("torn tail cut at offset 0x%x", g.off)
		} else if g.end < len(b) {
			what += fmt.Sprintf(", resynchronised on the record at 0x%x", g.end)
		}
		o.repairs = append(o.repairs, Repair{Kind: kind, Offset: g.off, Detail: what})
		for _, l := range g.names {
			l.Why = why
			o.lost = append(o.lost, l)
		}
		named += len(g.names)
		if len(g.names) == 0 {
			nameless++
		}
	}
	found := len(recs) + named
	// torn: the file may have lost a tail, so the bytes that are left do
	// not bound the count.
	torn := len(arr.gaps) == 0 || arr.gaps[len(arr.gaps)-1].torn
	// The most records the array could have held: a count above it is
	// damage, never a number of lost packages.
	overhead := 0
	if s.Framing != nil {
		overhead = s.Framing.Overhead()
	}
	capacity := (arrayEnd - hs) / (schema.MinPlainRecord + overhead)
	if sized {
		capacity = int(min(uint64(capacity), schema.Uint(hd.h[sizeField.Offset:sizeField.End()])/uint64(schema.MinPlainRecord+overhead)))
	}
	switch {
	case trusted:
		o.unnamed = max(0, countField-found)
		if countField != found+nameless && countField > len(recs) {
			o.damage = append(o.damage, schema.CorruptRecord(schema.ErrPackageCountMismatch, countOffset(s), schema.NoRecord, "packageCount", fmt.Sprintf("packageCount says %d (the header CRC-64 vouches for it), %d records survive", countField, len(recs))))
		}
	default:
		o.unnamed = nameless
		missing := countField - found - nameless
		switch {
		case missing > 0 && (countField <= capacity || torn && countField <= maxPlausibleCount):
			o.unnamed += missing
			o.damage = append(o.damage, schema.CorruptRecord(schema.ErrPackageCountMismatch, countOffset(s), schema.NoRecord, "packageCount", fmt.Sprintf("packageCount says %d, %d records survive: a torn tail at a record boundary, or a damaged packageCount", countField, found+nameless)))
		case missing != 0:
			o.damage = append(o.damage, schema.CorruptRecord(schema.ErrPackageCountMismatch, countOffset(s), schema.NoRecord, "packageCount", fmt.Sprintf("packageCount says %d, %d records survive; the %d bytes of the array can hold at most %d records, so the count is damaged and not used", countField, found+nameless, arrayEnd-hs, capacity)))
		}
	}
	if sized && o.unnamed > 0 && len(arr.gaps) == 0 {
		o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: arrayEnd,
			Detail: fmt.Sprintf("the array ends after %d of the %d records the header declares", len(recs), countField)})
	}
	o.recs = o.sortDedupe(recs, s.Framing == nil)
}

// sortDedupe sorts records that are out of order and drops exact
// duplicates; a second record with the same name and version but other
// content is dropped as lost.
func (o *outcome) sortDedupe(recs []record, plain bool) []record {
	sorted := true
	for i := 1; i < len(recs); i++ {
		if cmpRec(&recs[i-1], &recs[i]) >= 0 {
			sorted = false
			if cmpRec(&recs[i-1], &recs[i]) > 0 {
				o.damage = append(o.damage, schema.CorruptRecord(schema.ErrUnsortedPackages, recs[i].off, i, "name", fmt.Sprintf("%s@%s sorts before %s@%s", recs[i].name(), recs[i].version(), recs[i-1].name(), recs[i-1].version())))
			}
		}
	}
	if sorted {
		return recs
	}
	if plain {
		if out, ok := o.dropOutOfOrder(recs); ok {
			return out
		}
	}
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b record) int { return cmpRec(&a, &b) })
	out := recs[:0:0]
	for i, r := range recs {
		if len(out) > 0 && cmpRec(&out[len(out)-1], &r) == 0 {
			prev := out[len(out)-1]
			o.damage = append(o.damage, schema.CorruptRecord(schema.ErrDuplicatePackage, r.off, i, "name", fmt.Sprintf("%s@%s appears twice", r.name(), r.version())))
			if bytes.Equal(prev.body, r.body) {
				o.repairs = append(o.repairs, Repair{Kind: "dedupe", Offset: r.off,
					Detail: fmt.Sprintf("exact duplicate of %s@%s at offset 0x%x dropped", r.name(), r.version(), r.off)})
			} else {
				o.lost = append(o.lost, Lost{Record: -1, Offset: r.off, Name: string(r.name()), Version: string(r.version()),
					Why: fmt.Sprintf("a second record of %s@%s with other content (the one at 0x%x is kept)", r.name(), r.version(), prev.off)})
				o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: r.off,
					Detail: fmt.Sprintf("conflicting duplicate of %s@%s at offset 0x%x dropped", r.name(), r.version(), r.off)})
			}
			continue
		}
		out = append(out, r)
	}
	o.repairs = append(o.repairs, Repair{Kind: "sort", Offset: 0, Detail: fmt.Sprintf("%d records sorted by name and version", len(out))})
	return out
}

// dropOutOfOrder handles a plain array (no checksums) that is sorted but
// for a few records: those are the damaged ones (a flipped bit in a name
// or version), not a writer that does not sort. It keeps the longest
// sorted run of records and drops the others as lost, named as found. A
// record equal to a kept one is an exact duplicate and dropped without
// loss. With more records out of order it does nothing: the writer did
// not sort, and sorting loses nothing.
func (o *outcome) dropOutOfOrder(recs []record) ([]record, bool) {
	keep := longestSorted(recs)
	if len(recs)-len(keep) > max(2, len(recs)/100) {
		return nil, false
	}
	kept := make([]record, 0, len(keep))
	in := make([]bool, len(recs))
	for _, i := range keep {
		in[i] = true
		kept = append(kept, recs[i])
	}
	for i, r := range recs {
		if in[i] {
			continue
		}
		// kept is sorted: find a record with the same name and version.
		j, found := slices.BinarySearchFunc(kept, r, func(a, b record) int { return cmpRec(&a, &b) })
		exact := found && bytes.Equal(kept[j].body, r.body)
		if exact {
			o.damage = append(o.damage, schema.CorruptRecord(schema.ErrDuplicatePackage, r.off, i, "name", fmt.Sprintf("%s@%s appears twice", r.name(), r.version())))
			o.repairs = append(o.repairs, Repair{Kind: "dedupe", Offset: r.off,
				Detail: fmt.Sprintf("exact duplicate of %s@%s at offset 0x%x dropped", r.name(), r.version(), r.off)})
			continue
		}
		o.damage = append(o.damage, schema.CorruptRecord(schema.ErrUnsortedPackages, r.off, i, "name", fmt.Sprintf("%s@%s breaks the order of an otherwise sorted array", r.name(), r.version())))
		o.lost = append(o.lost, Lost{Record: i, Offset: r.off, Name: string(r.name()), Version: string(r.version()), NameMayBeDamaged: true,
			Why: "out of order in an otherwise sorted array: its name or version is probably damaged (no checksum can tell)"})
		o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: r.off,
			Detail: fmt.Sprintf("record %d (%s@%s) at offset 0x%x dropped: out of order", i, r.name(), r.version(), r.off)})
	}
	return kept, true
}

// longestSorted returns the indexes of a longest strictly increasing run
// (not necessarily contiguous) of recs, in O(n log n).
func longestSorted(recs []record) []int {
	var tails []int // tails[l] = index of the smallest tail of a run of length l+1
	prev := make([]int, len(recs))
	for i := range recs {
		lo, hi := 0, len(tails)
		for lo < hi {
			m := (lo + hi) / 2
			if cmpRec(&recs[tails[m]], &recs[i]) < 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		prev[i] = -1
		if lo > 0 {
			prev[i] = tails[lo-1]
		}
		if lo == len(tails) {
			tails = append(tails, i)
		} else {
			tails[lo] = i
		}
	}
	out := make([]int, len(tails))
	for i, k := len(tails)-1, tails[len(tails)-1]; i >= 0; i, k = i-1, prev[k] {
		out[i] = k
	}
	return out
}

// assemble writes the repaired file: the header h with its count, the
// array's size and checksum and the header checksum recomputed, and the
// records.
func assemble(b []byte, s *schema.Schema, h []byte, recs []record) []byte {
	hs := len(h)
	size := hs
	for i := range recs {
		size += len(recs[i].body)
		if s.Framing != nil {
			size += s.Framing.Overhead()
		}
	}
	var out []byte
	count := len(recs)
	if n := contiguousRun(b, s, recs); n == len(recs) && n > 0 && recs[0].off == hs {
		// Every record lies in b as it is written, one after the other
		// from the header on (header damage): the array is copied at
		// once, into a slice that append sizes and need not clear.
		out = append(h[:hs:hs], b[hs:recs[n-1].off+recs[n-1].size]...)
		recs = nil
	} else {
		out = make([]byte, hs, size)
		copy(out, h)
	}
	binary.BigEndian.PutUint32(out[countOffset(s):], uint32(count))
	for i := 0; i < len(recs); i++ {
		r := &recs[i]
		switch {
		case s.Framing == nil && !inFile(b, r):
			out = append(out, r.body...)
		case s.Framing == nil || !r.rebuilt:
			// A run of records that lie one after the other in b is
			// copied at once.
			j := i + contiguousRun(b, s, recs[i:])
			out = append(out, b[r.off:recs[j-1].off+recs[j-1].size]...)
			i = j - 1
		default:
			out = append(out, s.Framing.Marker...)
			out = binary.BigEndian.AppendUint32(out, uint32(len(r.body)))
			out = append(out, r.body...)
			out = binary.BigEndian.AppendUint32(out, schema.CRC32C(r.body))
		}
	}
	s.Seal(out)
	return out
}

// inFile reports whether the body of plain record r is the bytes of b at
// its offset (not a record taken from a copy).
func inFile(b []byte, r *record) bool {
	return r.off+r.size <= len(b) && len(r.body) == r.size && len(r.body) > 0 && &b[r.off] == &r.body[0]
}

// majorityReport reports the repair of b, whose damage is damage, to c,
// the byte-wise majority of c.k files (b and the peers c.names). It is
// proven when the layout's checksums cover every byte (a header and an
// array CRC-64, which c.out passes); otherwise it needs Mode Yes.
func majorityReport(r *Report, b []byte, s *schema.Schema, c consensus, damage []Damage, opts Options) *Report {
	m, k, names := c.out, c.k, c.names
	r.Version, r.VersionFrom = s.Version, "the byte-wise majority of the copies"
	r.Damage = append(r.Damage, damage...)
	proven := crcOffset(s) >= 0 && s.FieldOf(schema.KindArrayChecksum) != nil
	src := fmt.Sprintf("the byte-wise majority of %d copies (this file, %s)", k, strings.Join(names, ", "))
	both, all := min(len(b), len(m)), max(len(b), len(m))
	for i := 0; i < all; {
		// The next byte where b and m differ, a chunk at a time.
		for i < both {
			c := min(both, i+majorityChunk)
			if bytes.Equal(b[i:c], m[i:c]) {
				i = c
				continue
			}
			for b[i] == m[i] {
				i++
			}
			break
		}
		if i == all {
			break
		}
		j := i
		for j < both && b[j] != m[j] {
			j++
		}
		if i >= both {
			j = all
		}
		for _, p := range c.pieces(i, j) {
			from := src
			if p.why != "" {
				from = p.why
			}
			what := fmt.Sprintf("bytes 0x%x-0x%x taken from %s", p.off, p.end-1, from)
			switch {
			case p.off >= len(m):
				what = fmt.Sprintf("bytes 0x%x-0x%x cut: %s ends at 0x%x", p.off, p.end-1, src, len(m))
			case p.off >= len(b):
				what = fmt.Sprintf("bytes 0x%x-0x%x (a torn tail) taken from %s", p.off, p.end-1, from)
			}
			if proven {
				what += "; the header and array CRC-64 prove them"
			}
			r.Repairs = append(r.Repairs, Repair{Kind: "majority", Offset: p.off, Detail: what, NeedsYes: !proven})
		}
		i = j
	}
	// m is valid: its packageCount is the number of its records.
	n := int(binary.BigEndian.Uint32(m[countOffset(s):]))
	r.Kept, r.Expected = n, n
	if !proven {
		r.Guessed = append(r.Guessed, Guess{Field: "bytes", Value: fmt.Sprintf("%d ranges", len(r.Repairs)), Source: src + ", unconfirmed: no checksum covers them"})
		if opts.Mode != Yes {
			r.Status, r.Needs, r.Plan = StatusRefused, "--yes", m
			return r
		}
	}
	r.Status, r.Output = StatusRepaired, m
	return r
}
