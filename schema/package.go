package schema

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"unicode/utf8"
	"unsafe"
)

// Limits of the package strings (docs/format.md section 5).
const (
	MaxName      = 214
	MaxVersion   = 256
	MaxResolved  = 2048
	MaxIntegrity = 512
	// MaxBody is the largest body a record can have: four 2-byte lengths
	// and the longest strings.
	MaxBody = 8 + MaxName + MaxVersion + MaxResolved + MaxIntegrity
)

// Package is one record of the package array.
type Package struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Resolved  string `json:"resolved"`
	Integrity string `json:"integrity"`
}

// RawPackage is a record as it lies in the file: the four strings alias the
// input, and Off holds the file offset of each length prefix.
type RawPackage struct {
	Name, Version, Resolved, Integrity []byte
	Off                                [4]int
}

// FieldNames are the names of the four strings of a record, in order.
var FieldNames = [4]string{"name", "version", "resolved", "integrity"}

var fieldMax = [4]int{MaxName, MaxVersion, MaxResolved, MaxIntegrity}

// Package returns the record as a Package, copying the strings.
func (r *RawPackage) Package() Package {
	return Package{string(r.Name), string(r.Version), string(r.Resolved), string(r.Integrity)}
}

// PackageIn returns the record as a Package whose strings are substrings
// of file, the whole file as one string (r's offsets are file offsets).
// A decoder converts the file once and slices it, instead of allocating
// four strings per record: most of the time of decoding a small file went
// to those allocations and to collecting them.
func (r *RawPackage) PackageIn(file string) Package {
	field := func(i int, b []byte) string {
		at := r.Off[i] + 2
		return file[at : at+len(b)]
	}
	return Package{field(0, r.Name), field(1, r.Version), field(2, r.Resolved), field(3, r.Integrity)}
}

// ParseBody parses the four length-prefixed strings at the start of b,
// whose first byte lies at file offset base. It returns the record and the
// bytes it used. When b ends inside a string, the error is a Truncated
// CorruptionError at the offending field; a string longer than its limit
// is an InvalidPackage error. record is only used in errors. It is
// CutBody, with the error that tells why the strings do not fit.
func ParseBody(b []byte, base, record int) (RawPackage, int, error) {
	var r RawPackage
	used, i, n := cutBody(b, base, &r)
	if used >= 0 {
		return r, used, nil
	}
	pos := r.Off[i] - base
	switch {
	case n < 0:
		return r, pos, CorruptRecord(ErrTruncated, base+pos, record, FieldNames[i], "the file ends inside the length of "+FieldNames[i])
	case n > fieldMax[i]:
		return r, pos, CorruptRecord(ErrInvalidPackage, base+pos, record, FieldNames[i],
			fmt.Sprintf("%s is %d bytes long, the limit is %d", FieldNames[i], n, fieldMax[i]))
	default:
		return r, pos + 2, CorruptRecord(ErrTruncated, base+pos, record, FieldNames[i],
			fmt.Sprintf("%s says %d bytes, only %d remain", FieldNames[i], n, len(b)-pos-2))
	}
}

// CutBody cuts the four length-prefixed strings at the start of b, whose
// first byte lies at file offset base, into r (the strings alias b, the
// offsets are those of their lengths) and returns the bytes they take, or
// -1 when b ends inside them or one is longer than its limit (ParseBody
// tells which). It checks no other rule: it reads the records of a file
// that passed the strict check, and is the first step of ParseBody.
func CutBody(b []byte, base int, r *RawPackage) int {
	used, _, _ := cutBody(b, base, r)
	return used
}

// cutBody is CutBody. When the strings do not fit it also returns the
// field that does not and the length cutString read for it; r.Off holds
// the offsets up to that field's, and r's strings are left as they were.
func cutBody(b []byte, base int, r *RawPackage) (used, field, n int) {
	var fields [4][]byte
	pos := 0
	for i := range fields {
		r.Off[i] = base + pos
		s, _, n, ok := cutString(b[pos:], fieldMax[i])
		if !ok {
			return -1, i, n
		}
		fields[i] = s
		pos += 2 + n
	}
	r.Name, r.Version, r.Resolved, r.Integrity = fields[0], fields[1], fields[2], fields[3]
	return pos, 0, 0
}

// BodySize returns the encoded size of p's four strings with their lengths.
func BodySize(p *Package) int {
	return 8 + len(p.Name) + len(p.Version) + len(p.Resolved) + len(p.Integrity)
}

// AppendBody appends the four length-prefixed strings of p to dst. The
// caller checks the lengths first (CheckPackage).
func AppendBody(dst []byte, p *Package) []byte {
	for _, s := range [4]string{p.Name, p.Version, p.Resolved, p.Integrity} {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// ValidBody is the fast path of a strict check: it cuts the four strings
// that make up body and reports whether they fill it exactly and break no
// rule of docs/format.md section 5; the name and version are what the
// order check compares. It does not allocate, and the strings are results
// rather than stores through a pointer, which the garbage collector would
// have to be told of while it marks. When it says false, ParseBody and
// CheckRaw tell what is wrong.
func ValidBody(body []byte) (name, version, resolved, integrity []byte, ok bool) {
	name, rest, _, ok1 := cutString(body, MaxName)
	version, rest, _, ok2 := cutString(rest, MaxVersion)
	resolved, rest, _, ok3 := cutString(rest, MaxResolved)
	integrity, rest, _, ok4 := cutString(rest, MaxIntegrity)
	if !(ok1 && ok2 && ok3 && ok4) || len(rest) != 0 || nameFault(name) != okay || semverFault(version) != okay ||
		resolvedFault(resolved) != okay || integrityFault(integrity) != okay {
		return nil, nil, nil, nil, false
	}
	return name, version, resolved, integrity, true
}

// SetOffsets sets r.Off, as ParseBody does, for r's strings cut from a
// body whose first byte lies at file offset base (ValidBody).
func (r *RawPackage) SetOffsets(base int) {
	r.Off[0] = base
	r.Off[1] = r.Off[0] + 2 + len(r.Name)
	r.Off[2] = r.Off[1] + 2 + len(r.Version)
	r.Off[3] = r.Off[2] + 2 + len(r.Resolved)
}

// cutString cuts the string with a 2-byte big-endian length at the start
// of b, of at most limit bytes: the one reading of a record's string that
// ValidBody, CutBody (and so ParseBody) and PlainSize share. n is the
// length b gives, -1 when b is too short to hold one; ok is false when n
// is -1, over the limit, or more than the bytes after the length.
func cutString(b []byte, limit int) (s, rest []byte, n int, ok bool) {
	if len(b) < 2 {
		return nil, nil, -1, false
	}
	n = int(b[0])<<8 | int(b[1])
	if n > limit || len(b)-2 < n {
		return nil, nil, n, false
	}
	return b[2 : 2+n : 2+n], b[2+n:], n, true
}

// A fault is the rule of docs/format.md section 5 that a package string breaks;
// okay when it breaks none. Each string has one rule function that
// returns its fault (nameFault, semverFault, resolvedFault,
// integrityFault): the fast paths ask whether it is okay, and explain
// words the fault it found.
type fault uint8

const (
	okay fault = iota
	tooLong
	nameEmpty
	nameNoSlash
	scopeEmpty
	scopeStart
	scopeByte
	partEmpty
	partStart
	partByte
	verEmpty
	verCore
	verLeadingZero
	verPreByte
	verPreEmpty
	verPreZero
	verBuildByte
	verBuildEmpty
	verBuildPlus
	verTrailing
	urlScheme
	urlControl
	urlUTF8
	urlNoHost
	urlBadIP
	intForm
	intAlgorithm
	intLength
	intByte
	intPadding
	intCanonical
)

// ruleFault applies the rule of record field i (0 name, 1 version, 2
// resolved, 3 integrity) to s, its length limit first.
func ruleFault(i int, s []byte) fault {
	if len(s) > fieldMax[i] {
		return tooLong
	}
	switch i {
	case 0:
		return nameFault(s)
	case 1:
		return semverFault(s)
	case 2:
		return resolvedFault(s)
	}
	return integrityFault(s)
}

// CheckRaw checks a parsed record against the rules of docs/format.md section 5
// and returns an InvalidPackage CorruptionError naming the field and the
// rule, or nil. It does not allocate when the record is valid.
func CheckRaw(r *RawPackage, record int) error {
	strs := [4][]byte{r.Name, r.Version, r.Resolved, r.Integrity}
	for i, s := range strs {
		if f := ruleFault(i, s); f != okay {
			return CorruptRecord(ErrInvalidPackage, r.Off[i], record, FieldNames[i], explain(i, s, f))
		}
	}
	return nil
}

// CheckPackage checks p against the rules of docs/format.md section 5 and
// returns the name of the first field that breaks one and the rule, or two
// empty strings.
func CheckPackage(p *Package) (field, rule string) {
	strs := [4][]byte{view(p.Name), view(p.Version), view(p.Resolved), view(p.Integrity)}
	for i, s := range strs {
		if f := ruleFault(i, s); f != okay {
			return FieldNames[i], explain(i, s, f)
		}
	}
	return "", ""
}

// view returns the bytes of s without copying them, for the checks, which
// only read their input and keep none of it. ([]byte(s) would copy every
// string of every package an encoder checks.)
func view(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// nameChar marks the bytes allowed in a package name or scope with 1,
// the others with 0: a byte, not a bool, so that a loop can AND the marks
// of all the bytes without a branch for each.
var nameChar = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for _, c := range "-._~" {
		t[c] = 1
	}
	return t
}()

// nameFault is the rule of a package name: npm's rules for published
// names (A-Z a-z 0-9 - . _ ~, not starting with . or _), with an optional
// @scope/ that keeps the same rules.
func nameFault(s []byte) fault {
	if len(s) == 0 {
		return nameEmpty
	}
	if s[0] != '@' {
		return partFault(s, partEmpty)
	}
	slash := bytes.IndexByte(s, '/')
	if slash < 0 {
		return nameNoSlash
	}
	if f := partFault(s[1:slash], scopeEmpty); f != okay {
		return f
	}
	return partFault(s[slash+1:], partEmpty)
}

// partFault checks a name or a scope; base is its partEmpty or
// scopeEmpty, and the start and byte faults follow it.
func partFault(s []byte, base fault) fault {
	if len(s) == 0 {
		return base
	}
	if s[0] == '.' || s[0] == '_' {
		return base + 1
	}
	ok := uint8(1)
	for _, c := range s {
		ok &= nameChar[c]
	}
	if ok == 0 {
		return base + 2
	}
	return okay
}

// semverFault is the rule of a version: Semantic Versioning 2.0.0, in one
// pass: MAJOR.MINOR.PATCH without leading zeros, then an optional
// pre-release ("-" and dot-separated identifiers of [0-9A-Za-z-], numeric
// ones without leading zeros) and optional build metadata ("+" and
// identifiers). A plain MAJOR.MINOR.PATCH, the common case, is read in
// the first loop.
func semverFault(s []byte) fault {
	if len(s) == 0 {
		return verEmpty
	}
	dots, digits := 0, 0
	plain := true
	for i, c := range s {
		if c-'0' < 10 {
			if digits == 1 && s[i-1] == '0' {
				plain = false
				break
			}
			digits++
		} else if c == '.' && digits > 0 && dots < 2 {
			dots, digits = dots+1, 0
		} else {
			plain = false
			break
		}
	}
	if plain && dots == 2 && digits > 0 {
		return okay
	}
	i := 0
	for part := 0; part < 3; part++ {
		start := i
		for i < len(s) && s[i]-'0' < 10 {
			i++
		}
		switch {
		case i == start:
			return verCore
		case i-start > 1 && s[start] == '0':
			return verLeadingZero
		}
		if part < 2 {
			if i == len(s) || s[i] != '.' {
				return verCore
			}
			i++
		}
	}
	if i < len(s) && s[i] == '-' {
		n, f := idents(s[i+1:], true)
		if f != okay {
			return f
		}
		i += 1 + n
	}
	if i < len(s) && s[i] == '+' {
		n, f := idents(s[i+1:], false)
		if f != okay {
			return f
		}
		i += 1 + n
	}
	if i != len(s) {
		return verTrailing
	}
	return okay
}

// idents reads dot-separated identifiers up to the end, or for a
// pre-release up to a '+', and returns the bytes read or the fault.
// Numeric identifiers of a pre-release must not have leading zeros.
func idents(s []byte, pre bool) (int, fault) {
	byteF, emptyF := verBuildByte, verBuildEmpty
	if pre {
		byteF, emptyF = verPreByte, verPreEmpty
	}
	i := 0
	for {
		start := i
		numeric := true
		for i < len(s) && s[i] != '.' && s[i] != '+' {
			switch c := s[i]; {
			case c-'0' < 10:
			case c-'a' < 26, c-'A' < 26, c == '-':
				numeric = false
			default:
				return 0, byteF
			}
			i++
		}
		switch {
		case i == start:
			return 0, emptyF
		case pre && numeric && i-start > 1 && s[start] == '0':
			return 0, verPreZero
		}
		if i == len(s) || s[i] == '+' {
			if i < len(s) && !pre {
				return 0, verBuildPlus
			}
			return i, okay
		}
		i++ // the dot
	}
}

func hasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// httpsFolded is "https://" as a little-endian word, each byte OR-ed with
// 0x20.
const httpsFolded = 0x2f2f3a7370747468

// resolvedFault is the rule of a resolved URL: empty, or an absolute http
// or https URL with a host (a valid IP literal when bracketed) and no
// white space or control characters. A plain-ASCII URL, the common case,
// is read a word at a time.
func resolvedFault(s []byte) fault {
	if len(s) == 0 {
		return okay
	}
	ascii := plainASCII(s)
	var rest []byte
	switch {
	case ascii && len(s) >= 8 && binary.LittleEndian.Uint64(s)|0x2020202020202020 == httpsFolded:
		// The case-folded compare also takes a few control bytes for ':'
		// and '/', which plainASCII has refused.
		rest = s[8:]
	case !ascii && hasPrefixFold(s, "https://"):
		rest = s[8:]
	case hasPrefixFold(s, "http://"):
		rest = s[7:]
	default:
		return urlScheme
	}
	if !ascii {
		for _, c := range s {
			if c <= ' ' || c == 0x7f {
				return urlControl
			}
		}
		if !utf8.Valid(s) {
			return urlUTF8
		}
	}
	start, end := hostSpan(rest)
	if end <= start || rest[start] == ':' {
		return urlNoHost
	}
	if rest[start] == '[' && !ipLiteral(rest[start:end]) {
		return urlBadIP
	}
	return okay
}

// hostSpan returns where the host of rest, a URL after its scheme, starts
// and ends: it ends at the first '/', '?' or '#', after any user info
// ending in '@'. Words of eight bytes without any of the four are skipped
// whole, and a word whose first of them ends the host ends it there.
func hostSpan(rest []byte) (start, end int) {
	start, end = 0, len(rest)
	i := 0
	for ; len(rest)-i >= 8; i += 8 {
		term, at := hostEnd(binary.LittleEndian.Uint64(rest[i:]))
		if term|at == 0 {
			continue
		}
		if first := bits.TrailingZeros64(term); at == 0 || first < bits.TrailingZeros64(at) {
			// The word ends the host, and no user info comes before.
			end = i + first/8
			i = len(rest)
		}
		break
	}
	for ; i < len(rest); i++ {
		c := rest[i]
		if c == '/' || c == '?' || c == '#' {
			end = i
			break
		}
		if c == '@' {
			start = i + 1
		}
	}
	return start, end
}

// ipLiteral reports whether host, which starts with '[', is an IPv6
// literal in brackets (RFC 3986 3.2.2), with an optional ":port" after it.
func ipLiteral(host []byte) bool {
	close := bytes.IndexByte(host, ']')
	if close < 0 {
		return false
	}
	a, err := netip.ParseAddr(string(host[1:close]))
	if err != nil || !a.Is6() || a.Zone() != "" {
		return false
	}
	port := host[close+1:]
	if len(port) == 0 {
		return true
	}
	if port[0] != ':' || len(port) > 6 {
		return false
	}
	for _, c := range port[1:] {
		if c-'0' >= 10 {
			return false
		}
	}
	return true
}

// hostEnd returns, for the eight bytes of x, the high bit of each byte
// that may be '/', '?' or '#' (term) and of each that may be '@' (at).
// The zero-byte test can flag a byte after a real match, never one
// without: the lowest bit of each mask is exact, and a mask is zero only
// when no byte matches. It is written out to stay small enough to be
// inlined.
func hostEnd(x uint64) (term, at uint64) {
	const (
		l = 0x0101010101010101
		h = 0x8080808080808080
	)
	a, b, c, d := x^'/'*l, x^'?'*l, x^'#'*l, x^'@'*l
	return ((a-l)&^a | (b-l)&^b | (c-l)&^c) & h, (d - l) &^ d & h
}

// plainASCII reports whether every byte of s is printable ASCII other than
// space (0x21-0x7e), eight bytes at a time.
func plainASCII(s []byte) bool {
	const hi = 0x8080808080808080
	if len(s) < 8 {
		for _, c := range s {
			if c <= ' ' || c >= 0x7f {
				return false
			}
		}
		return true
	}
	// The last eight bytes as a word, overlapping the words before them:
	// every byte is tested at least once, and one word replaces a loop
	// over up to seven.
	bad := plainWord(binary.LittleEndian.Uint64(s[len(s)-8:]))
	for len(s) >= 16 {
		bad |= plainWord(binary.LittleEndian.Uint64(s)) | plainWord(binary.LittleEndian.Uint64(s[8:]))
		s = s[16:]
	}
	if len(s) >= 8 {
		bad |= plainWord(binary.LittleEndian.Uint64(s))
	}
	return bad&hi == 0
}

// plainWord has the high bit of a byte set when the byte is not printable
// ASCII other than space: its high bit is set, it is below 0x21, or it is
// 0x7f (adding 1 sets its high bit). The tests are exact for bytes below
// 0x80, which is all that matters once the high bits are clear; a borrow
// or carry between bytes starts only at a byte that is bad itself.
func plainWord(x uint64) uint64 {
	const lo = 0x0101010101010101
	return x | (x - 0x21*lo) | (x + lo)
}

func truncate(s []byte) []byte {
	if len(s) > 80 {
		return append(s[:77:77], "..."...)
	}
	return s
}

var b64Char = func() (t [256]byte) {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = byte(i)
	}
	return t
}()

// IntegrityAlgorithms lists the accepted algorithms with their digest sizes,
// weakest first.
var IntegrityAlgorithms = []struct {
	Name string
	Size int
}{{"sha1", 20}, {"sha256", 32}, {"sha384", 48}, {"sha512", 64}}

// digestSize returns the digest size of an integrity algorithm, 0 for an
// unknown one.
func digestSize(alg []byte) int {
	if len(alg) > 8 {
		return 0
	}
	return digestSizeWord(littleWord(alg), len(alg))
}

// littleWord returns the bytes of s, at most eight, as a little-endian
// word, the bytes past them zero.
func littleWord[S ~string | ~[]byte](s S) uint64 {
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	return w
}

// algWords are the names of IntegrityAlgorithms as little-endian words
// (all are at most eight bytes), for digestSizeWord.
var algWords = func() (w []uint64) {
	for _, a := range IntegrityAlgorithms {
		w = append(w, littleWord(a.Name))
	}
	return w
}()

// digestSizeWord is digestSize for a name of n bytes given as the
// little-endian word w (the bytes past n zero). Strongest first: most
// integrity strings are sha512.
func digestSizeWord(w uint64, n int) int {
	for i := len(algWords) - 1; i >= 0; i-- {
		if w == algWords[i] && n == len(IntegrityAlgorithms[i].Name) {
			return IntegrityAlgorithms[i].Size
		}
	}
	return 0
}

// integrityParts splits an integrity string into its algorithm's digest
// size, its base64 and the number of '=' that pad it; size 0 when the
// algorithm is unknown, dash -1 when there is no '-'. The common string,
// whose '-' is among its first eight bytes, is read as one word: the '-'
// found with a zero-byte test (its lowest hit is exact) and the name
// before it compared as a word.
func integrityParts(s []byte) (dash, size, pad int, b []byte) {
	if len(s) >= 8 {
		const (
			l = 0x0101010101010101
			h = 0x8080808080808080
		)
		w := binary.LittleEndian.Uint64(s)
		x := w ^ '-'*l
		if hit := (x - l) &^ x & h; hit != 0 {
			dash = bits.TrailingZeros64(hit) / 8
			size = digestSizeWord(w&(1<<(8*dash)-1), dash)
			return dash, size, (3 - size%3) % 3, s[dash+1:]
		}
	}
	dash = bytes.IndexByte(s, '-')
	if dash < 0 {
		return -1, 0, 0, nil
	}
	size = digestSize(s[:dash])
	return dash, size, (3 - size%3) % 3, s[dash+1:]
}

// integrityFault is the rule of an integrity string: empty, or a
// Subresource Integrity string: sha1-, sha256-, sha384- or sha512- and the
// standard, canonical base64 of a digest of that size.
func integrityFault(s []byte) fault {
	if len(s) == 0 {
		return okay
	}
	dash, size, pad, b := integrityParts(s)
	switch {
	case dash < 0:
		return intForm
	case size == 0:
		return intAlgorithm
	case len(b) != (size+2)/3*4:
		return intLength
	}
	data := b[:len(b)-pad]
	if !base64Chars(data) {
		return intByte
	}
	for _, c := range b[len(data):] {
		if c != '=' {
			return intPadding
		}
	}
	if pad > 0 && b64Char[data[len(data)-1]]&(1<<(2*pad)-1) != 0 {
		return intCanonical
	}
	return okay
}

// base64Chars reports whether every byte of s is in the standard base64
// alphabet (A-Z a-z 0-9 + /). It tests eight bytes at a time: once no byte
// has its high bit set (hi), adding 0x80-c to a byte sets its high bit
// exactly when the byte is c or more, without a carry into the next byte,
// so each range is two additions. Folding the case (|0x20) makes the
// letters one range; '+' to '9' less ',' to '.' are the digits, '+' and
// '/'. It replaced a table lookup per byte, which took 26 to 49 ns for an
// sha512 digest depending on code layout; with it the strict check of a
// 100,000-package file on one core went from 17.2 to 15.7 ms.
func base64Chars(s []byte) bool {
	const h = 0x8080808080808080
	if len(s) < 8 {
		for _, c := range s {
			if b64Char[c] == 0xff {
				return false
			}
		}
		return true
	}
	// The last eight bytes as a word, overlapping the words before them
	// (as plainASCII does).
	last := binary.LittleEndian.Uint64(s[len(s)-8:])
	hi, ok := last, h&base64Word(last)
	for len(s) >= 32 {
		_ = s[31]
		w, x := binary.LittleEndian.Uint64(s), binary.LittleEndian.Uint64(s[8:])
		y, z := binary.LittleEndian.Uint64(s[16:]), binary.LittleEndian.Uint64(s[24:])
		hi |= w | x | y | z
		ok &= base64Word(w) & base64Word(x) & base64Word(y) & base64Word(z)
		s = s[32:]
	}
	if len(s) >= 16 {
		x, y := binary.LittleEndian.Uint64(s), binary.LittleEndian.Uint64(s[8:])
		hi |= x | y
		ok &= base64Word(x) & base64Word(y)
		s = s[16:]
	}
	if len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		hi |= x
		ok &= base64Word(x)
	}
	return hi&h == 0 && ok == h
}

// base64Word returns, for eight bytes below 0x80, the high bit of each
// byte set when the byte is a base64 character.
func base64Word(x uint64) uint64 {
	const l = 0x0101010101010101
	y := x | 0x20*l
	letters := (y + (0x80-'a')*l) &^ (y + (0x80-'z'-1)*l)
	digits := (x + (0x80-'+')*l) &^ (x + (0x80-'9'-1)*l) &^ ((x + (0x80-',')*l) &^ (x + (0x80-'/')*l))
	return letters | digits
}

// explain words fault f of field i's string s. It decides nothing: it
// finds what the message names (the offending byte, the part) in s.
func explain(i int, s []byte, f fault) string {
	field := FieldNames[i]
	version := func(why string) string {
		return fmt.Sprintf("version %q is not Semantic Versioning 2.0.0: %s", s, why)
	}
	firstBad := func(s []byte, good func(c byte) bool) byte {
		for _, c := range s {
			if !good(c) {
				return c
			}
		}
		return 0
	}
	part, what := s, "name"
	if len(s) > 0 && s[0] == '@' {
		if slash := bytes.IndexByte(s, '/'); slash >= 0 {
			part = s[slash+1:]
			if f >= scopeEmpty && f <= scopeByte {
				part, what = s[1:slash], "scope"
			}
		}
	}
	identChar := func(c byte) bool { return c-'0' < 10 || c-'a' < 26 || c-'A' < 26 || c == '-' || c == '.' || c == '+' }
	switch f {
	case tooLong:
		return fmt.Sprintf("%s is %d bytes long, the limit is %d", field, len(s), fieldMax[i])
	case nameEmpty:
		return "name is empty"
	case nameNoSlash:
		return fmt.Sprintf("scoped name %q has no '/'", s)
	case scopeEmpty, partEmpty:
		return what + " is empty"
	case scopeStart, partStart:
		return fmt.Sprintf("%s %q starts with %q", what, part, part[0])
	case scopeByte, partByte:
		return fmt.Sprintf("%s %q has the byte %q; allowed are A-Z a-z 0-9 - . _ ~", what, part, firstBad(part, func(c byte) bool { return nameChar[c] == 1 }))
	case verEmpty:
		return "version is empty"
	case verCore:
		return version("want MAJOR.MINOR.PATCH")
	case verLeadingZero:
		return version("leading zero in a version number")
	case verPreByte, verBuildByte:
		kind := "pre-release"
		if f == verBuildByte {
			kind = "build metadata"
		}
		at := bytes.IndexAny(s, "-+")
		if f == verBuildByte {
			at = bytes.IndexByte(s, '+')
		}
		return version(fmt.Sprintf("%s has the byte %q", kind, firstBad(s[at+1:], identChar)))
	case verPreEmpty:
		return version("pre-release has an empty identifier")
	case verPreZero:
		return version("pre-release has a numeric identifier with a leading zero")
	case verBuildEmpty:
		return version("build metadata has an empty identifier")
	case verBuildPlus:
		return version("build metadata has the byte '+'")
	case verTrailing:
		return version(fmt.Sprintf("unexpected %q after the version", s[trailingAt(s)]))
	case urlScheme:
		return fmt.Sprintf("resolved %q is not an absolute http or https URL", truncate(s))
	case urlControl:
		return fmt.Sprintf("resolved URL has the control or space byte 0x%02x", firstBad(s, func(c byte) bool { return c > ' ' && c != 0x7f }))
	case urlUTF8:
		return "resolved URL is not valid UTF-8"
	case urlNoHost:
		return fmt.Sprintf("resolved URL %q has no host", truncate(s))
	case urlBadIP:
		return fmt.Sprintf("resolved URL %q has a bracketed host that is not an IPv6 address", truncate(s))
	case intForm:
		return fmt.Sprintf("integrity %q is not ALGORITHM-BASE64", truncate(s))
	case intAlgorithm:
		return fmt.Sprintf("integrity algorithm %q is not sha1, sha256, sha384 or sha512", s[:bytes.IndexByte(s, '-')])
	case intLength:
		dash, size, _, b := integrityParts(s)
		return fmt.Sprintf("integrity %s digest is %d base64 characters, want %d", s[:dash], len(b), (size+2)/3*4)
	case intByte:
		_, _, pad, b := integrityParts(s)
		return fmt.Sprintf("integrity has the byte %q, not standard base64", firstBad(b[:len(b)-pad], func(c byte) bool { return b64Char[c] != 0xff }))
	case intPadding:
		return "integrity base64 padding is wrong"
	case intCanonical:
		return "integrity base64 is not canonical (unused bits set)"
	}
	return fmt.Sprintf("%s breaks rule %d", field, f)
}

// trailingAt returns where the bytes after a version's core, pre-release
// and build metadata start.
func trailingAt(s []byte) int {
	i := 0
	for part := 0; part < 3; part++ {
		for i < len(s) && s[i]-'0' < 10 {
			i++
		}
		if part < 2 {
			i++
		}
	}
	if i < len(s) && s[i] == '-' {
		n, _ := idents(s[i+1:], true)
		i += 1 + n
	}
	if i < len(s) && s[i] == '+' {
		n, _ := idents(s[i+1:], false)
		i += 1 + n
	}
	return min(i, len(s)-1)
}

// ComparePackages orders records by name, then by version, comparing bytes.
func ComparePackages(a, b *Package) int {
	if c := compareStrings(a.Name, b.Name); c != 0 {
		return c
	}
	return compareStrings(a.Version, b.Version)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CompareRaw is ComparePackages for records as they lie in the file.
func CompareRaw(a, b *RawPackage) int {
	return compareNameVersion(a.Name, a.Version, b.Name, b.Version)
}

// compareNameVersion compares two records by name, then by version,
// comparing bytes. The names of neighbouring records mostly differ in
// their first eight bytes, which are compared as one big-endian word.
func compareNameVersion(aName, aVersion, bName, bVersion []byte) int {
	if len(aName) >= 8 && len(bName) >= 8 {
		if x, y := binary.BigEndian.Uint64(aName), binary.BigEndian.Uint64(bName); x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	if c := bytes.Compare(aName, bName); c != 0 {
		return c
	}
	return bytes.Compare(aVersion, bVersion)
}

// CheckOrder reports an UnsortedPackages or DuplicatePackage error when
// record cur (at file offset off) does not come strictly after prev.
func CheckOrder(prev, cur *RawPackage, record int) error {
	switch c := CompareRaw(prev, cur); {
	case c == 0:
		return CorruptRecord(ErrDuplicatePackage, cur.Off[0], record, "name",
			fmt.Sprintf("%s@%s appears twice (records %d and %d)", cur.Name, cur.Version, record-1, record))
	case c > 0:
		return CorruptRecord(ErrUnsortedPackages, cur.Off[0], record, "name",
			fmt.Sprintf("%s@%s sorts before the previous record %s@%s", cur.Name, cur.Version, prev.Name, prev.Version))
	}
	return nil
}
