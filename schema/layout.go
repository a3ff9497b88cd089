package schema

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Kind says what a header field holds, and so how it is checked, shown,
// written and repaired. Every version's header is a table of fields of
// these kinds; the generic code in this package (and in recovery, inspect
// and dump) reads the table and knows no version's offsets.
type Kind uint8

// The kinds of header fields.
const (
	// KindMagic is the four bytes "BUN1".
	KindMagic Kind = iota + 1
	// KindVersion is the configVersion byte: the version itself.
	KindVersion
	// KindConfig is a field of the config block other than the version:
	// registryHash, featureFlags, terminalMode, rows, cols, reserved,
	// each checked by its rule (docs/format.md section 1).
	KindConfig
	// KindFixed always holds Value (all zero when Value is nil): padding,
	// headerSize, the checksum field of a version without a checksum.
	KindFixed
	// KindHeaderChecksum is the CRC-64 of the whole header with this
	// field taken as zero.
	KindHeaderChecksum
	// KindCount is the number of package records.
	KindCount
	// KindArraySize is the byte length of the package array.
	KindArraySize
	// KindArrayChecksum is the CRC-64 of the package array.
	KindArrayChecksum
	// KindWriter is the name of the program that wrote the file:
	// printable ASCII, NUL-padded.
	KindWriter
)

var kindNames = [...]string{"", "magic", "version", "config", "fixed", "header checksum", "count", "array size", "array checksum", "writer"}

// String returns the kind's name, as 'lockfix schema' shows it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Derived reports whether the field's value follows from the rest of the
// file (checksums, count, array size), so that a repair recomputes it.
func (k Kind) Derived() bool {
	return k == KindHeaderChecksum || k == KindCount || k == KindArraySize || k == KindArrayChecksum
}

// HeaderField is one field of a version's header.
type HeaderField struct {
	Name   string
	Offset int
	Size   int
	Kind   Kind
	// Value is what a KindFixed field holds (nil: all zero).
	Value []byte
	// Rule is the sentence that a broken KindFixed field breaks ("header
	// padding must be zero").
	Rule string
	// Note follows the value in 'lockfix dump --hex' ("CRC-64 of the
	// header").
	Note string
}

// End returns the offset just past the field.
func (f *HeaderField) End() int { return f.Offset + f.Size }

// Prefix returns the fields every version starts with: the magic and the
// 13-byte config block (docs/format.md section 1). A version's header table
// starts with them.
func Prefix() []HeaderField {
	return []HeaderField{
		{Name: "magic", Offset: OffMagic, Size: 4, Kind: KindMagic},
		{Name: "configVersion", Offset: OffConfigVersion, Size: 1, Kind: KindVersion},
		{Name: "registryHash", Offset: OffRegistryHash, Size: 4, Kind: KindConfig},
		{Name: "featureFlags", Offset: OffFeatureFlags, Size: 4, Kind: KindConfig},
		{Name: "terminalMode", Offset: OffTerminalMode, Size: 1, Kind: KindConfig},
		{Name: "rows", Offset: OffRows, Size: 1, Kind: KindConfig},
		{Name: "cols", Offset: OffCols, Size: 1, Kind: KindConfig},
		{Name: "reserved", Offset: OffReserved, Size: 1, Kind: KindConfig},
	}
}

// Framing describes framed records (docs/format.md section 5.2): a marker, a
// 4-byte body size between MinBody and MaxBody, the body and its CRC-32C.
// A version whose Framing is nil stores plain records (section 5.1).
type Framing struct {
	Marker  string
	MinBody int
	MaxBody int
}

// Head returns the bytes before a frame's body: the marker and bodySize.
func (f *Framing) Head() int { return len(f.Marker) + 4 }

// Overhead returns the bytes a frame adds to its body: its head and the
// CRC-32C after the body.
func (f *Framing) Overhead() int { return f.Head() + 4 }

// Field returns the header field named name, or nil.
func (s *Schema) Field(name string) *HeaderField {
	for i := range s.Header {
		if s.Header[i].Name == name {
			return &s.Header[i]
		}
	}
	return nil
}

// FieldOf returns the first header field of kind k, or nil.
func (s *Schema) FieldOf(k Kind) *HeaderField {
	for i := range s.Header {
		if s.Header[i].Kind == k {
			return &s.Header[i]
		}
	}
	return nil
}

// fieldProblem is what is wrong with one field: 0 when nothing is. It is
// the one implementation of the header rules; the fast path asks whether
// it is 0, and the explanation turns a non-zero answer into a
// CorruptionError (explainField).
type fieldProblem uint8

const (
	fieldOK fieldProblem = iota
	fieldBadMagic
	fieldBadVersion
	fieldBadConfig
	fieldBadFixed
	fieldBadHeaderChecksum
	fieldBadWriter
)

// checkField applies the rule of field f to the whole header h (at least
// s.HeaderSize bytes). Derived fields of the array are checked with the
// records; the count with the records too.
func (s *Schema) checkField(f *HeaderField, h []byte) fieldProblem {
	v := h[f.Offset:f.End()]
	switch f.Kind {
	case KindMagic, KindVersion, KindFixed:
		if s.plan.fixedBad(h, f.Offset, f.End()) {
			return [...]fieldProblem{KindMagic: fieldBadMagic, KindVersion: fieldBadVersion, KindFixed: fieldBadFixed}[f.Kind]
		}
	case KindConfig:
		if configFaults(h[OffConfigVersion:], s.Flags)&configBit(f.Offset) != 0 {
			return fieldBadConfig
		}
	case KindHeaderChecksum:
		if binary.BigEndian.Uint64(v) != HeaderCRC(h[:s.HeaderSize], f.Offset) {
			return fieldBadHeaderChecksum
		}
	case KindWriter:
		if WriterRule(v) != "" {
			return fieldBadWriter
		}
	}
	return fieldOK
}

// explainField returns the CorruptionError of problem p in field f.
func (s *Schema) explainField(f *HeaderField, h []byte, p fieldProblem) error {
	v := h[f.Offset:f.End()]
	switch p {
	case fieldBadMagic:
		return Corrupt(ErrCorruptedHeader, f.Offset, f.Name, fmt.Sprintf("magic is %q, want %q", v, Magic))
	case fieldBadVersion:
		return Corrupt(ErrCorruptedHeader, f.Offset, f.Name, fmt.Sprintf("configVersion is %d, read as version %d", v[0], s.Version))
	case fieldBadConfig:
		return configError(f.Offset, h[OffConfigVersion:], s.Flags, s.Version)
	case fieldBadFixed:
		off := f.Offset
		if f.Value == nil {
			off += firstNonZero(v)
		}
		rule := f.Rule
		if f.Size <= 8 {
			rule += ", it is " + s.showValue(f, h)
		}
		return Corrupt(ErrCorruptedHeader, off, f.Name, rule)
	case fieldBadHeaderChecksum:
		return Corrupt(ErrChecksumMismatch, f.Offset, f.Name, fmt.Sprintf("header CRC-64 is 0x%016x, the header computes to 0x%016x",
			binary.BigEndian.Uint64(v), HeaderCRC(h[:s.HeaderSize], f.Offset)))
	case fieldBadWriter:
		return Corrupt(ErrCorruptedHeader, f.Offset, f.Name, WriterRule(v))
	}
	return nil
}

func firstNonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return 0
}

// checkOrder is the order in which the header's fields are checked, as
// bbolt validates a meta page: the magic, the version, the header size
// (which says where the header ends), the header checksum, then every
// other field in file order.
func (s *Schema) checkOrder() []int {
	rank := func(f *HeaderField) int {
		switch {
		case f.Kind == KindMagic:
			return 0
		case f.Kind == KindVersion:
			return 1
		case f.Kind == KindFixed && f.Name == "headerSize":
			return 2
		case f.Kind == KindHeaderChecksum:
			return 3
		}
		return 4
	}
	order := make([]int, 0, len(s.Header))
	for r := 0; r <= 4; r++ {
		for i := range s.Header {
			if rank(&s.Header[i]) == r {
				order = append(order, i)
			}
		}
	}
	return order
}

// headerPlan is a header's table compiled for the fast path: the same
// rules, laid out so that a valid header is checked in a few word
// comparisons.
type headerPlan struct {
	// words are the 8-byte windows of the header that hold a byte the
	// table fixes (the magic, the version, every KindFixed field), each
	// with the values and a mask of the bits fixed; a header whose size
	// is not a multiple of 8 ends with a window that overlaps the one
	// before, masked to the bytes not already covered.
	words    []planWord
	writer   planSpan // the writer field; end 0 when none
	checksum int      // offset of the header checksum, -1 when none
}

// planWord is one window of a headerPlan.
type planWord struct {
	off        int
	want, mask uint64
}

type planSpan struct{ off, end int }

// compile builds the plan of s's table.
func (s *Schema) compile() headerPlan {
	want, mask := make([]byte, s.HeaderSize), make([]byte, s.HeaderSize)
	p := headerPlan{checksum: -1}
	for i := range s.Header {
		f := &s.Header[i]
		switch f.Kind {
		case KindMagic:
			copy(want[f.Offset:], Magic)
		case KindVersion:
			want[f.Offset] = byte(s.Version)
		case KindFixed:
			copy(want[f.Offset:f.End()], f.Value)
		case KindWriter:
			p.writer = planSpan{f.Offset, f.End()}
			continue
		case KindHeaderChecksum:
			p.checksum = f.Offset
			continue
		default:
			continue
		}
		for j := f.Offset; j < f.End(); j++ {
			mask[j] = 0xff
		}
	}
	for off := 0; off < s.HeaderSize; off += 8 {
		w := planWord{off: min(off, s.HeaderSize-8)}
		for j := range 8 {
			if at := w.off + j; at >= off { // not in the window before
				w.want |= uint64(want[at]) << (8 * j)
				w.mask |= uint64(mask[at]) << (8 * j)
			}
		}
		if w.mask != 0 {
			p.words = append(p.words, w)
		}
	}
	return p
}

// diff returns the bits of the header h in the window w that differ from
// the values the table fixes them to: the one rule of the magic, the
// version and every KindFixed field. h holds the whole header.
func (w *planWord) diff(h []byte) uint64 {
	return (binary.LittleEndian.Uint64(h[w.off:]) ^ w.want) & w.mask
}

// fixedBad reports whether a byte of h in [off, end) breaks the rule of
// diff. A short h is read as if zeros followed it.
func (p *headerPlan) fixedBad(h []byte, off, end int) bool {
	if n := len(p.words); n > 0 && len(h) < p.words[n-1].off+8 {
		h = append(make([]byte, 0, p.words[n-1].off+8), h...)[:p.words[n-1].off+8]
	}
	for i := range p.words {
		w := &p.words[i]
		d := w.diff(h)
		for j := range 8 {
			if at := w.off + j; at >= off && at < end && d>>(8*j)&0xff != 0 {
				return true
			}
		}
	}
	return false
}

// HeaderValid reports whether the header of b is whole and keeps every
// rule, without allocating: the fast path of a strict check. It applies
// the rules of CheckHeader (planWord.diff, configFaults, WriterRule,
// HeaderCRC) to the plan compiled from the same table, cheapest first.
func (s *Schema) HeaderValid(b []byte) bool {
	p := &s.plan
	if len(b) < s.HeaderSize {
		return false
	}
	var diff uint64
	for i := range p.words {
		diff |= p.words[i].diff(b)
	}
	if diff != 0 || configFaults(b[OffConfigVersion:], s.Flags) != 0 {
		return false
	}
	if p.writer.end != 0 && WriterRule(b[p.writer.off:p.writer.end]) != "" {
		return false
	}
	return p.checksum < 0 || binary.BigEndian.Uint64(b[p.checksum:]) == HeaderCRC(b[:s.HeaderSize], p.checksum)
}

// CheckHeader reports the problems of the header of b, in the order of
// checkOrder, and whether the header is whole (so that the records can
// be read).
func (s *Schema) CheckHeader(b []byte) ([]error, bool) {
	if len(b) < s.HeaderSize {
		return []error{Corrupt(ErrTruncated, len(b), "header",
			fmt.Sprintf("the file is %d bytes, the v%d header alone is %d", len(b), s.Version, s.HeaderSize))}, false
	}
	if s.HeaderValid(b) {
		return nil, true
	}
	var errs []error
	config := false
	for _, i := range s.order {
		f := &s.Header[i]
		p := s.checkField(f, b)
		if p == fieldOK {
			continue
		}
		if p == fieldBadConfig {
			// The config block's rules are reported together, once.
			if config {
				continue
			}
			config = true
			errs = append(errs, CheckConfig(DecodeConfig(b[OffConfigVersion:]), s.Flags)...)
			continue
		}
		errs = append(errs, s.explainField(f, b, p))
	}
	return errs, true
}

// showValue returns the value of field f of h for people, as dump --hex
// shows it.
func (s *Schema) showValue(f *HeaderField, h []byte) string {
	v := h[f.Offset:f.End()]
	switch f.Kind {
	case KindMagic:
		return fmt.Sprintf("%q", v)
	case KindVersion:
		return fmt.Sprint(v[0])
	case KindConfig:
		c := DecodeConfig(h[OffConfigVersion:])
		switch f.Offset {
		case OffRegistryHash:
			return fmt.Sprintf("0x%08x", c.RegistryHash)
		case OffFeatureFlags:
			return fmt.Sprintf("0x%08x %s", uint32(c.Flags), c.Flags)
		case OffTerminalMode:
			return c.TerminalMode.String()
		}
		return fmt.Sprint(v[0])
	case KindWriter:
		return fmt.Sprintf("%q", WriterString(v))
	case KindFixed:
		if f.Size > 8 {
			if AllZero(v) {
				return "zero"
			}
			return "non-zero"
		}
		if f.Size == 8 {
			return fmt.Sprintf("0x%016x", Uint(v))
		}
		return fmt.Sprint(Uint(v))
	case KindHeaderChecksum, KindArrayChecksum:
		return fmt.Sprintf("0x%016x", Uint(v))
	}
	return fmt.Sprint(Uint(v))
}

// Fields returns the header fields of b for dump --hex, each with its
// value and problem. b may be short or damaged: fields it is too short to
// hold are left out.
func (s *Schema) Fields(b []byte) []Field { return s.fields(b, false) }

// FieldsOfValid is Fields for a file b that the strict check has passed.
// That check has compared the array's CRC-64 with the stored one, so it
// is not computed again (a pass over the whole array).
func (s *Schema) FieldsOfValid(b []byte) []Field { return s.fields(b, true) }

// fields is Fields; summed says that the array's checksum is known to be
// right.
func (s *Schema) fields(b []byte, summed bool) []Field {
	whole := len(b) >= s.HeaderSize
	var out []Field
	for i := range s.Header {
		f := &s.Header[i]
		switch {
		case f.End() > len(b):
			continue
		case f.Kind == KindMagic:
		case f.Kind == KindVersion || f.Kind == KindConfig:
			if len(b) < PrefixSize {
				continue // the config block is read whole or not at all
			}
		case !whole:
			continue
		}
		fd := Field{Offset: f.Offset, Size: f.Size, Name: f.Name, Value: s.showValue(f, b)}
		if f.Note != "" {
			fd.Value += " (" + f.Note + ")"
		}
		switch {
		case f.Kind == KindConfig:
			if rule := configRule(f.Offset, b[OffConfigVersion:], s.Flags); rule != "" {
				fd.Err = configError(f.Offset, b[OffConfigVersion:], s.Flags, s.Version)
			}
		case f.Kind == KindMagic:
			if p := s.checkField(f, b); p != fieldOK {
				fd.Err = s.explainField(f, b, p)
			}
		case f.Kind == KindVersion:
			// Dump reads a file at the layout its version byte names.
		case !whole:
		case f.Kind == KindHeaderChecksum:
			if want := HeaderCRC(b[:s.HeaderSize], f.Offset); want != Uint(b[f.Offset:f.End()]) {
				fd.Err = Corrupt(ErrChecksumMismatch, f.Offset, f.Name, fmt.Sprintf("computed 0x%016x", want))
			}
		case f.Kind == KindArraySize:
			if n := len(b) - s.HeaderSize; Uint(b[f.Offset:f.End()]) != uint64(n) {
				fd.Err = Corrupt(ErrPackageCountMismatch, f.Offset, f.Name, fmt.Sprintf("the file holds %d bytes after the header", n))
			}
		case f.Kind == KindArrayChecksum && summed:
		case f.Kind == KindArrayChecksum:
			if want := CRC64(b[s.HeaderSize:]); want != Uint(b[f.Offset:f.End()]) {
				fd.Err = Corrupt(ErrChecksumMismatch, f.Offset, f.Name, fmt.Sprintf("computed 0x%016x", want))
			}
		default:
			if p := s.checkField(f, b); p != fieldOK {
				fd.Err = s.explainField(f, b, p)
			}
		}
		out = append(out, fd)
	}
	return out
}

// WriterRule returns the rule a writer field w breaks (printable ASCII,
// then NUL padding), or "".
func WriterRule(w []byte) string {
	end := len(w)
	for i, c := range w {
		if c == 0 {
			end = i
			break
		}
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("writer has the byte 0x%02x, want printable ASCII", c)
		}
	}
	if !AllZero(w[end:]) {
		return "writer is not NUL-padded"
	}
	return ""
}

// WriterString returns the writer field w without its NUL padding.
func WriterString(w []byte) string {
	if i := strings.IndexByte(string(w), 0); i >= 0 {
		return string(w[:i])
	}
	return string(w)
}

// putHeader writes the header fields of l into h (s.HeaderSize bytes)
// that do not depend on the records: the magic, the config, the fixed
// values, the count and the writer.
func (s *Schema) putHeader(h []byte, cfg Config, count int, writer []byte) {
	for i := range s.Header {
		f := &s.Header[i]
		v := h[f.Offset:f.End()]
		switch f.Kind {
		case KindMagic:
			copy(v, Magic)
		case KindFixed:
			copy(v, f.Value)
		case KindCount:
			putUint(v, uint64(count))
		case KindWriter:
			copy(v, writer)
		}
	}
	PutConfig(h[OffConfigVersion:], cfg)
}

// sealHeader writes the fields derived from the array and then the
// header checksums into b, a whole file.
func (s *Schema) sealHeader(b []byte) {
	array := b[s.HeaderSize:]
	var sum uint64
	if s.FieldOf(KindArrayChecksum) != nil {
		sum = CRC64(array)
	}
	s.SealHead(b[:s.HeaderSize], len(array), sum)
}

// Seal recomputes the derived fields of the whole file b at version s in
// place: the count is left alone, the array size and checksum and then
// the header checksum are written. Repairs use it once a header and array
// are rebuilt.
func (s *Schema) Seal(b []byte) { s.sealHeader(b) }

// putUint writes v big-endian into all of b (1, 2, 4 or 8 bytes).
func putUint(b []byte, v uint64) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.BigEndian.PutUint16(b, uint16(v))
	case 4:
		binary.BigEndian.PutUint32(b, uint32(v))
	case 8:
		binary.BigEndian.PutUint64(b, v)
	}
}

// PutUint writes v big-endian into all of b (1, 2, 4 or 8 bytes).
func PutUint(b []byte, v uint64) { putUint(b, v) }
