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
// break a rule of FORMAT.md section 6 (callers that write verify them
// again with schema.Check before replacing a file).
package recovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
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
	// Reference is a healthy peer's content: the source of fields that
	// cannot be derived (terminal settings, flags, registry, writer), and
	// of the version when the layout cannot tell v0 from v1.
	Reference *schema.Lockfile
	// ReferenceName names the reference in reports.
	ReferenceName string
	// Registry is a registry URL for registryHash when the packages do
	// not give it.
	Registry string
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
	if s, err := schema.Sniff(b); err == nil && s.Version > v2.Version {
		// A version registered from outside: its layout is its own.
		return unrecognised(r, b, "")
	}
	ver, from, ok := detect(b, opts.Reference)
	if !ok {
		return unrecognised(r, b, from)
	}
	r.Version, r.VersionFrom = ver, from
	hs := headerSize(ver)
	if len(b) < hs {
		r.Damage = append(r.Damage, Damage{Error: schema.ErrTruncated.Error(), Offset: len(b), Record: -1, Field: "header",
			Detail: fmt.Sprintf("the file is %d bytes, the v%d header alone is %d", len(b), ver, hs)})
		r.Status = StatusUnrepairable
		r.Reason = fmt.Sprintf("the file ends inside the header (%d of %d bytes): no package survives to rebuild from", len(b), hs)
		return r
	}
	var arr *array
	if ver == v2.Version {
		arr = salvageFramed(b, hs)
	} else {
		arr = salvagePlain(b, hs)
	}
	o := build(b, ver, arr, opts)
	if ver == 1 && b[schema.OffConfigVersion] == 0 && !o.hd.verified {
		// The version byte says 0 and the CRC-64 explains nothing: a v0
		// file whose checksum field was hit.
		ver = 0
		r.Version, r.VersionFrom = 0, "plain records at 0x40, configVersion byte 0 (its non-zero checksum field is damage)"
		o = build(b, ver, arr, opts)
	}
	r.found = func() *schema.Lockfile { return found(b, ver, arr, o) }
	r.Damage = append(r.Damage, headerDamage(b, ver)...)
	r.Damage = append(r.Damage, arr.damage...)
	r.Damage = append(r.Damage, o.damage...)
	r.Repairs = append(r.Repairs, o.hd.repairs...)
	r.Repairs = append(r.Repairs, arr.repairs...)
	r.Repairs = append(r.Repairs, o.repairs...)
	switch {
	case ver > 1 || o.hd.verified || strings.Contains(r.VersionFrom, "reference"):
	case wipedHeader(b):
		// A wiped plain header: v0 and v1 differ only in the checksum.
		r.Guessed = append(r.Guessed, Guess{Field: "configVersion", Value: fmt.Sprint(ver), Source: r.VersionFrom + "; the header was wiped"})
	case ver == 0 && b[schema.OffConfigVersion] == 1:
		// A v0 file with a flipped version bit, or a v1 file whose
		// checksum was zeroed: the layout cannot tell.
		r.Guessed = append(r.Guessed, Guess{Field: "configVersion", Value: "0", Source: r.VersionFrom})
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
		clean := newReport()
		clean.Version, clean.VersionFrom, clean.Status = ver, "header", StatusClean
		clean.Kept, clean.Expected = len(o.recs), len(o.recs)
		return clean
	}
	if !headerValid(ver, o.out) {
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
func found(b []byte, ver int, arr *array, o *outcome) *schema.Lockfile {
	l := &schema.Lockfile{Config: schema.DecodeConfig(b[schema.OffConfigVersion:])}
	l.Config.Version = int(b[schema.OffConfigVersion])
	if ver == v2.Version && len(b) >= v2.HeaderSize {
		l.Writer = strings.TrimRight(string(b[v2.OffWriter:v2.OffWriter+v2.WriterSize]), "\x00")
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

// unrecognised reports a file that is not recognisable as a lockfile, or
// one of a version whose layout recovery does not know.
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
		r.Reason = fmt.Sprintf("recovery knows the layouts of versions 0, 1 and 2, not %d", s.Version)
		return r
	}
	for _, e := range schema.Check(b) {
		r.Damage = append(r.Damage, damageOf(e, 0, -1))
	}
	r.Status, r.Reason = StatusUnrepairable, why
	return r
}

// detect recognises the version from the layout of the file, then the
// header's bytes.
func detect(b []byte, ref *schema.Lockfile) (int, string, bool) {
	if len(b) < schema.PrefixSize {
		return -1, fmt.Sprintf("the file is %d bytes, too short for a lockfile's header", len(b)), false
	}
	magicOK := string(b[:4]) == schema.Magic
	vb := int(b[schema.OffConfigVersion])
	framed := len(b) >= v2.HeaderSize+2 && b[v2.HeaderSize] == 'P' && b[v2.HeaderSize+1] == 'K'
	plainRec := false
	if len(b) >= plainHeaderSize+schema.MinPlainRecord {
		r, _, err := schema.ParseBody(b[plainHeaderSize:], plainHeaderSize, 0)
		plainRec = err == nil && schema.CheckRaw(&r, 0) == nil
	}
	plain := false
	var from string
	switch {
	case framed && !plainRec:
		return v2.Version, "framed records at 0x68", true
	case plainRec && !framed:
		plain, from = true, "plain records at 0x40"
	case len(b) >= v2.OffHeaderSize+2 && binary.BigEndian.Uint16(b[v2.OffHeaderSize:]) == v2.HeaderSize && vb != 0 && vb != 1:
		return v2.Version, "headerSize field 104", true
	case magicOK && vb <= 2:
		if vb == v2.Version {
			return v2.Version, "header", true
		}
		plain, from = true, "header"
	case ref != nil && ref.Config.Version <= 2:
		if ref.Config.Version == v2.Version {
			return v2.Version, "the reference's version (no record to tell the layout)", true
		}
		plain, from = true, "the reference's layout (no record to tell it)"
	case nextFrame(b, v2.HeaderSize) >= 0:
		return v2.Version, "framed records after 0x68", true
	case nextPlain(b, plainHeaderSize, nil) >= 0:
		plain, from = true, "plain records after 0x40"
	}
	if !plain {
		if magicOK {
			return -1, fmt.Sprintf("configVersion %d is not known to this build and no record shows the layout", vb), false
		}
		return -1, fmt.Sprintf("not a lockfile: the magic is %q and no package record was found", b[:4]), false
	}
	if len(b) < offChecksum+8 || schema.AllZero(b[offChecksum:offChecksum+8]) {
		if ref != nil && ref.Config.Version <= 1 && (wipedHeader(b) || vb == 1) {
			return ref.Config.Version, from + ", zero checksum field, the reference's version", true
		}
		if vb == 0 {
			return 0, from, true
		}
		return 0, from + ", zero checksum field (only a v0 header has one; configVersion said 1)", true
	}
	if vb == 1 {
		return 1, from, true
	}
	return 1, from + ", non-zero checksum field (a v1 header's CRC-64)", true
}

// wipedHeader reports whether the config block looks zeroed: registryHash,
// rows and cols all zero. Zero values there are then no evidence of the
// original ones.
func wipedHeader(b []byte) bool {
	return len(b) >= schema.PrefixSize && schema.AllZero(b[schema.OffRegistryHash:schema.OffRegistryHash+4]) &&
		b[schema.OffRows] == 0 && b[schema.OffCols] == 0
}

// headerDamage lists the header's problems, field by field.
func headerDamage(b []byte, ver int) []Damage {
	var out []Damage
	if int(b[schema.OffConfigVersion]) != ver {
		out = append(out, Damage{Error: schema.ErrCorruptedHeader.Error(), Offset: schema.OffConfigVersion, Record: -1, Field: "configVersion",
			Detail: fmt.Sprintf("configVersion is %d, the file's layout is version %d", b[schema.OffConfigVersion], ver)})
	}
	s, ok := schema.Lookup(ver)
	if !ok || s.Fields == nil {
		return out
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

// derived writes into h the fields that an intact array determines:
// packageCount, and for v2 packagesSize and packagesChecksum.
func derived(h []byte, ver int, b []byte, arr *array) []Repair {
	old := bytes.Clone(h)
	var reps []Repair
	binary.BigEndian.PutUint32(h[offPackageCount:], uint32(len(arr.recs)))
	if ver == v2.Version {
		binary.BigEndian.PutUint64(h[v2.OffPackagesSize:], uint64(len(b)-v2.HeaderSize))
		binary.BigEndian.PutUint64(h[v2.OffPackagesChecksum:], schema.CRC64(b[v2.HeaderSize:]))
	}
	for _, f := range []struct {
		off, size int
		name      string
	}{{offPackageCount, 4, "packageCount"}, {v2.OffPackagesSize, 8, "packagesSize"}, {v2.OffPackagesChecksum, 8, "packagesChecksum"}} {
		if f.off+f.size > len(h) || ver != v2.Version && f.off != offPackageCount {
			continue
		}
		if !bytes.Equal(old[f.off:f.off+f.size], h[f.off:f.off+f.size]) {
			reps = append(reps, Repair{Kind: "derive", Offset: f.off, Detail: fmt.Sprintf("%s set to %d (0x%x) from the package array, was 0x%x",
				f.name, schema.Uint(h[f.off:f.off+f.size]), schema.Uint(h[f.off:f.off+f.size]), schema.Uint(old[f.off:f.off+f.size]))})
		}
	}
	return reps
}

func build(b []byte, ver int, arr *array, opts Options) *outcome {
	hs := headerSize(ver)
	hd := &header{version: ver, h: bytes.Clone(b[:hs])}
	o := &outcome{hd: hd, expected: -1}
	hd.restoreFixed()

	if ver != 0 {
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
				reps := derived(d, ver, b, arr)
				return variant{d, reps}, len(reps) > 0
			},
		}
		for _, next := range variants {
			v, ok := next()
			if !ok {
				continue
			}
			pos, how, ok := explainWith(ver, v.h, regs)
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
		if !hd.verified && syndrome(hd.h) == 0 {
			hd.crcHolds = true
		}
	}
	if !hd.verified {
		hd.rebuild(arr, opts)
		if hd.reason != "" {
			o.reason = hd.reason
			return o
		}
	}
	o.reconcile(b, ver, arr)
	o.out = assemble(b, ver, hd.h, o.recs)
	if v := binary.BigEndian.Uint32(hd.h[offPackageCount:]); int(v) != len(o.recs) && !hasDerive(hd.repairs, offPackageCount) {
		o.repairs = append(o.repairs, Repair{Kind: "derive", Offset: offPackageCount,
			Detail: fmt.Sprintf("packageCount set to %d from the records kept, was %d", len(o.recs), v)})
	}
	return o
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
func explainWith(ver int, h []byte, regs func() map[uint32]bool) ([]int, string, bool) {
	if syndrome(h) != 0 && !schema.AllZero(h[offChecksum:offChecksum+8]) && (len(unknownBits(ver, h)) > crossCheckAbove || wipedHeader(h)) {
		return explain(ver, h, regs())
	}
	return explain(ver, h, nil)
}

// reconcile decides which records the repaired file keeps: it cuts
// trailing data, lists the packages lost, sorts and drops exact
// duplicates.
func (o *outcome) reconcile(b []byte, ver int, arr *array) {
	hd := o.hd
	hs := headerSize(ver)
	countField := int(binary.BigEndian.Uint32(hd.h[offPackageCount:]))
	trusted := hd.crcHolds
	if trusted {
		o.expected = countField
	}
	arrayEnd := len(b)
	if ver == v2.Version && trusted {
		if ps := binary.BigEndian.Uint64(hd.h[v2.OffPackagesSize:]); ps <= uint64(len(b)-hs) {
			arrayEnd = hs + int(ps)
		}
	}
	recs := arr.recs
	// Records past the array the (verified) header declares.
	var trailingRecs []record
	switch {
	case ver == v2.Version && trusted:
		i := len(recs)
		for i > 0 && recs[i-1].off+recs[i-1].size > arrayEnd {
			i--
		}
		recs, trailingRecs = recs[:i], recs[i:]
	case trusted && len(arr.gaps) == 0 && len(recs) > countField:
		recs, trailingRecs = recs[:countField], recs[countField:]
	}
	for _, r := range trailingRecs {
		o.lost = append(o.lost, Lost{Record: -1, Offset: r.off, Name: string(r.name), Version: string(r.version),
			Why: "a whole record after the end of the array the verified header declares (TrailingData)"})
	}
	if len(trailingRecs) > 0 {
		o.damage = append(o.damage, Damage{Error: schema.ErrTrailingData.Error(), Offset: trailingRecs[0].off, Record: -1, Field: "packages",
			Detail: fmt.Sprintf("%d records follow the %d the header declares", len(trailingRecs), countField)})
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
			o.damage = append(o.damage, Damage{Error: schema.ErrTrailingData.Error(), Offset: g.off, Record: -1, Field: "packages",
				Detail: fmt.Sprintf("%d bytes after the last record are not records", g.end-g.off)})
			o.repairs = append(o.repairs, Repair{Kind: "cut", Offset: g.off, Detail: fmt.Sprintf("%d bytes of trailing data cut at offset 0x%x", g.end-g.off, g.off)})
			continue
		}
		why := "record damaged: " + g.damage.String()
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
	switch {
	case trusted:
		o.unnamed = max(0, countField-len(recs)-named)
	default:
		o.unnamed = nameless
		if missing := countField - len(recs) - named - nameless; missing > 0 {
			o.unnamed += missing
			o.damage = append(o.damage, Damage{Error: schema.ErrPackageCountMismatch.Error(), Offset: offPackageCount, Record: -1, Field: "packageCount",
				Detail: fmt.Sprintf("packageCount says %d, %d records survive: a torn tail at a record boundary, or a damaged packageCount", countField, len(recs)+named+nameless)})
		}
	}
	if ver == v2.Version && trusted && o.unnamed > 0 && len(arr.gaps) == 0 {
		o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: arrayEnd,
			Detail: fmt.Sprintf("the array ends after %d of the %d records the header declares", len(recs), countField)})
	}
	o.recs = o.sortDedupe(recs, ver != v2.Version)
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
				o.damage = append(o.damage, Damage{Error: schema.ErrUnsortedPackages.Error(), Offset: recs[i].off, Record: i, Field: "name",
					Detail: fmt.Sprintf("%s@%s sorts before %s@%s", recs[i].name, recs[i].version, recs[i-1].name, recs[i-1].version)})
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
			o.damage = append(o.damage, Damage{Error: schema.ErrDuplicatePackage.Error(), Offset: r.off, Record: i, Field: "name",
				Detail: fmt.Sprintf("%s@%s appears twice", r.name, r.version)})
			if bytes.Equal(prev.body, r.body) {
				o.repairs = append(o.repairs, Repair{Kind: "dedupe", Offset: r.off,
					Detail: fmt.Sprintf("exact duplicate of %s@%s at offset 0x%x dropped", r.name, r.version, r.off)})
			} else {
				o.lost = append(o.lost, Lost{Record: -1, Offset: r.off, Name: string(r.name), Version: string(r.version),
					Why: fmt.Sprintf("a second record of %s@%s with other content (the one at 0x%x is kept)", r.name, r.version, prev.off)})
				o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: r.off,
					Detail: fmt.Sprintf("conflicting duplicate of %s@%s at offset 0x%x dropped", r.name, r.version, r.off)})
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
			o.damage = append(o.damage, Damage{Error: schema.ErrDuplicatePackage.Error(), Offset: r.off, Record: i, Field: "name",
				Detail: fmt.Sprintf("%s@%s appears twice", r.name, r.version)})
			o.repairs = append(o.repairs, Repair{Kind: "dedupe", Offset: r.off,
				Detail: fmt.Sprintf("exact duplicate of %s@%s at offset 0x%x dropped", r.name, r.version, r.off)})
			continue
		}
		o.damage = append(o.damage, Damage{Error: schema.ErrUnsortedPackages.Error(), Offset: r.off, Record: i, Field: "name",
			Detail: fmt.Sprintf("%s@%s breaks the order of an otherwise sorted array", r.name, r.version)})
		o.lost = append(o.lost, Lost{Record: i, Offset: r.off, Name: string(r.name), Version: string(r.version), NameMayBeDamaged: true,
			Why: "out of order in an otherwise sorted array: its name or version is probably damaged (no checksum can tell)"})
		o.repairs = append(o.repairs, Repair{Kind: "drop", Offset: r.off,
			Detail: fmt.Sprintf("record %d (%s@%s) at offset 0x%x dropped: out of order", i, r.name, r.version, r.off)})
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

// assemble writes the repaired file: the header h with its counts, sizes
// and checksums recomputed, and the records.
func assemble(b []byte, ver int, h []byte, recs []record) []byte {
	hs := len(h)
	size := hs
	for i := range recs {
		size += len(recs[i].body)
		if ver == v2.Version {
			size += v2.FrameOverhead
		}
	}
	out := make([]byte, hs, size)
	copy(out, h)
	binary.BigEndian.PutUint32(out[offPackageCount:], uint32(len(recs)))
	for i := range recs {
		r := &recs[i]
		switch {
		case ver != v2.Version:
			out = append(out, r.body...)
		case !r.rebuilt:
			out = append(out, b[r.off:r.off+r.size]...)
		default:
			out = append(out, v2.Marker...)
			out = binary.BigEndian.AppendUint32(out, uint32(len(r.body)))
			out = append(out, r.body...)
			out = binary.BigEndian.AppendUint32(out, schema.CRC32C(r.body))
		}
	}
	switch ver {
	case 0:
		clear(out[offChecksum : offChecksum+8])
	case 1:
		binary.BigEndian.PutUint64(out[offChecksum:], schema.HeaderCRC(out[:hs], offChecksum))
	case v2.Version:
		binary.BigEndian.PutUint64(out[v2.OffPackagesSize:], uint64(len(out)-hs))
		binary.BigEndian.PutUint64(out[v2.OffPackagesChecksum:], schema.CRC64(out[hs:]))
		binary.BigEndian.PutUint64(out[offChecksum:], schema.HeaderCRC(out[:hs], offChecksum))
	}
	return out
}
