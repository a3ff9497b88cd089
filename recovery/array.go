package recovery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/lockfix/lockfix/schema"
)

// record is a package record that survived, as it lies in the file (or
// corrected).
//
// Its strings are not held as slices of their own: a record is read for
// every package of every file and peer, and the lengths of the name,
// version and resolved URL find them in body.
type record struct {
	body []byte // the four length-prefixed strings, exactly
	off  int    // file offset of the record (its marker for v2)
	size int    // bytes it takes in the file
	// The lengths of the name, version and resolved URL.
	nameLen, versionLen, resolvedLen uint16
	// rebuilt: a v2 frame that must be written anew from body (it was
	// corrected); otherwise the record's bytes in the file are copied.
	rebuilt bool
}

func newRecord(r *schema.RawPackage, off, size int, body []byte, rebuilt bool) record {
	return record{body: body, off: off, size: size, rebuilt: rebuilt,
		nameLen: uint16(len(r.Name)), versionLen: uint16(len(r.Version)), resolvedLen: uint16(len(r.Resolved))}
}

// validRecord returns the record of body (the strings of a record, and
// nothing after them) when they break no rule of docs/format.md section 5; it
// does not allocate.
func validRecord(body []byte, off, size int) (record, bool) {
	name, version, resolved, _, ok := schema.ValidBody(body)
	if !ok {
		return record{}, false
	}
	r := schema.RawPackage{Name: name, Version: version, Resolved: resolved}
	return newRecord(&r, off, size, body, false), true
}

func (r *record) name() []byte { return r.body[2 : 2+int(r.nameLen)] }

func (r *record) version() []byte {
	at := 4 + int(r.nameLen)
	return r.body[at : at+int(r.versionLen)]
}

func (r *record) resolved() []byte {
	at := 6 + int(r.nameLen) + int(r.versionLen)
	return r.body[at : at+int(r.resolvedLen)]
}

// cmpRec orders records by name, then version, comparing bytes.
func cmpRec(a, b *record) int {
	if c := bytes.Compare(a.name(), b.name()); c != 0 {
		return c
	}
	return bytes.Compare(a.version(), b.version())
}

// pkg returns the record as a Package.
func (r *record) pkg() schema.Package {
	raw, _, _ := schema.ParseBody(r.body, 0, 0)
	return raw.Package()
}

// gap is a damaged stretch of the array: the bytes from off to end did
// not parse as good records.
type gap struct {
	off, end int
	record   int    // index of the first record it replaces
	names    []Lost // records in it whose name survived
	torn     bool   // it runs into the end of the file inside a record
	// order: a record that keeps the rules of its strings but breaks
	// the order of an otherwise sorted array (orderSuspects).
	order  bool
	damage Damage
}

// array is what survived of a package array.
type array struct {
	recs    []record
	gaps    []gap
	repairs []Repair
	damage  []Damage
	// intact: every byte parsed as records, nothing corrected.
	intact bool
	regs   []schema.RegistryCount // computed once, by registries
	// s is the version whose records these are.
	s *schema.Schema
	// end is where the records end when records taken from copies run
	// past the end of the file (0: the file's end).
	end int
	// crc is the CRC-64 of the file's array, once crcDone.
	crc     uint64
	crcDone bool
	// checked is the fast path's verdict on the records of a long
	// stretch, checked at once (fastRun).
	checked *checked
}

// arrayCRC returns the CRC-64 of the array of b (the bytes after the
// header), computed once: every hypothesis about an intact array's
// header needs it.
func (a *array) arrayCRC(b []byte) uint64 {
	if !a.crcDone {
		a.crc, a.crcDone = schema.CRC64(b[a.s.HeaderSize:]), true
	}
	return a.crc
}

// registries returns the registries of the records, counted once.
func (a *array) registries() []schema.RegistryCount {
	if a.regs == nil {
		a.regs = registries(a.recs)
	}
	return a.regs
}

// hasRegistry reports whether h is the registry hash of a registry of
// the records (one of registries): it stops at the first record from
// that registry, so a registryHash that names the packages' registry
// costs a few records, not the array.
func (a *array) hasRegistry(h uint32) bool {
	if a.regs != nil {
		return slices.ContainsFunc(a.regs, func(r schema.RegistryCount) bool { return r.Hash == h })
	}
	var tried [8][]byte
	nt, last := 0, -1
	for i := range a.recs {
		r := &a.recs[i]
		// The registry the record would name, from the lengths alone:
		// when it is one tried, whether the rest of its URL has the layout
		// does not matter, that registry is not h's.
		if p := candidatePrefix(r); p >= 0 && nt > 0 {
			cand := r.resolved()[:p]
			if bytes.Equal(tried[last], cand) || slices.ContainsFunc(tried[:nt], func(t []byte) bool { return bytes.Equal(t, cand) }) {
				continue
			}
		}
		prefix := registryPrefix(r)
		if last >= 0 && bytes.Equal(tried[last], prefix) {
			continue
		}
		j := 0
		for j < nt && !bytes.Equal(tried[j], prefix) {
			j++
		}
		if j < nt {
			last = j
			continue
		}
		if nt < len(tried) {
			tried[nt], last = prefix, nt
			nt++
		}
		if len(prefix) == 0 || prefix[len(prefix)-1] != '/' {
			continue
		}
		if u, err := schema.NormalizeRegistry(string(prefix)); err == nil && schema.HashString(u) == h {
			return true
		}
	}
	return false
}

func damageOf(err error, fallbackOff, rec int) Damage {
	var ce *schema.CorruptionError
	if schema.AsCorruption(err, &ce) {
		return schema.AsProblem(ce, "")
	}
	return schema.CorruptRecord(err, fallbackOff, rec, "", "")
}

// The fast path of a salvage: the records from pos are read and checked
// in one pass (lengths, frames, CRC-32C, the rules of their strings),
// without allocating. The records up to the first one that fails are
// appended; the slow path, which corrects, resynchronises and names what
// is lost, takes over at the offset returned.

// fastFramed appends the whole v2 records from pos whose CRC-32C holds
// and whose strings pass the rules, and returns where it stopped.
func (a *array) fastFramed(b []byte, pos int) int {
	fr := a.s.Framing
	over := fr.Overhead()
	for {
		body, stored, ok := fr.FrameAt(b[pos:])
		if !ok || schema.CRC32C(body) != stored {
			break
		}
		r, ok := validRecord(body, pos, over+len(body))
		if !ok {
			break
		}
		a.recs = append(a.recs, r)
		pos += over + len(body)
	}
	return pos
}

// fastPlain appends the plain records from pos that parse and pass the
// rules, and returns where it stopped.
func (a *array) fastPlain(b []byte, pos int) int {
	for pos < len(b) {
		n := schema.PlainSize(b[pos:])
		if n < 0 {
			break
		}
		r, ok := validRecord(b[pos:pos+n:pos+n], pos, n)
		if !ok {
			break
		}
		a.recs = append(a.recs, r)
		pos += n
	}
	return pos
}

// parallelFastMin is the stretch of a file, in bytes, from which the fast
// path of a salvage checks its records on several goroutines, as the
// strict check of schema does; below it one goroutine is faster. (A
// variable: the tests compare with the salvage on one goroutine.)
var parallelFastMin = 128 << 10

// fastRun runs the fast path (fastFramed or fastPlain, as fast) over b
// from pos and returns where it stopped, as fast does. Over a long
// stretch it checks the records on several goroutines first (checked):
// a hop reads only the lengths from record to record (hop: the next
// record's offset, or -1), the records it passed are cut into one chunk
// per processor, and each chunk gets a verdict for every record. The
// fast path then takes the records the verdicts pass from the first on,
// and stops at the first they fail; when the salvage comes back after
// the damage at a record boundary of the same stretch, the verdicts
// serve again, so no record is checked twice.
func (a *array) fastRun(b []byte, pos int, fast func(a *array, b []byte, pos int) int, hop func(b []byte, pos int) int) int {
	c := a.checked
	k := -1
	if c != nil {
		k = c.at(pos)
	}
	if k < 0 {
		// A stretch the last hop passed is not hopped again: off its
		// record boundaries (a plain array read out of step after damage)
		// the hop's verdicts are of no use, and a second hop there would
		// mostly read garbage.
		fresh := c == nil || pos >= c.end
		c = nil
		if fresh && runtime.GOMAXPROCS(0) >= 2 && len(b)-pos >= parallelFastMin {
			c = check(a.s, b, pos, fast, hop)
		}
		if c == nil {
			if a.recs == nil {
				a.recs = make([]record, 0, capHint(a.s, b, pos, overhead(a.s)))
			}
			return fast(a, b, pos)
		}
		a.checked, k = c, 0
	}
	j := k
	for j < len(c.recs) && c.ok[j] {
		j++
	}
	if len(a.recs) == 0 {
		// The records are the verdicts' own, up to the first failure: a
		// record appended later is appended to a copy.
		a.recs = c.recs[k:j:j]
	} else {
		a.recs = append(a.recs, c.recs[k:j]...)
	}
	if j < len(c.recs) {
		return c.recs[j].off // the record the verdict fails
	}
	return fast(a, b, c.end) // where the hop stopped
}

// overhead returns the bytes a record of layout s takes besides its
// strings.
func overhead(s *schema.Schema) int {
	if s.Framing != nil {
		return s.Framing.Overhead()
	}
	return 0
}

// checked is the verdict of the fast path on each record of a stretch
// that a hop passed: recs[i] is the record at the i-th offset, kept when
// ok[i]; end is where the hop stopped.
type checked struct {
	recs []record
	ok   []bool
	end  int
}

// at returns the index of the record at offset pos, or -1.
func (c *checked) at(pos int) int {
	i, found := slices.BinarySearchFunc(c.recs, pos, func(r record, pos int) int { return r.off - pos })
	if !found {
		return -1
	}
	return i
}

// check hops over b from pos and checks the records it passed in one
// chunk per processor at once; nil when the hop passes too few.
func check(s *schema.Schema, b []byte, pos int, fast func(a *array, b []byte, pos int) int, hop func(b []byte, pos int) int) *checked {
	workers := min(runtime.GOMAXPROCS(0), 8)
	c := &checked{recs: make([]record, 0, capHint(s, b, pos, overhead(s))), end: pos}
	for q := pos; ; {
		next := hop(b, q)
		if next < 0 {
			break
		}
		c.recs = append(c.recs, record{off: q, size: next - q})
		q, c.end = next, next
	}
	if len(c.recs) < 2*workers {
		return nil
	}
	c.ok = make([]bool, len(c.recs))
	// One chunk per processor, even in bytes. In each the fast path runs
	// from the chunk's start, and again after each record it fails.
	per := (c.end - pos) / workers
	run := func(lo, hi int) {
		end := c.recs[hi-1].off + c.recs[hi-1].size
		for i := lo; i < hi; {
			// The fast path writes the records it keeps over the hop's.
			part := &array{s: s, recs: c.recs[i:i:hi]}
			stop := fast(part, b[:end], c.recs[i].off)
			for n := range part.recs {
				c.ok[i+n] = true
			}
			i += len(part.recs)
			if stop < end {
				i++ // the record the fast path failed: not ok
			}
		}
	}
	var bounds []int
	for i, start := 0, pos; i < len(c.recs); i++ {
		if c.recs[i].off-start >= per && len(bounds) < workers-1 {
			bounds = append(bounds, i)
			start = c.recs[i].off
		}
	}
	bounds = append(bounds, len(c.recs))
	var wg sync.WaitGroup
	lo := 0
	for _, hi := range bounds[:len(bounds)-1] {
		from := lo
		wg.Go(func() { run(from, hi) })
		lo = hi
	}
	run(lo, len(c.recs))
	wg.Wait()
	return c
}

// hopFramed returns the offset of the frame after the one at pos, read
// from its marker and bodySize alone, or -1.
func hopFramed(s *schema.Schema) func(b []byte, pos int) int {
	fr := s.Framing
	return func(b []byte, pos int) int {
		if size := fr.Hop(b[pos:]); size > 0 {
			return pos + size
		}
		return -1
	}
}

// hopPlain returns the offset of the plain record after the one at pos,
// read from its lengths alone, or -1.
func hopPlain(b []byte, pos int) int {
	if pos >= len(b) {
		return -1
	}
	n := schema.PlainSize(b[pos:])
	if n < 0 {
		return -1
	}
	return pos + n
}

// capHint is the capacity for the records of b: the header's
// packageCount, bounded by what the bytes can hold (a count read from a
// damaged file is never trusted for allocation).
func capHint(s *schema.Schema, b []byte, start, overhead int) int {
	off := countOffset(s)
	if len(b) < off+4 {
		return 0
	}
	n := int(binary.BigEndian.Uint32(b[off:]))
	if n == 0 {
		n = (len(b) - start) / 128 // a wiped count: a typical record size
	}
	return min(n+1, (len(b)-start)/(schema.MinPlainRecord+overhead)+1)
}

// salvageFramed reads framed records from start to the end of b,
// correcting single-bit errors in a record (CRC-32C) and skipping damaged
// ones by resynchronising on the next "PK" frame whose CRC-32C holds.
func salvageFramed(s *schema.Schema, b []byte, start int) *array {
	a := &array{s: s, intact: true} // fastRun sizes the records
	hop := hopFramed(s)
	pos, idx := start, 0
	for pos < len(b) {
		n0 := len(a.recs)
		pos = a.fastRun(b, pos, (*array).fastFramed, hop)
		idx += len(a.recs) - n0
		if pos >= len(b) {
			break
		}
		rec, d, ok := a.framedAt(b, pos, idx)
		if ok {
			a.recs = append(a.recs, rec)
			pos += rec.size
			idx++
			continue
		}
		a.intact = false
		q := nextFrame(s, b, pos+1)
		if q < 0 {
			q = len(b)
		}
		// The gap may be exactly one record whose marker or bodySize was
		// hit: its body still ends 4 bytes before the next frame.
		if rec, ok := frameFromGap(s, b, pos, q); ok {
			a.recs = append(a.recs, rec)
			a.damage = append(a.damage, d)
			a.repairs = append(a.repairs, Repair{Kind: "correct", Offset: pos,
				Detail: fmt.Sprintf("frame of record %d at offset 0x%x rebuilt: its marker or bodySize was damaged, its body's CRC-32C holds", idx, pos)})
			pos = q
			idx++
			continue
		}
		g := gap{off: pos, end: q, record: idx, damage: d}
		g.torn = q == len(b) && errors.Is(d, schema.ErrTruncated)
		for p := pos; p < q; p++ {
			if m := s.Framing.Marker; p != pos && string(b[p:min(p+len(m), len(b))]) != m {
				continue
			}
			if name, ver := partialAt(b, p+s.Framing.Head()); name != "" {
				g.names = append(g.names, Lost{Record: idx + len(g.names), Offset: p, Name: name, Version: ver})
			}
		}
		a.gaps = append(a.gaps, g)
		a.damage = append(a.damage, d)
		idx += max(1, len(g.names))
		pos = q
	}
	a.checked = nil // the verdicts served the salvage
	return a
}

// framedAt reads the record at pos: whole, its CRC-32C holding (after a
// single-bit correction) and its body valid.
func (a *array) framedAt(b []byte, pos, idx int) (record, Damage, bool) {
	f, err := a.s.ReadFrame(b[pos:], pos, idx)
	if err != nil {
		return record{}, damageOf(err, pos, idx), false
	}
	size := f.Size()
	body := f.Body
	bodyAt := pos + a.s.Framing.Head()
	intact := true
	if sum := schema.CRC32C(body); sum != f.Stored {
		d := schema.CorruptRecord(schema.ErrRecordChecksumMismatch, bodyAt+len(body), idx, "bodyChecksum", fmt.Sprintf("record CRC-32C is 0x%08x, the body computes to 0x%08x", f.Stored, sum))
		bit, inStored, ok := fixRecordBit(body, f.Stored)
		if !ok {
			return record{}, d, false
		}
		if inStored {
			s := f.Stored ^ sum
			k := 0
			for s>>uint(k) != 1 {
				k++
			}
			at := bodyAt + len(body) + 3 - k/8
			a.repairs = append(a.repairs, Repair{Kind: "correct", Offset: at,
				Detail: fmt.Sprintf("bit %d of byte 0x%x flipped back (single-bit correction of record %d's stored CRC-32C)", k%8, at, idx)})
		} else {
			body = bytes.Clone(body)
			body[bit/8] ^= 1 << uint(bit%8)
			at := bodyAt + bit/8
			a.repairs = append(a.repairs, Repair{Kind: "correct", Offset: at,
				Detail: fmt.Sprintf("bit %d of byte 0x%x flipped back (single-bit correction, CRC-32C of record %d)", bit%8, at, idx)})
		}
		a.damage = append(a.damage, d)
		intact = false
	}
	r, err := a.s.ParseFrameBody(body, pos, idx)
	if err == nil {
		err = schema.CheckRaw(&r, idx)
	}
	if err != nil {
		if !intact {
			a.repairs = a.repairs[:len(a.repairs)-1]
			a.damage = a.damage[:len(a.damage)-1]
		}
		return record{}, damageOf(err, pos, idx), false
	}
	if !intact {
		a.intact = false
	}
	return newRecord(&r, pos, size, body, !intact), nil, true
}

// nextFrame returns the offset of the next "PK" frame at or after from
// whose CRC-32C holds and whose body is a valid record, or -1.
func nextFrame(s *schema.Schema, b []byte, from int) int {
	for from < len(b) {
		i := bytes.Index(b[from:], []byte(s.Framing.Marker))
		if i < 0 {
			return -1
		}
		p := from + i
		if f, err := s.ReadFrame(b[p:], p, 0); err == nil && schema.CRC32C(f.Body) == f.Stored {
			if r, err := s.ParseFrameBody(f.Body, p, 0); err == nil && schema.CheckRaw(&r, 0) == nil {
				return p
			}
		}
		from = p + 1
	}
	return -1
}

// frameFromGap tries the bytes from pos to q as one record whose marker
// or bodySize is damaged: body from pos+s.Framing.Head() to q-4, the
// CRC-32C in the last four bytes.
func frameFromGap(s *schema.Schema, b []byte, pos, q int) (record, bool) {
	n := q - pos - s.Framing.Overhead()
	if n < s.Framing.MinBody || n > s.Framing.MaxBody {
		return record{}, false
	}
	body := b[pos+s.Framing.Head() : q-4]
	if schema.CRC32C(body) != binary.BigEndian.Uint32(b[q-4:]) {
		return record{}, false
	}
	r, err := s.ParseFrameBody(body, pos, 0)
	if err != nil || schema.CheckRaw(&r, 0) != nil {
		return record{}, false
	}
	return newRecord(&r, pos, q-pos, body, true), true
}

// salvagePlain reads plain records from start to the end of b. At a
// record that does not parse or breaks a rule it resynchronises on the
// next plausible record: one whose four strings pass the rules, that
// sorts after the last good one, and that is followed by another such
// record or by the end of the file.
func salvagePlain(s *schema.Schema, b []byte, start int) *array {
	a := &array{s: s, intact: true} // fastRun sizes the records
	pos, idx := start, 0
	var prev schema.RawPackage
	havePrev := false
	for pos < len(b) {
		n0 := len(a.recs)
		pos = a.fastRun(b, pos, (*array).fastPlain, hopPlain)
		if k := len(a.recs); k > n0 {
			idx += k - n0
			prev, havePrev = schema.RawPackage{Name: a.recs[k-1].name(), Version: a.recs[k-1].version()}, true
		}
		if pos >= len(b) {
			break
		}
		r, n, err := schema.ParseBody(b[pos:], pos, idx)
		if err == nil {
			err = schema.CheckRaw(&r, idx)
		}
		if err == nil {
			a.recs = append(a.recs, newRecord(&r, pos, n, b[pos:pos+n], false))
			prev, havePrev = r, true
			pos += n
			idx++
			continue
		}
		a.intact = false
		d := damageOf(err, pos, idx)
		var last *schema.RawPackage
		if havePrev {
			last = &prev
		}
		q := nextPlain(b, pos+1, last)
		if q < 0 {
			q = len(b)
		}
		g := gap{off: pos, end: q, record: idx, damage: d}
		g.torn = q == len(b) && errors.Is(d, schema.ErrTruncated)
		for p := pos; p+2 < q; p++ {
			if p != pos && (b[p] != 0 || b[p+1] == 0 || b[p+1] > schema.MaxName) {
				continue
			}
			name, ver := partialAt(b, p)
			if name == "" || (p != pos && ver == "") {
				continue
			}
			g.names = append(g.names, Lost{Record: idx + len(g.names), Offset: p, Name: name, Version: ver})
		}
		a.gaps = append(a.gaps, g)
		a.damage = append(a.damage, d)
		idx += max(1, len(g.names))
		pos = q
	}
	a.checked = nil // the verdicts served the salvage
	return a
}

// nextPlain returns the offset of the next plausible plain record at or
// after from, or -1.
func nextPlain(b []byte, from int, prev *schema.RawPackage) int {
	for p := from; p+schema.MinPlainRecord <= len(b); p++ {
		if b[p] != 0 || b[p+1] == 0 || b[p+1] > schema.MaxName {
			continue // a name is 1-214 bytes: its length's high byte is 0
		}
		r, n, err := schema.ParseBody(b[p:], p, 0)
		if err != nil || schema.CheckRaw(&r, 0) != nil {
			continue
		}
		if prev != nil && schema.CompareRaw(prev, &r) >= 0 {
			continue
		}
		if p+n == len(b) {
			return p
		}
		r2, _, err := schema.ParseBody(b[p+n:], p+n, 0)
		if err == nil && schema.CheckRaw(&r2, 0) == nil {
			return p
		}
	}
	return -1
}

// partialAt reads the name and version of a record whose body starts at
// p, as far as they survived: a name that breaks the rules is "", and so
// is the version then.
func partialAt(b []byte, p int) (name, version string) {
	str := func(at, limit int) ([]byte, int) {
		if at < 0 || at+2 > len(b) {
			return nil, 0
		}
		n := int(binary.BigEndian.Uint16(b[at:]))
		if n == 0 || n > limit || at+2+n > len(b) {
			return nil, 0
		}
		return b[at+2 : at+2+n], at + 2 + n
	}
	nm, next := str(p, schema.MaxName)
	if nm == nil {
		return "", ""
	}
	if f, _ := schema.CheckPackage(&schema.Package{Name: string(nm), Version: "0.0.0"}); f != "" {
		return "", ""
	}
	name = string(nm)
	if v, _ := str(next, schema.MaxVersion); v != nil {
		if f, _ := schema.CheckPackage(&schema.Package{Name: "a", Version: string(v)}); f == "" {
			version = string(v)
		}
	}
	return name, version
}

// registries counts the registries of the records' resolved URLs, most
// common first, as schema.Registries does for packages, without
// allocating per record: the registry prefix of each URL is counted as
// found and only the distinct prefixes are normalised.
func registries(recs []record) []schema.RegistryCount {
	// A lockfile names a few registries: the prefixes seen are kept in a
	// short list, the one hit last tried first, before a map.
	type seen struct {
		prefix []byte
		n      int
	}
	var few [8]seen
	nf, last := 0, -1
	raw := map[string]*int{}
	for i := range recs {
		prefix := registryPrefix(&recs[i])
		if last >= 0 && bytes.Equal(few[last].prefix, prefix) {
			few[last].n++
			continue
		}
		j := 0
		for j < nf && !bytes.Equal(few[j].prefix, prefix) {
			j++
		}
		if j < nf {
			few[j].n++
			last = j
			continue
		}
		if nf < len(few) {
			few[nf] = seen{prefix: prefix, n: 1}
			last = nf
			nf++
			continue
		}
		if n, ok := raw[string(prefix)]; ok { // a map index: no allocation
			*n++
			continue
		}
		one := 1
		raw[string(prefix)] = &one
	}
	for _, f := range few[:nf] {
		n := f.n
		raw[string(f.prefix)] = &n
	}
	norm := map[string]int{}
	for prefix, np := range raw {
		n := *np
		if prefix == "" || prefix[len(prefix)-1] != '/' {
			continue
		}
		u, err := schema.NormalizeRegistry(prefix)
		if err != nil {
			continue
		}
		norm[u] += n
	}
	out := make([]schema.RegistryCount, 0, len(norm))
	for u, n := range norm {
		out = append(out, schema.RegistryCount{URL: u, Hash: schema.HashString(u), Count: n})
	}
	slices.SortFunc(out, func(a, b schema.RegistryCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.URL, b.URL)
	})
	return out
}

// baseName returns the name without its scope: the basename of the
// tarball.
func baseName(name []byte) []byte {
	if len(name) > 0 && name[0] == '@' {
		if i := bytes.IndexByte(name, '/'); i >= 0 {
			return name[i+1:]
		}
	}
	return name
}

// candidatePrefix returns where the registry part of the record's
// resolved URL ends if the URL has the layout registryPrefix reads,
// from the lengths alone (-1: too short for it).
func candidatePrefix(r *record) int {
	name := r.name()
	return int(r.resolvedLen) - (len(name) + 3 + len(baseName(name)) + 1 + int(r.versionLen) + 4)
}

// registryPrefix returns the part of the record's resolved URL before
// "<name>/-/<basename>-<version>.tgz", or nil when the URL does not have
// that layout (docs/format.md section 4).
func registryPrefix(r *record) []byte {
	res, name, ver := r.resolved(), r.name(), r.version()
	base := baseName(name)
	// The tail "<name>/-/<base>-<version>.tgz", compared in place.
	p := len(res) - (len(name) + 3 + len(base) + 1 + len(ver) + 4)
	if p < 0 {
		return nil
	}
	t := res[p:]
	if string(t[len(t)-4:]) != ".tgz" || string(t[len(name):len(name)+3]) != "/-/" || t[len(name)+3+len(base)] != '-' ||
		!bytes.Equal(t[:len(name)], name) || !bytes.Equal(t[len(name)+3:len(name)+3+len(base)], base) ||
		!bytes.Equal(t[len(name)+3+len(base)+1:len(t)-4], ver) {
		return nil
	}
	return res[:p:p]
}
