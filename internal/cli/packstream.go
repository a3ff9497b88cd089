package cli

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
)

// This file is pack's one pass over its input: the JSON is read as a
// stream of tokens (jsontext, the tokenizer of encoding/json/v2), and
// every package becomes a record in the output buffer as soon as it has
// been read. The output's header, which holds the count and checksums of
// the records and the config (which the JSON may give after the
// packages), is written last.

// openInput opens pack's INPUT ("-" for stdin) for reading and returns
// its size when it is a regular file (0 for stdin).
func openInput(stdin io.Reader, in string) (io.ReadCloser, int64, error) {
	if in == "-" {
		return io.NopCloser(stdin), 0, nil
	}
	f, err := os.Open(in)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", in, atomicfile.ErrNotRegular)
	}
	if st.Size() > atomicfile.MaxSize {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w: the limit is %d bytes", in, atomicfile.ErrTooLarge, atomicfile.MaxSize)
	}
	return f, st.Size(), nil
}

// spool is a lockfile being packed: its records as plain records (four
// length-prefixed strings, docs/format.md section 5.1) after room for the
// largest header of the registered versions. finish turns it into the file
// at the version asked for.
type spool struct {
	buf   []byte
	room  int
	count int
	// prevName and prevVersion are those of the last record, for the
	// order check; unsorted is set when a record came before it.
	prevName, prevVersion []byte
	unsorted              bool
	// dups are the packages seen twice in a row (sorted input).
	dups []string
	// digest is the sum of a hash of every package, whatever the order:
	// verify compares it with the records of the bytes written.
	seed   maphash.Seed
	digest uint64
	tally  schema.RegistryTally
	// sums, when the records are expected to be framed (expect), holds
	// the CRC-32C of every body in order, computed as it is added, so
	// that frame does not compute them after the input is read.
	sums []uint32
}

// newSpool returns a spool whose buffer can take size bytes without
// growing: pages of it that are never written are never backed by
// memory, so sizing it from the input costs nothing.
func newSpool(size int64) *spool {
	room := 0
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		room = max(room, s.HeaderSize)
	}
	size = min(max(size, 4096), atomicfile.MaxSize) + int64(room)
	return &spool{buf: make([]byte, room, size), room: room, seed: maphash.MakeSeed()}
}

// expect tells s the version the file is expected to be written at,
// before the first package is added.
func (s *spool) expect(version int) {
	if t, ok := schema.Lookup(version); ok && t.Framing != nil && s.count == 0 {
		s.sums = make([]uint32, 0, 1024)
	}
}

// packageHash is the hash of a package that digest sums.
func packageHash(seed maphash.Seed, name, version, resolved, integrity string) uint64 {
	h := maphash.String(seed, name)
	h = h*0x100000001b3 ^ maphash.String(seed, version)
	h = h*0x100000001b3 ^ maphash.String(seed, resolved)
	return h*0x100000001b3 ^ maphash.String(seed, integrity)
}

// add appends a package that passed CheckPackage.
func (s *spool) add(p *schema.Package) {
	start := len(s.buf)
	s.buf = schema.AppendBody(s.buf, p)
	if s.sums != nil {
		s.sums = append(s.sums, schema.CRC32C(s.buf[start:]))
	}
	if s.count > 0 && !s.unsorted {
		c := strings.Compare(bstr(s.prevName), p.Name)
		if c == 0 {
			c = strings.Compare(bstr(s.prevVersion), p.Version)
		}
		switch {
		case c > 0:
			s.unsorted = true
		case c == 0:
			s.dups = append(s.dups, dupProblem(p.Name, p.Version))
		}
	}
	s.prevName = append(s.prevName[:0], p.Name...)
	s.prevVersion = append(s.prevVersion[:0], p.Version...)
	s.count++
	s.digest += packageHash(s.seed, p.Name, p.Version, p.Resolved, p.Integrity)
	s.tally.Add(p.Name, p.Version, p.Resolved)
}

// dupProblem is what the encoders say of a package listed twice.
func dupProblem(name, version string) string {
	return fmt.Sprintf("%s: package %s@%s: %s@%s appears twice", schema.ErrDuplicatePackage, name, version, name, version)
}

// bodies returns the offset of every record in the buffer.
func (s *spool) bodies() []int {
	offs := make([]int, 0, s.count)
	for off := s.room; off < len(s.buf); {
		offs = append(offs, off)
		off += bodySize(s.buf[off:])
	}
	return offs
}

// bodySize returns the size of the plain record at the start of b.
func bodySize(b []byte) int {
	n := 0
	for range 4 {
		n += 2 + int(binary.BigEndian.Uint16(b[n:]))
	}
	return n
}

// nameVersion returns the name and version of the record at off.
func (s *spool) nameVersion(off int) (name, version []byte) {
	b := s.buf[off:]
	n := int(binary.BigEndian.Uint16(b))
	name = b[2 : 2+n]
	b = b[2+n:]
	m := int(binary.BigEndian.Uint16(b))
	return name, b[2 : 2+m]
}

// sort puts the records of an unsorted input in order, in a new buffer
// (the only case where pack holds the records twice), and finds the
// packages listed twice.
func (s *spool) sort() {
	offs := s.bodies()
	slices.SortStableFunc(offs, func(a, b int) int {
		an, av := s.nameVersion(a)
		bn, bv := s.nameVersion(b)
		if c := bytes.Compare(an, bn); c != 0 {
			return c
		}
		return bytes.Compare(av, bv)
	})
	out := make([]byte, s.room, len(s.buf))
	s.dups = nil
	for i, off := range offs {
		if i > 0 {
			pn, pv := s.nameVersion(offs[i-1])
			n, v := s.nameVersion(off)
			if bytes.Equal(pn, n) && bytes.Equal(pv, v) {
				s.dups = append(s.dups, dupProblem(string(n), string(v)))
			}
		}
		out = append(out, s.buf[off:off+bodySize(s.buf[off:])]...)
	}
	s.buf, s.unsorted, s.sums = out, false, nil
}

// finish returns the file of l's config and writer (l has no packages)
// holding the spooled records. The problems are an *inputError, worded as
// the encoders' are.
func (s *spool) finish(l *schema.Lockfile) ([]byte, error) {
	if s.unsorted {
		s.sort()
	}
	target, ok := schema.Lookup(l.Config.Version)
	if !ok {
		return nil, inputErrorf("cannot write version %d: not a version this build knows (known: %v)", l.Config.Version, schema.Versions())
	}
	// The header of an empty file at the version: its encoder checks
	// the config and fills in every fixed field and the writer.
	hdr, err := target.Encode(l)
	var msgs []string
	if err != nil {
		var ee *schema.EncodeError
		if !errors.As(err, &ee) {
			return nil, inputErrorf("%v", err)
		}
		for _, e := range ee.Problems {
			var ce *schema.CorruptionError
			if schema.AsCorruption(e, &ce) {
				msgs = append(msgs, fmt.Sprintf("%s: config.%s: %s", ce.Err, ce.Field, ce.Rule))
			} else {
				msgs = append(msgs, e.Error())
			}
		}
	}
	msgs = append(msgs, s.dups...)
	if len(msgs) > 0 {
		return nil, inputErrorf("cannot write version %d:\n  %s", l.Config.Version, strings.Join(msgs, "\n  "))
	}
	cf := target.FieldOf(schema.KindCount)
	if cf == nil || uint64(s.count) >= 1<<(8*min(cf.Size, 7)) {
		return nil, inputErrorf("cannot write version %d: %d packages do not fit its count", l.Config.Version, s.count)
	}
	hs := target.HeaderSize
	var b []byte
	if fr := target.Framing; fr == nil {
		// Plain records: moved down behind the header in one copy.
		n := copy(s.buf[hs:], s.buf[s.room:])
		b = s.buf[:hs+n]
	} else {
		b = s.frame(fr, hs)
	}
	copy(b, hdr[:hs])
	schema.PutUint(b[cf.Offset:cf.End()], uint64(s.count))
	target.Seal(b)
	return b, nil
}

// frame turns the plain records into framed ones behind a header of hs
// bytes, in place: the file is bigger than the records, so they are moved
// up, the last first, each to where its frame ends up.
func (s *spool) frame(fr *schema.Framing, hs int) []byte {
	if hs < s.room {
		// Records start right behind the header, so that each moves up.
		n := copy(s.buf[hs:], s.buf[s.room:])
		s.buf, s.room = s.buf[:hs+n], hs
	}
	offs := s.bodies()
	sums := s.sums
	if len(sums) != len(offs) {
		sums = nil
	}
	over := fr.Overhead()
	end := hs + len(s.buf) - s.room + over*len(offs)
	if end > cap(s.buf) {
		grown := make([]byte, len(s.buf), end)
		copy(grown, s.buf)
		s.buf = grown
	}
	b := s.buf[:end]
	at := end
	for i := len(offs) - 1; i >= 0; i-- {
		off := offs[i]
		n := bodySize(b[off:])
		at -= over + n
		body := at + fr.Head()
		copy(b[body:body+n], b[off:off+n])
		copy(b[at:], fr.Marker)
		binary.BigEndian.PutUint32(b[at+len(fr.Marker):], uint32(n))
		var sum uint32
		if sums != nil {
			sum = sums[i]
		} else {
			sum = schema.CRC32C(b[body : body+n])
		}
		binary.BigEndian.PutUint32(b[body+n:], sum)
	}
	return b
}

// jsonOptions are those of the JSON reader: encoding/json lets a later
// member of the same name win, and so does pack.
var jsonOptions = jsontext.AllowDuplicateNames(true)

// syntaxError is a JSON error of the reader, as pack reports it.
func syntaxError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = io.ErrUnexpectedEOF
	}
	return inputErrorf("not valid JSON: %v", err)
}

// streamContent reads lockfix JSON from dec, whose opening '{' has been
// read, into sp, and returns its config object (nil when absent) and
// whether it had a "packages" member.
func streamContent(dec *jsontext.Decoder, sp *spool, first []byte, to int) (cfg *schema.ContentConfig, hasPackages bool, err error) {
	name := first
	for {
		switch {
		case bytes.EqualFold(name, []byte("config")):
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, false, syntaxError(err)
			}
			var c schema.ContentConfig
			if string(raw) == "null" {
				return nil, false, inputErrorf("lockfix JSON without a \"config\" object")
			}
			if err := strictJSON(raw, &c); err != nil {
				return nil, false, inputErrorf("config: %v", err)
			}
			cfg = &c
		case bytes.EqualFold(name, []byte("packages")):
			if hasPackages {
				// encoding/json let the last win; a stream cannot.
				return nil, false, inputErrorf("two \"packages\" members")
			}
			hasPackages = true
			switch {
			case to >= 0:
				sp.expect(to)
			case cfg != nil:
				sp.expect(cfg.Version)
			}
			if err := streamPackages(dec, sp); err != nil {
				return nil, false, err
			}
		case bytes.EqualFold(name, []byte("valid")):
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, false, syntaxError(err)
			}
			if string(raw) == "false" {
				return nil, false, inputErrorf("this is 'lockfix dump --json' of an invalid lockfile; repair the lockfile with 'lockfix recover' first")
			}
		case bytes.Equal(name, []byte("lockfileVersion")):
			return nil, false, inputErrorf("a \"lockfileVersion\" member after lockfix JSON's \"config\" or \"packages\": neither lockfix JSON nor a package-lock.json")
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, false, syntaxError(err)
			}
		}
		if dec.PeekKind() == '}' {
			if _, err := dec.ReadToken(); err != nil {
				return nil, false, syntaxError(err)
			}
			if _, err := dec.ReadToken(); err != io.EOF {
				if err == nil {
					err = errors.New("data after the top-level value")
				}
				return nil, false, syntaxError(err)
			}
			return cfg, hasPackages, nil
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, false, syntaxError(err)
		}
		name = unquote(v, nil)
	}
}

// unquote returns the content of the JSON string v, in place when it has
// no escapes, else appended to scratch.
func unquote(v jsontext.Value, scratch []byte) []byte {
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	out, err := jsontext.AppendUnquote(scratch[:0], v)
	if err != nil {
		return s // cannot happen: the reader checked the string
	}
	return out
}

// streamPackages reads the "packages" array into sp. With more than one
// processor, reading the JSON and cutting, checking and adding the
// packages run side by side: the reader hands batches of package objects
// to a goroutine that adds them in order, so the first problem in the
// input is the one reported.
func streamPackages(dec *jsontext.Decoder, sp *spool) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxError(err)
	}
	switch tok.Kind() {
	case '[':
	case 'n':
		return inputErrorf("packages: want an array, got null")
	default:
		return inputErrorf("packages: json: cannot unmarshal %s into Go value of type []schema.Package", kindName(tok.Kind()))
	}
	var cut packCutter
	add := func(b *packBatch) error { return b.addTo(sp, &cut) }
	var batches, free chan *packBatch
	var failed atomic.Bool
	done := make(chan error, 1)
	if runtime.GOMAXPROCS(0) > 1 {
		batches, free = make(chan *packBatch, 4), make(chan *packBatch, 6)
		go func() {
			var err error
			for b := range batches {
				if err == nil {
					if err = b.addTo(sp, &cut); err != nil {
						failed.Store(true)
					}
				}
				free <- b
			}
			done <- err
		}()
		add = func(b *packBatch) error {
			batches <- b
			return nil
		}
	}
	next := func(first int) *packBatch {
		var b *packBatch
		select {
		case b = <-free:
		default:
			b = &packBatch{}
		}
		b.first, b.arena, b.ends = first, b.arena[:0], b.ends[:0]
		return b
	}
	rerr := readPackages(dec, add, next, &failed)
	if batches != nil {
		close(batches)
		if err := <-done; err != nil {
			return err
		}
	}
	return rerr
}

// packBatch is a run of packages read and not yet added: their objects
// as the reader checked them, one after the other in arena, each ending
// at its entry of ends.
type packBatch struct {
	first int
	arena []byte
	ends  []int32
}

// batchSize is the number of packages of a batch.
const batchSize = 1024

// packCutter is what addTo reuses from one package to the next: the four
// members of the package and, for an object that cutPackage leaves, a
// token reader and its scratch.
type packCutter struct {
	fields [4][]byte
	key    []byte
	one    *jsontext.Decoder
}

// addTo cuts the packages of b, checks them and adds them to sp.
func (b *packBatch) addTo(sp *spool, c *packCutter) error {
	at := 0
	for j, end := range b.ends {
		v := b.arena[at:end]
		at = int(end)
		i := b.first + j
		// The members are cut from the object in place; anything but an
		// object of plain strings takes the token-by-token path.
		if !cutPackage(v, &c.fields) {
			if c.one == nil {
				c.one = newJSONReader(bytes.NewReader(v))
			} else {
				c.one.Reset(bytes.NewReader(v), jsonOptions)
			}
			if err := readPackage(c.one, i, &c.fields, &c.key); err != nil {
				return err
			}
		}
		f := &c.fields
		p := schema.Package{Name: bstr(f[0]), Version: bstr(f[1]), Resolved: bstr(f[2]), Integrity: bstr(f[3])}
		if field, rule := schema.CheckPackage(&p); rule != "" {
			return inputErrorf("packages[%d] (%s@%s): %s: %s", i, p.Name, p.Version, field, rule)
		}
		sp.add(&p)
	}
	return nil
}

// readPackages reads the packages up to the closing ']' and hands them
// to add in batches from next; it stops early once failed is set. It
// checks the syntax of each package object (the reader does) and keeps
// it whole for addTo.
func readPackages(dec *jsontext.Decoder, add func(*packBatch) error, next func(first int) *packBatch, failed *atomic.Bool) error {
	b := next(0)
	i := 0
	for ; dec.PeekKind() != ']'; i++ {
		if len(b.ends) == batchSize {
			if err := add(b); err != nil || failed.Load() {
				return err
			}
			b = next(i)
		}
		v, err := dec.ReadValue()
		if err != nil {
			// A problem in the packages before it comes first.
			if aerr := add(b); aerr != nil {
				return aerr
			}
			return syntaxError(err)
		}
		b.arena = append(b.arena, v...)
		b.ends = append(b.ends, int32(len(b.arena)))
	}
	if err := add(b); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err)
	}
	return nil
}

// cutPackage cuts the members of v, a package object that the reader
// has checked, when every member is one of the four with a string value
// without escapes. It reports false for anything else; fields then
// alias v.
func cutPackage(v []byte, fields *[4][]byte) bool {
	for k := range fields {
		fields[k] = nil
	}
	if len(v) == 0 || v[0] != '{' {
		return false // a string such as "}" is no object
	}
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == '}' {
		return true
	}
	for {
		if i >= len(v) || v[i] != '"' {
			return false
		}
		end := bytes.IndexByte(v[i+1:], '"')
		if end < 0 {
			return false
		}
		key := v[i+1 : i+1+end]
		i = skipSpace(v, i+2+end)
		if i >= len(v) || v[i] != ':' {
			return false
		}
		i = skipSpace(v, i+1)
		if i >= len(v) || v[i] != '"' {
			return false
		}
		end = bytes.IndexByte(v[i+1:], '"')
		if end < 0 {
			return false
		}
		val := v[i+1 : i+1+end]
		if bytes.IndexByte(val, '\\') >= 0 || bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		k := -1
		for j, n := range schema.FieldNames {
			if string(key) == n {
				k = j
				break
			}
		}
		if k < 0 {
			return false
		}
		fields[k] = val
		i = skipSpace(v, i+2+end)
		if i >= len(v) {
			return false
		}
		switch v[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(v, i+1)
		default:
			return false
		}
	}
}

// skipSpace returns the index of the first byte of v at or after i that
// is not JSON white space.
func skipSpace(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\n' || v[i] == '\t' || v[i] == '\r') {
		i++
	}
	return i
}

// readPackage reads one package object into fields (name, version,
// resolved, integrity; members that are absent or null are empty).
func readPackage(dec *jsontext.Decoder, i int, fields *[4][]byte, key *[]byte) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxError(err)
	}
	if tok.Kind() != '{' {
		if tok.Kind() == 'n' {
			for k := range fields {
				fields[k] = fields[k][:0]
			}
			return nil
		}
		return inputErrorf("packages[%d]: json: cannot unmarshal %s into Go value of type schema.Package", i, kindName(tok.Kind()))
	}
	for k := range fields {
		fields[k] = fields[k][:0]
	}
	for dec.PeekKind() != '}' {
		v, err := dec.ReadValue()
		if err != nil {
			return syntaxError(err)
		}
		*key = append((*key)[:0], unquote(v, nil)...)
		k := -1
		for j, n := range schema.FieldNames {
			if bytes.EqualFold(*key, []byte(n)) {
				k = j
				break
			}
		}
		if k < 0 {
			return inputErrorf("packages: json: unknown field %q", *key)
		}
		v, err = dec.ReadValue()
		if err != nil {
			return syntaxError(err)
		}
		switch v.Kind() {
		case '"':
			fields[k] = append(fields[k][:0], unquote(v, nil)...)
		case 'n':
			fields[k] = fields[k][:0]
		default:
			return inputErrorf("packages[%d].%s: json: cannot unmarshal %s into Go struct field Package.%s of type string", i, schema.FieldNames[k], kindName(v.Kind()), schema.FieldNames[k])
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err)
	}
	return nil
}

// kindName names a JSON kind as encoding/json's errors do.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "null"
}

// newJSONReader returns the token reader of pack's input.
func newJSONReader(r io.Reader) *jsontext.Decoder {
	return jsontext.NewDecoder(r, jsonOptions)
}
