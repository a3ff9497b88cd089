// Package v2 registers config version 2, written by bun 1.4.0 and later: a
// 104-byte header with a CRC-64/NVME of the header, the length and CRC-64
// of the package array and the writer's name, followed by framed records
// ("PK", bodySize, body, CRC-32C of the body). See FORMAT.md sections 2.2
// and 5.2.
package v2

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
	"github.com/lockfix/lockfix/schema/internal/plain"
)

// Version is the config version this package registers.
const Version = 2

// Offsets and sizes of the 104-byte header and of a framed record.
const (
	OffHeaderChecksum   = 0x11
	OffPackageCount     = 0x19
	OffHeaderSize       = 0x1D
	OffPackagesSize     = 0x1F
	OffPackagesChecksum = 0x27
	OffWriter           = 0x2F
	WriterSize          = 16
	OffPadding          = 0x3F
	HeaderSize          = 0x68
	PaddingSize         = HeaderSize - OffPadding

	// Marker starts every framed record.
	Marker = "PK"
	// FrameOverhead is the marker, bodySize and bodyChecksum of a record.
	FrameOverhead = 2 + 4 + 4
	MinBody       = 8
	MaxBody       = 4096
)

// Flags are the flags version 2 defines.
const Flags = plain.Flags | schema.FlagFrozenLockfile | schema.FlagVerifyIntegrity | schema.FlagOffline

// DefaultWriter is written to the writer field when a lockfile has none.
// Programs set it to their name and version.
var DefaultWriter = "lockfix"

func init() {
	s := &schema.Schema{
		Version:     Version,
		Bun:         ">= 1.4.0",
		HeaderSize:  HeaderSize,
		Flags:       Flags,
		Description: "104-byte header with CRC-64s of header and array, framed records with CRC-32C",
		Decode:      Decode,
		Check:       Check,
		CheckArriving: func(b []byte, ready func(n int) int) []error {
			_, errs := parse(b, false, ready)
			return errs
		},
		Encode:        Encode,
		EncodeTrusted: func(l *schema.Lockfile) ([]byte, error) { return encode(l, true) },
		Fields:        Fields,
	}
	up, down := schema.FlagsStep(Version, plain.Flags, Flags)
	// Going down, the writer field disappears with the v2 header.
	apply := down.Apply
	down.Apply = func(l *schema.Lockfile, o schema.StepOptions) (*schema.Lockfile, []string, error) {
		out, dropped, err := apply(l, o)
		if out != nil {
			out.Writer = ""
		}
		return out, dropped, err
	}
	s.Up, s.Down = up, down
	schema.Register(s)
}

// checkHeader reports the problems of the header in magic, version,
// checksum, fields order, and whether the records can be parsed.
func checkHeader(b []byte) ([]error, bool) {
	if len(b) < HeaderSize {
		return []error{schema.Corrupt(schema.ErrTruncated, len(b), "header",
			fmt.Sprintf("the file is %d bytes, the v2 header alone is %d", len(b), HeaderSize))}, false
	}
	var errs []error
	if string(b[:4]) != schema.Magic {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, schema.OffMagic, "magic", fmt.Sprintf("magic is %q, want %q", b[:4], schema.Magic)))
	}
	if b[schema.OffConfigVersion] != Version {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, schema.OffConfigVersion, "configVersion",
			fmt.Sprintf("configVersion is %d, read as version 2", b[schema.OffConfigVersion])))
	}
	if hs := binary.BigEndian.Uint16(b[OffHeaderSize:]); hs != HeaderSize {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, OffHeaderSize, "headerSize", fmt.Sprintf("headerSize is %d, must be 104", hs)))
	}
	stored := binary.BigEndian.Uint64(b[OffHeaderChecksum:])
	span := trace.Start("checksum")
	want := schema.HeaderCRC(b[:HeaderSize], OffHeaderChecksum)
	span.End("schema/v2 header CRC-64")
	if stored != want {
		errs = append(errs, schema.Corrupt(schema.ErrChecksumMismatch, OffHeaderChecksum, "headerChecksum",
			fmt.Sprintf("header CRC-64 is 0x%016x, the header computes to 0x%016x", stored, want)))
	}
	errs = append(errs, schema.CheckConfig(schema.DecodeConfig(b[schema.OffConfigVersion:]), Flags)...)
	if rule := checkWriter(b[OffWriter : OffWriter+WriterSize]); rule != "" {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, OffWriter, "writer", rule))
	}
	if !schema.AllZero(b[OffPadding:HeaderSize]) {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, OffPadding, "padding", "header padding must be zero"))
	}
	return errs, true
}

// checkWriter requires printable ASCII, then NUL padding.
func checkWriter(w []byte) string {
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
	if !schema.AllZero(w[end:]) {
		return "writer is not NUL-padded"
	}
	return ""
}

// HeaderValid reports whether the header of b is whole and valid, without
// allocating: the fast path of a strict check.
func HeaderValid(b []byte) bool {
	if len(b) < HeaderSize || string(b[:4]) != schema.Magic || b[schema.OffConfigVersion] != Version ||
		binary.BigEndian.Uint16(b[OffHeaderSize:]) != HeaderSize {
		return false
	}
	if binary.BigEndian.Uint64(b[OffHeaderChecksum:]) != schema.HeaderCRC(b[:HeaderSize], OffHeaderChecksum) {
		return false
	}
	return schema.BlockValid(b[schema.OffConfigVersion:], Flags) &&
		checkWriter(b[OffWriter:OffWriter+WriterSize]) == "" && schema.AllZero(b[OffPadding:HeaderSize])
}

// Frame is a framed record as found in a file.
type Frame struct {
	// Off is the file offset of the marker.
	Off int
	// Body is the body bytes (aliasing the input).
	Body []byte
	// Stored is the stored CRC-32C.
	Stored uint32
}

// Size returns the bytes the record takes in the file.
func (f *Frame) Size() int { return FrameOverhead + len(f.Body) }

// ReadFrame reads the frame at b[0:], whose first byte lies at file offset
// off. It checks the marker, the size bounds and that the frame is whole,
// not the checksum.
func ReadFrame(b []byte, off, record int) (Frame, error) {
	if len(b) < 6 {
		return Frame{}, schema.CorruptRecord(schema.ErrTruncated, off, record, "marker", fmt.Sprintf("the file ends %d bytes into the record's frame", len(b)))
	}
	if b[0] != 'P' || b[1] != 'K' {
		return Frame{}, schema.CorruptRecord(schema.ErrInvalidPackage, off, record, "marker", fmt.Sprintf("marker is %q, want \"PK\"", b[:2]))
	}
	n := binary.BigEndian.Uint32(b[2:])
	if n < MinBody || n > MaxBody {
		return Frame{}, schema.CorruptRecord(schema.ErrInvalidPackage, off+2, record, "bodySize", fmt.Sprintf("bodySize is %d, want 8-4096", n))
	}
	if uint64(len(b)) < uint64(FrameOverhead)+uint64(n) {
		return Frame{}, schema.CorruptRecord(schema.ErrTruncated, off, record, "body", fmt.Sprintf("the record needs %d bytes, %d remain", FrameOverhead+int(n), len(b)))
	}
	body := b[6 : 6+n : 6+n]
	return Frame{Off: off, Body: body, Stored: binary.BigEndian.Uint32(b[6+n:])}, nil
}

// parse checks b and, with build, collects its packages. When ready is
// not nil, b is still being read: see schema.Schema.CheckArriving.
func parse(b []byte, build bool, ready func(n int) int) (*schema.Lockfile, []error) {
	if ready == nil {
		ready = func(int) int { return len(b) }
	}
	ready(min(len(b), HeaderSize))
	errs, whole := checkHeader(b)
	if !whole {
		return nil, errs
	}
	count := int(binary.BigEndian.Uint32(b[OffPackageCount:]))
	size := binary.BigEndian.Uint64(b[OffPackagesSize:])
	array := b[HeaderSize:]
	if size != uint64(len(array)) {
		errs = append(errs, schema.Corrupt(schema.ErrPackageCountMismatch, OffPackagesSize, "packagesSize",
			fmt.Sprintf("packagesSize is %d, the file holds %d bytes after the header", size, len(array))))
	}
	storedSum := binary.BigEndian.Uint64(b[OffPackagesChecksum:])
	// The array's CRC-64 runs alongside the record checks of a large file.
	var sum uint64
	sumDone := make(chan struct{})
	crc := func() {
		span := trace.Start("checksum")
		// A step at a time, as the bytes arrive.
		for lo := 0; lo < len(array); lo += crcStep {
			hi := min(lo+crcStep, len(array))
			ready(HeaderSize + hi)
			sum = schema.CRC64Update(sum, array[lo:hi])
		}
		span.End("schema/v2 packages CRC-64")
		close(sumDone)
	}
	if count >= parallelMin && runtime.GOMAXPROCS(0) > 1 {
		go crc()
	} else {
		crc()
	}
	var file string // the packages' strings are substrings of it
	if build {
		file = string(b)
	}
	results := checkAll(b, file, count, build, ready)
	<-sumDone
	if sum != storedSum {
		errs = append(errs, schema.Corrupt(schema.ErrChecksumMismatch, OffPackagesChecksum, "packagesChecksum",
			fmt.Sprintf("package array CRC-64 is 0x%016x, the array computes to 0x%016x", storedSum, sum)))
	}
	var pkgs []schema.Package
	if build {
		n := 0
		for i := range results {
			n += len(results[i].pkgs)
		}
		pkgs = make([]schema.Package, 0, n)
	}
	for i := range results {
		errs = append(errs, results[i].errs...)
		pkgs = append(pkgs, results[i].pkgs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	l := &schema.Lockfile{
		Config:   schema.DecodeConfig(b[schema.OffConfigVersion:]),
		Writer:   writerString(b[OffWriter : OffWriter+WriterSize]),
		Packages: pkgs,
	}
	return l, nil
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
	pkgs []schema.Package
}

// parallelMin is the package count from which records are checked by
// several goroutines.
const parallelMin = 8192

// chunkRecords is the number of records in a chunk of a parallel check:
// small enough that the workers end together (a chunk takes about a
// millisecond), large enough that a chunk's setup does not count.
const chunkRecords = 4096

// crcStep is how many bytes of the array the CRC-64 takes at a time from
// a file still being read.
const crcStep = 1 << 20

// checkAll checks the records, in chunks of chunkRecords on up to
// GOMAXPROCS workers for a large file. This goroutine hops from frame to
// frame (reading only markers and sizes) and hands out each chunk as soon
// as it has found where the next one starts; the workers take them in
// order, so they keep busy to the end even while another goroutine (the
// array's CRC-64) shares the processors. A frame too damaged to hop over
// ends the hopping: the chunk holding it runs to the last record, meets
// the damage and reports it, as a sequential check would.
//
// When b is still being read, the hop waits for the bytes of each frame
// it reads, and a chunk is handed out once the hop has passed its last
// record, so its bytes are in; the last chunk, which also reads what
// follows the last record, waits for the whole file.
func checkAll(b []byte, file string, count int, build bool, ready func(n int) int) []chunkResult {
	n := min(runtime.GOMAXPROCS(0), 8)
	if n < 2 || count < parallelMin {
		ready(len(b))
		return []chunkResult{checkRecords(b, file, chunk{first: 0, last: count, off: HeaderSize, prev: -1}, count, build)}
	}
	// count is the header's word: the chunks are bounded by the records
	// that b can hold (each frame takes at least 18 bytes).
	fit := (len(b) - HeaderSize) / (FrameOverhead + MinBody)
	results := make([]chunkResult, min(count, fit)/chunkRecords+1)
	type task struct {
		k int
		c chunk
	}
	tasks := make(chan task, len(results))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for t := range tasks {
				results[t.k] = checkRecords(b, file, t.c, count, build)
			}
		})
	}
	// cur is the chunk found but not yet handed out: its end is known
	// once the hop reaches the next chunk's first record.
	cur := chunk{first: 0, off: HeaderSize, prev: -1}
	off, prev := HeaderSize, -1
	have := 0 // bytes known to be in
	for i := 0; i < count; i++ {
		if i > 0 && i%chunkRecords == 0 {
			cur.last = i
			tasks <- task{k: cur.first / chunkRecords, c: cur}
			cur = chunk{first: i, off: off, prev: prev}
		}
		if len(b)-off < 6 {
			break
		}
		if off+6 > have {
			have = ready(off + 6)
		}
		if b[off] != 'P' || b[off+1] != 'K' {
			break
		}
		size := binary.BigEndian.Uint32(b[off+2:])
		if size < MinBody || size > MaxBody || uint64(len(b)-off) < uint64(FrameOverhead)+uint64(size) {
			break
		}
		prev = off
		off += FrameOverhead + int(size)
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

// checkRecords checks the records of one chunk; the chunk holding the last
// record also checks what follows it. When build is set, file is b as a
// string, and the packages' strings are its substrings.
func checkRecords(b []byte, file string, c chunk, count int, build bool) chunkResult {
	var res chunkResult
	if build {
		res.pkgs = make([]schema.Package, 0, min(c.last-c.first, (len(b)-c.off)/(FrameOverhead+schema.MinPlainRecord)))
	}
	// The name and version of the record before, for the order check.
	var prevName, prevVersion []byte
	if c.prev >= 0 {
		if f, err := ReadFrame(b[c.prev:], c.prev, c.first-1); err == nil {
			if r, n, err := schema.ParseBody(f.Body, c.prev+6, c.first-1); err == nil && n == len(f.Body) {
				prevName, prevVersion = r.Name, r.Version
			}
		}
	}
	off := c.off
	i := c.first
	for ; i < c.last; i++ {
		if off == len(b) {
			res.errs = append(res.errs, schema.Corrupt(schema.ErrPackageCountMismatch, OffPackageCount, "packageCount",
				fmt.Sprintf("packageCount is %d, the file ends after %d records", count, i)))
			return res
		}
		f, err := ReadFrame(b[off:], off, i)
		if err != nil {
			res.errs = append(res.errs, err)
			return res
		}
		sum := schema.CRC32C(f.Body)
		if sum == f.Stored && !build {
			// The fast path: a valid record, in order, needs nothing more.
			name, version, ok := schema.ValidBody(f.Body)
			if ok && (prevName == nil || schema.CompareRaw(&schema.RawPackage{Name: prevName, Version: prevVersion},
				&schema.RawPackage{Name: name, Version: version}) < 0) {
				prevName, prevVersion = name, version
				off += f.Size()
				continue
			}
		}
		if sum != f.Stored {
			res.errs = append(res.errs, schema.CorruptRecord(schema.ErrRecordChecksumMismatch, off+6+len(f.Body), i, "bodyChecksum",
				fmt.Sprintf("record CRC-32C is 0x%08x, the body computes to 0x%08x", f.Stored, sum)))
		}
		r, n, err := schema.ParseBody(f.Body, off+6, i)
		switch {
		case err != nil:
			res.errs = append(res.errs, schema.CorruptRecord(schema.ErrInvalidPackage, off+2, i, "body", "the strings do not fit the body: "+err.Error()))
		case n != len(f.Body):
			res.errs = append(res.errs, schema.CorruptRecord(schema.ErrInvalidPackage, off+2, i, "bodySize",
				fmt.Sprintf("bodySize is %d, the strings take %d", len(f.Body), n)))
		default:
			if err := schema.CheckRaw(&r, i); err != nil {
				res.errs = append(res.errs, err)
			}
			if i > 0 && prevName != nil {
				prev := schema.RawPackage{Name: prevName, Version: prevVersion}
				if err := schema.CheckOrder(&prev, &r, i); err != nil {
					res.errs = append(res.errs, err)
				}
			}
			if build {
				res.pkgs = append(res.pkgs, r.PackageIn(file))
			}
		}
		prevName, prevVersion = r.Name, r.Version
		off += f.Size()
	}
	if c.last == count && off < len(b) {
		res.errs = append(res.errs, trailing(b, off, count))
	}
	return res
}

func writerString(w []byte) string {
	for i, c := range w {
		if c == 0 {
			return string(w[:i])
		}
	}
	return string(w)
}

// trailing tells TrailingData from a packageCount that is too small.
func trailing(b []byte, off, count int) error {
	extra := 0
	for pos := off; pos < len(b); extra++ {
		f, err := ReadFrame(b[pos:], pos, count+extra)
		if err != nil || schema.CRC32C(f.Body) != f.Stored {
			return schema.Corrupt(schema.ErrTrailingData, off, "packages",
				fmt.Sprintf("%d bytes follow the last of %d records", len(b)-off, count))
		}
		pos += f.Size()
	}
	return schema.Corrupt(schema.ErrPackageCountMismatch, OffPackageCount, "packageCount",
		fmt.Sprintf("packageCount is %d, the file holds %d records", count, count+extra))
}

// Decode decodes a version 2 file strictly.
func Decode(b []byte) (*schema.Lockfile, error) {
	l, errs := parse(b, true, nil)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return l, nil
}

// Check reports every problem of a version 2 file.
func Check(b []byte) []error {
	_, errs := parse(b, false, nil)
	return errs
}

// Encode encodes l at version 2. An empty Writer is written as
// DefaultWriter.
func Encode(l *schema.Lockfile) ([]byte, error) { return encode(l, false) }

// encode is Encode; trusted skips the check of the packages (see
// schema.Schema.EncodeTrusted).
func encode(l *schema.Lockfile, trusted bool) ([]byte, error) {
	cfg, errs := schema.CheckEncode(l, Version, Flags, trusted)
	writer := l.Writer
	if writer == "" {
		writer = DefaultWriter
	}
	if len(writer) > WriterSize {
		writer = writer[:WriterSize]
	}
	var w [WriterSize]byte
	copy(w[:], writer)
	if rule := checkWriter(w[:]); rule != "" {
		errs = append(errs, fmt.Errorf("writer %q: %s", writer, rule))
	}
	if len(errs) > 0 {
		return nil, &schema.EncodeError{Version: Version, Problems: errs}
	}
	size := HeaderSize
	for i := range l.Packages {
		size += FrameOverhead + schema.BodySize(&l.Packages[i])
	}
	b := make([]byte, HeaderSize, size)
	copy(b, schema.Magic)
	schema.PutConfig(b[schema.OffConfigVersion:], cfg)
	binary.BigEndian.PutUint32(b[OffPackageCount:], uint32(len(l.Packages)))
	binary.BigEndian.PutUint16(b[OffHeaderSize:], HeaderSize)
	copy(b[OffWriter:], w[:])
	for i := range l.Packages {
		b = AppendRecord(b, &l.Packages[i])
	}
	binary.BigEndian.PutUint64(b[OffPackagesSize:], uint64(len(b)-HeaderSize))
	binary.BigEndian.PutUint64(b[OffPackagesChecksum:], schema.CRC64(b[HeaderSize:]))
	binary.BigEndian.PutUint64(b[OffHeaderChecksum:], schema.HeaderCRC(b[:HeaderSize], OffHeaderChecksum))
	return b, nil
}

// AppendRecord appends p as a framed record. The caller checks p first;
// every valid package fits MaxBody.
func AppendRecord(dst []byte, p *schema.Package) []byte {
	dst = append(dst, Marker...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(schema.BodySize(p)))
	start := len(dst)
	dst = schema.AppendBody(dst, p)
	return binary.BigEndian.AppendUint32(dst, schema.CRC32C(dst[start:]))
}

// Fields returns the header fields of b for dump --hex.
func Fields(b []byte) []schema.Field {
	fs := schema.PrefixFields(b, Flags)
	if len(b) < HeaderSize {
		return fs
	}
	stored := binary.BigEndian.Uint64(b[OffHeaderChecksum:])
	hc := schema.Field{Offset: OffHeaderChecksum, Size: 8, Name: "headerChecksum", Value: fmt.Sprintf("0x%016x", stored)}
	if want := schema.HeaderCRC(b[:HeaderSize], OffHeaderChecksum); want != stored {
		hc.Err = schema.Corrupt(schema.ErrChecksumMismatch, OffHeaderChecksum, "headerChecksum", fmt.Sprintf("computed 0x%016x", want))
	}
	hs := binary.BigEndian.Uint16(b[OffHeaderSize:])
	hsf := schema.Field{Offset: OffHeaderSize, Size: 2, Name: "headerSize", Value: fmt.Sprint(hs)}
	if hs != HeaderSize {
		hsf.Err = schema.Corrupt(schema.ErrCorruptedHeader, OffHeaderSize, "headerSize", "must be 104")
	}
	size := binary.BigEndian.Uint64(b[OffPackagesSize:])
	psf := schema.Field{Offset: OffPackagesSize, Size: 8, Name: "packagesSize", Value: fmt.Sprint(size)}
	if size != uint64(len(b)-HeaderSize) {
		psf.Err = schema.Corrupt(schema.ErrPackageCountMismatch, OffPackagesSize, "packagesSize", fmt.Sprintf("the file holds %d bytes after the header", len(b)-HeaderSize))
	}
	sum := binary.BigEndian.Uint64(b[OffPackagesChecksum:])
	pcf := schema.Field{Offset: OffPackagesChecksum, Size: 8, Name: "packagesChecksum", Value: fmt.Sprintf("0x%016x", sum)}
	if want := schema.CRC64(b[HeaderSize:]); want != sum {
		pcf.Err = schema.Corrupt(schema.ErrChecksumMismatch, OffPackagesChecksum, "packagesChecksum", fmt.Sprintf("computed 0x%016x", want))
	}
	wf := schema.Field{Offset: OffWriter, Size: WriterSize, Name: "writer", Value: fmt.Sprintf("%q", writerString(b[OffWriter:OffWriter+WriterSize]))}
	if rule := checkWriter(b[OffWriter : OffWriter+WriterSize]); rule != "" {
		wf.Err = schema.Corrupt(schema.ErrCorruptedHeader, OffWriter, "writer", rule)
	}
	pad := schema.Field{Offset: OffPadding, Size: PaddingSize, Name: "padding", Value: "zero"}
	if !schema.AllZero(b[OffPadding:HeaderSize]) {
		pad.Value = "non-zero"
		pad.Err = schema.Corrupt(schema.ErrCorruptedHeader, OffPadding, "padding", "header padding must be zero")
	}
	return append(fs, hc,
		schema.Field{Offset: OffPackageCount, Size: 4, Name: "packageCount", Value: fmt.Sprint(binary.BigEndian.Uint32(b[OffPackageCount:]))},
		hsf, psf, pcf, wf, pad)
}
