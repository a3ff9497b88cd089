package schema

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// This file reads and writes the package array of any version from its
// description: plain records (FORMAT.md 5.1) when the version has no
// Framing, framed records (5.2) when it has.

// hooks are what a caller adds to a check: known, when not nil, vouches
// for records, which then skip the rules of their strings (see
// Schema.CheckKnown); visit, when not nil, is shown the records (see
// Schema.CheckVisit).
type hooks struct {
	known Known
	visit Visitor
}

// parse checks b strictly and, with build, collects its packages: their
// strings are substrings of a copy of b, or with alias of b itself. When
// ready is not nil, b is still being read: see Schema.CheckArriving.
func (s *Schema) parse(b []byte, build, alias bool, ready func(n int) int, h hooks) (*Lockfile, []error) {
	if ready == nil {
		ready = func(int) int { return len(b) }
	}
	ready(min(len(b), s.HeaderSize))
	errs, whole := s.CheckHeader(b)
	if !whole {
		return nil, errs
	}
	cf := s.FieldOf(KindCount)
	count := int(Uint(b[cf.Offset:cf.End()]))
	var out *sink
	if build {
		// count is the header's word: the slice is bounded by the valid
		// records that b can hold.
		least := MinPlainRecord
		if s.Framing != nil {
			least += s.Framing.Overhead()
		}
		out = &sink{pkgs: make([]Package, min(count, (len(b)-s.HeaderSize)/least))}
		if alias {
			out.file = unsafe.String(unsafe.SliceData(b), len(b))
		} else {
			out.file = string(b)
		}
	}
	var results []chunkResult
	if s.Framing == nil {
		results = s.parsePlain(b, out, count, ready, h)
	} else {
		var sumErr error
		results, sumErr = s.parseFramed(b, out, count, &errs, ready, h)
		if sumErr != nil {
			errs = append(errs, sumErr)
		}
	}
	for i := range results {
		errs = append(errs, results[i].errs...)
	}
	var pkgs []Package
	if out != nil && len(errs) == 0 {
		if count > len(out.pkgs) {
			// Not reached: every valid record takes the least bytes.
			return nil, []error{s.countError(count, len(out.pkgs), true)}
		}
		pkgs = out.pkgs[:count]
	}
	if len(errs) > 0 {
		return nil, errs
	}
	l := &Lockfile{Config: DecodeConfig(b[OffConfigVersion:]), Packages: pkgs}
	if wf := s.FieldOf(KindWriter); wf != nil {
		l.Writer = WriterString(b[wf.Offset:wf.End()])
	}
	return l, nil
}

// countError is the PackageCountMismatch of a packageCount that the
// records do not fill.
func (s *Schema) countError(count, records int, ended bool) error {
	cf := s.FieldOf(KindCount)
	if ended {
		return Corrupt(ErrPackageCountMismatch, cf.Offset, cf.Name,
			fmt.Sprintf("%s is %d, the file ends after %d records", cf.Name, count, records))
	}
	return Corrupt(ErrPackageCountMismatch, cf.Offset, cf.Name,
		fmt.Sprintf("%s is %d, the file holds %d records", cf.Name, count, records))
}

// parsePlain checks the plain records of b, in chunks on up to
// GOMAXPROCS workers for a large file (dispatch). Plain records have no
// frame to hop over, so the hop reads their four lengths (which costs a
// fraction of checking their strings); it stops where a record cannot be
// parsed (the file ends inside it, or a length is over its limit).
func (s *Schema) parsePlain(b []byte, out *sink, count int, ready func(n int) int, h hooks) []chunkResult {
	n := min(runtime.GOMAXPROCS(0), 8)
	if n < 2 || count < parallelMin {
		ready(len(b))
		return []chunkResult{s.checkPlain(b, out, chunk{first: 0, last: count, off: s.HeaderSize, prev: -1}, count, h)}
	}
	// count is the header's word: the chunks are bounded by the records
	// that b can hold, at their four lengths each.
	chunks := min(count, (len(b)-s.HeaderSize)/8)/chunkRecords + 1
	// next hops over the record at off by its four lengths.
	next := func(off int, have *int) int {
		at := off
		for f := range fieldMax {
			if len(b)-at < 2 {
				return -1
			}
			if at+2 > *have {
				*have = ready(at + 2)
			}
			size := int(binary.BigEndian.Uint16(b[at:]))
			if size > fieldMax[f] || len(b)-at-2 < size {
				return -1
			}
			at += 2 + size
		}
		return at
	}
	return s.dispatch(b, count, chunks, n, ready, next, func(c chunk) chunkResult {
		return s.checkPlain(b, out, c, count, h)
	})
}

// checkPlain checks the plain records of one chunk; the chunk holding the
// last record also checks what follows it. When out is not nil, the
// chunk's packages go into it. h's known vouches for records, and its
// visit is shown them.
func (s *Schema) checkPlain(b []byte, out *sink, c chunk, count int, h hooks) chunkResult {
	known, visit := h.known, h.visitor(c.first)
	var res chunkResult
	off := c.off
	var prev RawPackage
	if c.prev >= 0 {
		// The record before the chunk, for the order check; the hop has
		// parsed it already.
		prev, _, _ = ParseBody(b[c.prev:], c.prev, c.first-1)
	}
	var kr RawPackage // what known is shown: see vouch
	i := c.first
	for ; i < c.last; i++ {
		if off == len(b) {
			res.errs = append(res.errs, s.countError(count, i, true))
			break
		}
		r, n, err := ParseBody(b[off:], off, i)
		if err != nil {
			res.errs = append(res.errs, err)
			return res
		}
		if known == nil || !vouch(known, i, &r, &kr) {
			if err := CheckRaw(&r, i); err != nil {
				res.errs = append(res.errs, err)
			}
		}
		if visit != nil {
			kr = r
			visit(i, &kr)
		}
		if i > 0 {
			if err := CheckOrder(&prev, &r, i); err != nil {
				res.errs = append(res.errs, err)
			}
		}
		out.put(i, &r)
		prev = r
		off += n
	}
	if c.last == count && i == count && off < len(b) {
		res.errs = append(res.errs, s.trailing(b, off, count))
	}
	return res
}

// NextRecord reads the record of version s at b[off:] without checking
// its strings' rules: for plain records the four strings, for framed ones
// the frame (marker, size bounds, whole) and its body. It returns the
// record's strings, the bytes it takes, the body's stored and computed
// CRC-32C (both 0 for plain records), and a CorruptionError when the
// bytes cannot be a record.
func (s *Schema) NextRecord(b []byte, off, record int) (r RawPackage, size int, stored, sum uint32, err error) {
	if s.Framing == nil {
		r, size, err = ParseBody(b[off:], off, record)
		return r, size, 0, 0, err
	}
	f, err := s.ReadFrame(b[off:], off, record)
	if err != nil {
		return r, 0, 0, 0, err
	}
	r, err = s.ParseFrameBody(f.Body, off, record)
	return r, f.Size(), f.Stored, CRC32C(f.Body), err
}

// ParseFrameBody returns the strings of body, the body of the frame at
// file offset off: they must fill it exactly (ParseBody's error, or a
// bodySize fault when they take fewer bytes).
func (s *Schema) ParseFrameBody(body []byte, off, record int) (RawPackage, error) {
	r, n, err := ParseBody(body, off+s.Framing.Head(), record)
	if err == nil && n != len(body) {
		err = s.bodySizeFault(off, record, len(body), n)
	}
	return r, err
}

// bodySizeFault is the fault of the frame at off whose bodySize, size, is
// not the n bytes its strings take.
func (s *Schema) bodySizeFault(off, record, size, n int) error {
	return CorruptRecord(ErrInvalidPackage, off+len(s.Framing.Marker), record, "bodySize",
		fmt.Sprintf("bodySize is %d, the strings take %d", size, n))
}

// visitor returns the function h's visit gives the run of records from
// first, or nil when there is no visit.
func (h hooks) visitor(first int) func(i int, r *RawPackage) {
	if h.visit == nil {
		return nil
	}
	return h.visit(first)
}

// vouch asks known about record i, r, shown as a copy in kr: one
// variable for all the records of a check, since the pointer known gets
// would make each record's own variable escape to the heap.
func vouch(known Known, i int, r, kr *RawPackage) bool {
	*kr = *r
	return known(i, kr)
}

// trailing tells TrailingData from a packageCount that is too small: when
// the bytes after the last counted record read as whole records, the count
// is wrong.
func (s *Schema) trailing(b []byte, off, count int) error {
	extra := 0
	for pos := off; pos < len(b); extra++ {
		r, n, stored, sum, err := s.NextRecord(b, pos, count+extra)
		if err != nil || stored != sum || (s.Framing == nil && CheckRaw(&r, 0) != nil) {
			return Corrupt(ErrTrailingData, off, "packages",
				fmt.Sprintf("%d bytes follow the last of %d records", len(b)-off, count))
		}
		pos += n
	}
	return s.countError(count, count+extra, false)
}

// Frame is a framed record as found in a file.
type Frame struct {
	// Off is the file offset of the marker.
	Off int
	// Body is the body bytes (aliasing the input).
	Body []byte
	// Stored is the stored CRC-32C.
	Stored uint32
	// overhead is the marker, size and checksum bytes.
	overhead int
}

// Size returns the bytes the record takes in the file.
func (f *Frame) Size() int { return f.overhead + len(f.Body) }

// ReadFrame reads the frame at b[0:], whose first byte lies at file offset
// off. It checks the marker, the size bounds and that the frame is whole,
// not the checksum.
func (s *Schema) ReadFrame(b []byte, off, record int) (Frame, error) {
	fr := s.Framing
	m := len(fr.Marker)
	body, stored, bad := fr.frame(b)
	switch bad {
	case frameShort:
		return Frame{}, CorruptRecord(ErrTruncated, off, record, "marker", fmt.Sprintf("the file ends %d bytes into the record's frame", len(b)))
	case frameMarker:
		return Frame{}, CorruptRecord(ErrInvalidPackage, off, record, "marker", fmt.Sprintf("marker is %q, want %q", b[:m], fr.Marker))
	case frameSize:
		return Frame{}, CorruptRecord(ErrInvalidPackage, off+m, record, "bodySize", fmt.Sprintf("bodySize is %d, want %d-%d", binary.BigEndian.Uint32(b[m:]), fr.MinBody, fr.MaxBody))
	case frameTorn:
		return Frame{}, CorruptRecord(ErrTruncated, off, record, "body", fmt.Sprintf("the record needs %d bytes, %d remain", fr.Overhead()+int(binary.BigEndian.Uint32(b[m:])), len(b)))
	}
	return Frame{Off: off, Body: body, Stored: stored, overhead: fr.Overhead()}, nil
}

// frameFault is what is wrong with a frame (frameOK: nothing).
type frameFault uint8

const (
	frameOK     frameFault = iota
	frameShort             // the bytes end before the marker and size
	frameMarker            // the marker is wrong
	frameSize              // bodySize is out of bounds
	frameTorn              // the bytes end before the frame does
)

// marks reports whether b starts with the marker; b holds at least as
// many bytes. A marker is a few bytes: compared one by one, inline, they
// cost less than the call a string comparison makes.
func (fr *Framing) marks(b []byte) bool {
	m := fr.Marker
	if len(b) < len(m) {
		return false
	}
	for i := 0; i < len(m); i++ {
		if b[i] != m[i] {
			return false
		}
	}
	return true
}

// head reads the marker and bodySize of the frame at b[0:]: the body's
// size, or what is wrong with the frame. It is the rule of ReadFrame but
// for the checksum, which it does not read.
func (fr *Framing) head(b []byte) (n int, bad frameFault) {
	if len(b) < fr.Head() {
		return 0, frameShort
	}
	if !fr.marks(b) {
		return 0, frameMarker
	}
	n = int(binary.BigEndian.Uint32(b[len(fr.Marker):]))
	if n < fr.MinBody || n > fr.MaxBody {
		return 0, frameSize
	}
	if len(b)-fr.Overhead() < n {
		return 0, frameTorn
	}
	return n, frameOK
}

// frame reads the frame at b[0:]: its body and the CRC-32C it holds, or
// what is wrong with it. It is the rule of ReadFrame, without the Frame
// and the error a check of many records does not need for a good one.
func (fr *Framing) frame(b []byte) (body []byte, stored uint32, bad frameFault) {
	n, bad := fr.head(b)
	if bad != frameOK {
		return nil, 0, bad
	}
	start := fr.Head()
	end := start + n
	return b[start:end:end], binary.BigEndian.Uint32(b[end:]), frameOK
}

// Hop returns the bytes of the frame at b[0:], read from its marker and
// bodySize alone, or -1 where ReadFrame would report the frame. The
// checksum is not read.
func (fr *Framing) Hop(b []byte) int {
	n, bad := fr.head(b)
	if bad != frameOK {
		return -1
	}
	return fr.Overhead() + n
}

// FrameAt reads the frame at b[0:]: its body and the CRC-32C it holds;
// ok is false where ReadFrame would report the frame.
func (fr *Framing) FrameAt(b []byte) (body []byte, stored uint32, ok bool) {
	body, stored, bad := fr.frame(b)
	return body, stored, bad == frameOK
}

// AppendRecord appends p as a record of version s. The caller checks p
// first; every valid package fits a frame's MaxBody.
func (s *Schema) AppendRecord(dst []byte, p *Package) []byte {
	if s.Framing == nil {
		return AppendBody(dst, p)
	}
	dst = append(dst, s.Framing.Marker...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(BodySize(p)))
	start := len(dst)
	dst = AppendBody(dst, p)
	return binary.BigEndian.AppendUint32(dst, CRC32C(dst[start:]))
}

// RecordSize returns the bytes p takes as a record of version s.
func (s *Schema) RecordSize(p *Package) int {
	if s.Framing == nil {
		return BodySize(p)
	}
	return s.Framing.Overhead() + BodySize(p)
}

// parseFramed checks the framed records of b, the array's size and its
// checksum. Problems of the array fields go to errs, before the records'.
func (s *Schema) parseFramed(b []byte, out *sink, count int, errs *[]error, ready func(n int) int, h hooks) ([]chunkResult, error) {
	array := b[s.HeaderSize:]
	if f := s.FieldOf(KindArraySize); f != nil {
		if size := Uint(b[f.Offset:f.End()]); size != uint64(len(array)) {
			*errs = append(*errs, Corrupt(ErrPackageCountMismatch, f.Offset, f.Name,
				fmt.Sprintf("%s is %d, the file holds %d bytes after the header", f.Name, size, len(array))))
		}
	}
	sumField := s.FieldOf(KindArrayChecksum)
	// The array's CRC-64 is taken a step at a time just ahead of the hop
	// over the records (see dispatch), on the hop's goroutine: the
	// checksum streams the bytes in, and the hop, whose every step waits
	// for the record before, then finds them in the cache.
	var sum uint64
	summed := 0 // bytes of the array in sum
	ahead := func(n int) int {
		if sumField == nil || summed == len(array) {
			return ready(n)
		}
		for summed < len(array) && s.HeaderSize+summed < n {
			hi := min(summed+crcStep, len(array))
			ready(s.HeaderSize + hi)
			sum = CRC64Update(sum, array[summed:hi])
			summed = hi
		}
		if summed == len(array) {
			return ready(n)
		}
		// Only the bytes summed count as in, so that the hop asks again.
		return s.HeaderSize + summed
	}
	results := s.checkAll(b, out, count, ahead, h)
	ahead(len(b))
	if sumField != nil {
		if stored := Uint(b[sumField.Offset:sumField.End()]); sum != stored {
			return results, Corrupt(ErrChecksumMismatch, sumField.Offset, sumField.Name,
				fmt.Sprintf("package array CRC-64 is 0x%016x, the array computes to 0x%016x", stored, sum))
		}
	}
	return results, nil
}

// chunk is a run of records to check: records first..last-1, the first at
// file offset off; prev is the offset of the record before first (-1 when
// there is none), for the order check across the boundary.
type chunk struct {
	first, last int
	off, prev   int
}

type chunkResult struct {
	errs []error
}

// sink is where a decode puts its packages: record i at pkgs[i], its
// strings substrings of file (b as a string). The chunks of a parallel
// decode fill their own parts.
type sink struct {
	file string
	pkgs []Package
}

// put stores record i, unless s is nil (a check) or i lies past the
// records that b can hold valid (then b is invalid, and the problem is
// reported).
func (s *sink) put(i int, r *RawPackage) {
	if s != nil && i < len(s.pkgs) {
		s.pkgs[i] = r.PackageIn(s.file)
	}
}

// parallelMin is the package count from which framed records are checked
// by several goroutines.
const parallelMin = 8192

// chunkRecords is the number of records in a chunk of a parallel check:
// small enough that the workers end together (a chunk takes about a
// millisecond), large enough that a chunk's setup does not count.
const chunkRecords = 4096

// crcStep is how many bytes of the array the CRC-64 takes at a time: a
// step is read from memory in one stream and is still in the cache when
// the hop and the first workers reach it.
const crcStep = 64 << 10

// checkAll checks the framed records of b, in chunks on up to
// GOMAXPROCS workers for a large file (dispatch). The hop reads only each
// frame's marker and size, and stops at a frame too damaged to hop over.
func (s *Schema) checkAll(b []byte, out *sink, count int, ready func(n int) int, h hooks) []chunkResult {
	n := min(runtime.GOMAXPROCS(0), 8)
	if n < 2 || count < parallelMin {
		ready(len(b))
		return []chunkResult{s.checkRecords(b, out, chunk{first: 0, last: count, off: s.HeaderSize, prev: -1}, count, h)}
	}
	fr := s.Framing
	head := fr.Head()
	// count is the header's word: the chunks are bounded by the records
	// that b can hold.
	fit := (len(b) - s.HeaderSize) / (fr.Overhead() + fr.MinBody)
	// next hops over the frame at off by its marker and size.
	next := func(off int, have *int) int {
		if len(b)-off < head {
			return -1
		}
		if off+head > *have {
			*have = ready(off + head)
		}
		if size := fr.Hop(b[off:]); size > 0 {
			return off + size
		}
		return -1
	}
	return s.dispatch(b, count, min(count, fit)/chunkRecords+1, n, ready, next, func(c chunk) chunkResult {
		return s.checkRecords(b, out, c, count, h)
	})
}

// dispatch checks the records of b, count by the header, in chunks of
// chunkRecords (at most chunks of them) on n workers, plain or framed
// alike: this goroutine hops from record to record with next, which
// returns the offset after the record at off, or -1 where a record is too
// damaged to hop over (and asks ready for the bytes it reads, have being
// how many are known to be in). It hands out each chunk as soon as it
// has found where the next one starts; the workers take them in order
// and check each with check, so they keep busy to the end even while
// the hop (which also takes the array's CRC-64) shares the processors.
// Where the hop stops, the chunk holding the damage runs to the last
// record, meets it and reports it, as a sequential check would.
//
// When b is still being read, the hop waits for the bytes of each record
// it reads, and a chunk is handed out once the hop has passed its last
// record, so its bytes are in; the last chunk, which also reads what
// follows the last record, waits for the whole file.
func (s *Schema) dispatch(b []byte, count, chunks, n int, ready func(n int) int, next func(off int, have *int) int, check func(c chunk) chunkResult) []chunkResult {
	results := make([]chunkResult, chunks)
	type task struct {
		k int
		c chunk
	}
	tasks := make(chan task, len(results))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for t := range tasks {
				results[t.k] = check(t.c)
			}
		})
	}
	// cur is the chunk found but not yet handed out: its end is known
	// once the hop reaches the next chunk's first record.
	cur := chunk{first: 0, off: s.HeaderSize, prev: -1}
	off, prev := s.HeaderSize, -1
	have := 0 // bytes known to be in
	for i := 0; i < count; i++ {
		if i > 0 && i%chunkRecords == 0 {
			cur.last = i
			tasks <- task{k: cur.first / chunkRecords, c: cur}
			cur = chunk{first: i, off: off, prev: prev}
		}
		at := next(off, &have)
		if at < 0 {
			break
		}
		prev, off = off, at
		if off > have {
			have = ready(off)
		}
	}
	cur.last = count
	ready(len(b))
	tasks <- task{k: cur.first / chunkRecords, c: cur}
	close(tasks)
	wg.Wait()
	return results
}

// framesAhead is the frames of the next records of a chunk, read ahead
// of the check three at a time so that their CRC-32Cs are computed side
// by side (CRC32C3).
type framesAhead struct {
	at, size [3]int    // where each body starts in b, and its size
	stored   [3]uint32 // the CRC-32Cs the frames hold
	sum      [3]uint32 // the CRC-32Cs of the bodies
	k, n     int       // records k to n-1 are still to be checked
}

// next returns the body of the frame of record i, at off, the CRC-32C
// the frame holds and the one its body computes to, or ReadFrame's error.
// Records up to last-1 that follow it whole are read ahead. The frames are
// those a check reading one record at a time meets: each follows the one
// before, and the first that cannot be read is read again, and reported,
// when the check reaches it. a holds offsets, not slices: a store of a
// pointer through a pointer costs a write barrier while the garbage
// collector marks.
func (a *framesAhead) next(s *Schema, b []byte, off, i, last int) (body []byte, stored, sum uint32, err error) {
	if a.k < a.n {
		k := a.k
		a.k++
		return b[a.at[k] : a.at[k]+a.size[k] : a.at[k]+a.size[k]], a.stored[k], a.sum[k], nil
	}
	fr := s.Framing
	head := fr.Head()
	body, stored, bad := fr.frame(b[off:])
	if bad != frameOK {
		_, err := s.ReadFrame(b[off:], off, i)
		return nil, 0, 0, err
	}
	over := fr.Overhead()
	a.at[0], a.size[0], a.stored[0], a.k, a.n = off+head, len(body), stored, 1, 1
	for at := off + over + len(body); a.n < len(a.at) && i+a.n < last && at < len(b); a.n++ {
		g, st, bad := fr.frame(b[at:])
		if bad != frameOK {
			break
		}
		a.at[a.n], a.size[a.n], a.stored[a.n] = at+head, len(g), st
		at += over + len(g)
	}
	if a.n == len(a.at) {
		a.sum[0], a.sum[1], a.sum[2] = CRC32C3(body, b[a.at[1]:a.at[1]+a.size[1]], b[a.at[2]:a.at[2]+a.size[2]])
	} else {
		for j := range a.n {
			a.sum[j] = CRC32C(b[a.at[j] : a.at[j]+a.size[j]])
		}
	}
	return body, stored, a.sum[0], nil
}

// checkRecords checks the framed records of one chunk; the chunk holding
// the last record also checks what follows it. When out is not nil, the
// chunk's packages go into it. h's known vouches for records, and its
// visit is shown them.
func (s *Schema) checkRecords(b []byte, out *sink, c chunk, count int, h hooks) chunkResult {
	known, visit := h.known, h.visitor(c.first)
	var res chunkResult
	m, head := len(s.Framing.Marker), s.Framing.Head()
	var kr RawPackage // what known is shown: see vouch
	// The name and version of the record before, for the order check.
	var prevName, prevVersion []byte
	if c.prev >= 0 {
		if f, err := s.ReadFrame(b[c.prev:], c.prev, c.first-1); err == nil {
			var r RawPackage
			if CutBody(f.Body, c.prev+head, &r) == len(f.Body) {
				prevName, prevVersion = r.Name, r.Version
			}
		}
	}
	off := c.off
	i := c.first
	var ahead framesAhead
	over := s.Framing.Overhead()
	for ; i < c.last; i++ {
		if off == len(b) {
			res.errs = append(res.errs, s.countError(count, i, true))
			return res
		}
		body, stored, sum, err := ahead.next(s, b, off, i, c.last)
		if err != nil {
			res.errs = append(res.errs, err)
			return res
		}
		// asked and vouched: known's answer for this record, asked once.
		asked, vouched := false, false
		if sum == stored && out == nil {
			// The fast path: a valid record, in order, needs nothing more.
			var name, version []byte
			ok := false
			if known != nil {
				// A record that the caller vouches for is valid when its
				// strings fill the body exactly.
				var r RawPackage
				if CutBody(body, off+head, &r) == len(body) {
					asked, vouched = true, vouch(known, i, &r, &kr)
					name, version, ok = r.Name, r.Version, vouched
				}
			}
			var resolved, integrity []byte
			cut := false // the strings are ValidBody's
			if !ok {
				name, version, resolved, integrity, ok = ValidBody(body)
				cut = ok
			}
			if ok && (prevName == nil || compareNameVersion(prevName, prevVersion, name, version) < 0) {
				if visit != nil {
					if cut {
						kr = RawPackage{Name: name, Version: version, Resolved: resolved, Integrity: integrity}
						kr.SetOffsets(off + head)
					} else {
						CutBody(body, off+head, &kr)
					}
					visit(i, &kr)
				}
				prevName, prevVersion = name, version
				off += over + len(body)
				continue
			}
		}
		if sum != stored {
			res.errs = append(res.errs, CorruptRecord(ErrRecordChecksumMismatch, off+head+len(body), i, "bodyChecksum",
				fmt.Sprintf("record CRC-32C is 0x%08x, the body computes to 0x%08x", stored, sum)))
		}
		r, n, err := ParseBody(body, off+head, i)
		switch {
		case err != nil:
			res.errs = append(res.errs, CorruptRecord(ErrInvalidPackage, off+m, i, "body", "the strings do not fit the body: "+err.Error()))
		case n != len(body):
			res.errs = append(res.errs, s.bodySizeFault(off, i, len(body), n))
		default:
			if !asked && known != nil {
				asked, vouched = true, vouch(known, i, &r, &kr)
			}
			if !vouched {
				if err := CheckRaw(&r, i); err != nil {
					res.errs = append(res.errs, err)
				}
			}
			if i > 0 && prevName != nil {
				prev := RawPackage{Name: prevName, Version: prevVersion}
				if err := CheckOrder(&prev, &r, i); err != nil {
					res.errs = append(res.errs, err)
				}
			}
			if visit != nil {
				kr = r
				visit(i, &kr)
			}
			out.put(i, &r)
		}
		prevName, prevVersion = r.Name, r.Version
		off += over + len(body)
	}
	if c.last == count && off < len(b) {
		res.errs = append(res.errs, s.trailing(b, off, count))
	}
	return res
}

// encodeChecks makes the checks every encoder of version s makes before
// it writes a byte (EncodeWith, EncodePieces): the lockfile's
// (CheckEncode), the writer field's, and that the packages fit the count.
// It returns the config to write and the writer field, or the error.
func (s *Schema) encodeChecks(l *Lockfile, o EncodeOptions, trusted bool) (Config, []byte, error) {
	cfg, errs := CheckEncode(l, s.Version, s.Flags, trusted)
	var writer []byte
	if wf := s.FieldOf(KindWriter); wf != nil {
		name := l.Writer
		if name == "" {
			name = o.Writer
		}
		if name == "" {
			name = DefaultWriter
		}
		if len(name) > wf.Size {
			name = name[:wf.Size]
		}
		writer = make([]byte, wf.Size)
		copy(writer, name)
		if rule := WriterRule(writer); rule != "" {
			errs = append(errs, fmt.Errorf("writer %q: %s", name, rule))
		}
	}
	if len(errs) > 0 {
		return Config{}, nil, &EncodeError{Version: s.Version, Problems: errs}
	}
	cf := s.FieldOf(KindCount)
	if uint64(len(l.Packages)) >= 1<<(8*min(cf.Size, 7)) {
		return Config{}, nil, fmt.Errorf("cannot encode at version %d: %d packages do not fit a %d-byte count", s.Version, len(l.Packages), cf.Size)
	}
	return cfg, writer, nil
}

// encode encodes l at version s; trusted skips the check of the packages
// (see Schema.EncodeTrusted).
func (s *Schema) encode(l *Lockfile, o EncodeOptions, trusted bool) ([]byte, error) {
	cfg, writer, err := s.encodeChecks(l, o, trusted)
	if err != nil {
		return nil, err
	}
	// starts[k] is the offset of record k*chunkRecords: a large file's
	// records are written in chunks on several goroutines, each into its
	// own part of the buffer.
	size := s.HeaderSize
	starts := make([]int, 0, len(l.Packages)/chunkRecords+1)
	for i := range l.Packages {
		if i%chunkRecords == 0 {
			starts = append(starts, size)
		}
		size += s.RecordSize(&l.Packages[i])
	}
	b := make([]byte, size)
	s.putHeader(b[:s.HeaderSize], cfg, len(l.Packages), writer)
	// put writes the records of chunk k; it reports whether they filled
	// their part exactly (RecordSize and AppendRecord agree).
	put := func(k int) bool {
		lo, hi := k*chunkRecords, min((k+1)*chunkRecords, len(l.Packages))
		end := size
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		dst := b[starts[k]:starts[k]:end]
		for i := lo; i < hi; i++ {
			dst = s.AppendRecord(dst, &l.Packages[i])
		}
		return len(dst) == end-starts[k] && (len(dst) == 0 || &dst[0] == &b[starts[k]])
	}
	ok := true
	if n := min(runtime.GOMAXPROCS(0), 8, len(starts)); n < 2 || len(l.Packages) < parallelMin {
		for k := range starts {
			ok = put(k) && ok
		}
	} else {
		var next atomic.Int64
		var bad atomic.Bool
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for k := int(next.Add(1)) - 1; k < len(starts); k = int(next.Add(1)) - 1 {
					if !put(k) {
						bad.Store(true)
					}
				}
			})
		}
		wg.Wait()
		ok = !bad.Load()
	}
	if !ok {
		return nil, fmt.Errorf("cannot encode at version %d: the records do not fill the sizes computed for them", s.Version)
	}
	s.sealHeader(b)
	return b, nil
}

// DefaultWriter is the writer field of a file encoded with no writer
// given, neither in the lockfile nor in the options.
const DefaultWriter = "lockfix"
