// Package plain implements the shared layout of config versions 0 and 1:
// a 64-byte header (FORMAT.md section 2.1) followed by plain records
// (section 5.1). Version 1 checksums the header with CRC-64; version 0
// keeps the checksum field zero.
package plain

import (
	"encoding/binary"
	"fmt"

	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// Offsets and sizes of the 64-byte header.
const (
	OffChecksum     = 0x11
	OffPackageCount = 0x19
	OffPadding      = 0x1D
	HeaderSize      = 0x40
	PaddingSize     = HeaderSize - OffPadding
)

// Flags are the flags versions 0 and 1 define.
const Flags = schema.FlagDebug | schema.FlagDisableIsolatedLinker

// Codec is the codec of one plain version.
type Codec struct {
	Version int
	// Checksummed is true when the header carries a CRC-64 (v1).
	Checksummed bool
}

// CheckHeader reports the problems of the 64-byte header in magic, version,
// checksum, fields order. It returns the problems and whether the records
// can be parsed (the header is whole).
func (c Codec) CheckHeader(b []byte) ([]error, bool) {
	if len(b) < HeaderSize {
		errs := []error{schema.Corrupt(schema.ErrTruncated, len(b), "header",
			fmt.Sprintf("the file is %d bytes, the v%d header alone is %d", len(b), c.Version, HeaderSize))}
		return errs, false
	}
	var errs []error
	if string(b[:4]) != schema.Magic {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, schema.OffMagic, "magic", fmt.Sprintf("magic is %q, want %q", b[:4], schema.Magic)))
	}
	if int(b[schema.OffConfigVersion]) != c.Version {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, schema.OffConfigVersion, "configVersion",
			fmt.Sprintf("configVersion is %d, read as version %d", b[schema.OffConfigVersion], c.Version)))
	}
	stored := binary.BigEndian.Uint64(b[OffChecksum:])
	if c.Checksummed {
		span := trace.Start("checksum")
		want := schema.HeaderCRC(b[:HeaderSize], OffChecksum)
		if trace.Enabled() {
			span.End(fmt.Sprintf("schema/v%d header CRC-64", c.Version))
		}
		if stored != want {
			errs = append(errs, schema.Corrupt(schema.ErrChecksumMismatch, OffChecksum, "checksum",
				fmt.Sprintf("header CRC-64 is 0x%016x, the header computes to 0x%016x", stored, want)))
		}
	} else if stored != 0 {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, OffChecksum, "checksum",
			fmt.Sprintf("a v0 checksum field must be zero, it is 0x%016x", stored)))
	}
	errs = append(errs, schema.CheckConfig(schema.DecodeConfig(b[schema.OffConfigVersion:]), Flags)...)
	if !schema.AllZero(b[OffPadding:HeaderSize]) {
		errs = append(errs, schema.Corrupt(schema.ErrCorruptedHeader, OffPadding+firstNonZero(b[OffPadding:HeaderSize]), "padding", "header padding must be zero"))
	}
	return errs, true
}

func firstNonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return 0
}

// HeaderValid reports whether the header of b is whole and valid, without
// allocating. It is the fast path of a strict check.
func (c Codec) HeaderValid(b []byte) bool {
	if len(b) < HeaderSize || string(b[:4]) != schema.Magic || int(b[schema.OffConfigVersion]) != c.Version {
		return false
	}
	stored := binary.BigEndian.Uint64(b[OffChecksum:])
	if c.Checksummed {
		if stored != schema.HeaderCRC(b[:HeaderSize], OffChecksum) {
			return false
		}
	} else if stored != 0 {
		return false
	}
	return schema.BlockValid(b[schema.OffConfigVersion:], Flags) && schema.AllZero(b[OffPadding:HeaderSize])
}

// parse checks b and, when build is set, collects the packages. It returns
// every problem found.
func (c Codec) parse(b []byte, build bool) (*schema.Lockfile, []error) {
	errs, whole := c.CheckHeader(b)
	if !whole {
		return nil, errs
	}
	count := int(binary.BigEndian.Uint32(b[OffPackageCount:]))
	var pkgs []schema.Package
	var file string // the packages' strings are substrings of it
	if build {
		pkgs = make([]schema.Package, 0, min(count, (len(b)-HeaderSize)/schema.MinPlainRecord))
		file = string(b)
	}
	off := HeaderSize
	var prev schema.RawPackage
	i := 0
	for ; i < count; i++ {
		if off == len(b) {
			errs = append(errs, schema.Corrupt(schema.ErrPackageCountMismatch, OffPackageCount, "packageCount",
				fmt.Sprintf("packageCount is %d, the file ends after %d records", count, i)))
			break
		}
		r, n, err := schema.ParseBody(b[off:], off, i)
		if err != nil {
			errs = append(errs, err)
			return nil, errs
		}
		if err := schema.CheckRaw(&r, i); err != nil {
			errs = append(errs, err)
		}
		if i > 0 {
			if err := schema.CheckOrder(&prev, &r, i); err != nil {
				errs = append(errs, err)
			}
		}
		if build {
			pkgs = append(pkgs, r.PackageIn(file))
		}
		prev = r
		off += n
	}
	if i == count && off < len(b) {
		errs = append(errs, trailing(b, off, count))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	l := &schema.Lockfile{Config: schema.DecodeConfig(b[schema.OffConfigVersion:]), Packages: pkgs}
	return l, nil
}

// trailing tells TrailingData from a packageCount that is too small: when
// the bytes after the last counted record parse as whole records, the count
// is wrong.
func trailing(b []byte, off, count int) error {
	extra := 0
	for pos := off; pos < len(b); extra++ {
		r, n, err := schema.ParseBody(b[pos:], pos, count+extra)
		if err != nil || schema.CheckRaw(&r, 0) != nil {
			return schema.Corrupt(schema.ErrTrailingData, off, "packages",
				fmt.Sprintf("%d bytes follow the last of %d records", len(b)-off, count))
		}
		pos += n
	}
	return schema.Corrupt(schema.ErrPackageCountMismatch, OffPackageCount, "packageCount",
		fmt.Sprintf("packageCount is %d, the file holds %d records", count, count+extra))
}

// Decode decodes b strictly.
func (c Codec) Decode(b []byte) (*schema.Lockfile, error) {
	l, errs := c.parse(b, true)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return l, nil
}

// Check reports every problem of b.
func (c Codec) Check(b []byte) []error {
	_, errs := c.parse(b, false)
	return errs
}

// Encode encodes l at the codec's version.
func (c Codec) Encode(l *schema.Lockfile) ([]byte, error) { return c.encode(l, false) }

// EncodeTrusted is Encode without the check of the packages (see
// schema.Schema.EncodeTrusted).
func (c Codec) EncodeTrusted(l *schema.Lockfile) ([]byte, error) { return c.encode(l, true) }

func (c Codec) encode(l *schema.Lockfile, trusted bool) ([]byte, error) {
	cfg, errs := schema.CheckEncode(l, c.Version, Flags, trusted)
	if len(errs) > 0 {
		return nil, &schema.EncodeError{Version: c.Version, Problems: errs}
	}
	if uint64(len(l.Packages)) > 0xffffffff {
		return nil, fmt.Errorf("cannot encode at version %d: %d packages do not fit a 32-bit count", c.Version, len(l.Packages))
	}
	size := HeaderSize
	for i := range l.Packages {
		size += schema.BodySize(&l.Packages[i])
	}
	b := make([]byte, HeaderSize, size)
	copy(b, schema.Magic)
	schema.PutConfig(b[schema.OffConfigVersion:], cfg)
	binary.BigEndian.PutUint32(b[OffPackageCount:], uint32(len(l.Packages)))
	if c.Checksummed {
		binary.BigEndian.PutUint64(b[OffChecksum:], schema.HeaderCRC(b, OffChecksum))
	}
	for i := range l.Packages {
		b = schema.AppendBody(b, &l.Packages[i])
	}
	return b, nil
}

// Fields returns the header fields of b.
func (c Codec) Fields(b []byte) []schema.Field {
	fs := schema.PrefixFields(b, Flags)
	if len(b) < HeaderSize {
		return fs
	}
	stored := binary.BigEndian.Uint64(b[OffChecksum:])
	f := schema.Field{Offset: OffChecksum, Size: 8, Name: "checksum", Value: fmt.Sprintf("0x%016x", stored)}
	if c.Checksummed {
		f.Value += " (CRC-64 of the header)"
		if want := schema.HeaderCRC(b[:HeaderSize], OffChecksum); want != stored {
			f.Err = schema.Corrupt(schema.ErrChecksumMismatch, OffChecksum, "checksum", fmt.Sprintf("computed 0x%016x", want))
		}
	} else if stored != 0 {
		f.Err = schema.Corrupt(schema.ErrCorruptedHeader, OffChecksum, "checksum", "a v0 checksum field must be zero")
	}
	fs = append(fs, f,
		schema.Field{Offset: OffPackageCount, Size: 4, Name: "packageCount", Value: fmt.Sprint(binary.BigEndian.Uint32(b[OffPackageCount:]))})
	pad := schema.Field{Offset: OffPadding, Size: PaddingSize, Name: "padding", Value: "zero"}
	if !schema.AllZero(b[OffPadding:HeaderSize]) {
		pad.Value = "non-zero"
		pad.Err = schema.Corrupt(schema.ErrCorruptedHeader, OffPadding, "padding", "header padding must be zero")
	}
	return append(fs, pad)
}

// Schema returns the registrable schema of the codec.
func (c Codec) Schema(bun, description string) *schema.Schema {
	s := &schema.Schema{
		Version:       c.Version,
		Bun:           bun,
		HeaderSize:    HeaderSize,
		Flags:         Flags,
		Description:   description,
		Decode:        c.Decode,
		Check:         c.Check,
		Encode:        c.Encode,
		EncodeTrusted: c.EncodeTrusted,
		Fields:        c.Fields,
	}
	return s
}
