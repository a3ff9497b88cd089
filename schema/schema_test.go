package schema_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

func TestCRC64NVME(t *testing.T) {
	check := []byte("123456789")
	if got := schema.CRC64(check); got != 0xae8b14860a799888 {
		t.Fatalf("CRC64(123456789) = %#x, want 0xae8b14860a799888", got)
	}
	// hash/crc64 with the same (reflected) polynomial, init and xorout all
	// ones, must agree on inputs of every length around the fast paths.
	table := crc64.MakeTable(0x9a6c9329ac4bc9b5)
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	for _, n := range []int{0, 1, 7, 8, 15, 16, 63, 64, 104, 255, 256, 1000, 4096} {
		if got, want := schema.CRC64(buf[:n]), crc64.Checksum(buf[:n], table); got != want {
			t.Errorf("CRC64 of %d bytes = %#x, hash/crc64 says %#x", n, got, want)
		}
	}
	if got := schema.CRC32C(check); got != 0xe3069283 {
		t.Errorf("CRC32C(123456789) = %#x, want 0xe3069283", got)
	}
	if got := schema.CRC32C(buf); got != crc32.Checksum(buf, crc32.MakeTable(crc32.Castagnoli)) {
		t.Errorf("CRC32C disagrees with hash/crc32")
	}
}

func TestRegistryHash(t *testing.T) {
	tests := []struct {
		in, norm string
		hash     uint32
		bad      bool
	}{
		{in: "https://registry.example.org/", norm: "https://registry.example.org/", hash: 0x52e06bbe},
		{in: "HTTPS://Registry.Example.org:443/npm", norm: "https://registry.example.org/npm/"},
		{in: "http://registry.example.org:80", norm: "http://registry.example.org/"},
		{in: "http://registry.example.org:8080//", norm: "http://registry.example.org:8080/"},
		{in: "https://registry.example.org/a/b///", norm: "https://registry.example.org/a/b/"},
		{in: "ftp://registry.example.org/", bad: true},
		{in: "registry.example.org", bad: true},
		{in: "https://user:pw@registry.example.org/", bad: true},
		{in: "https://registry.example.org/?q=1", bad: true},
		{in: "https://registry.example.org/#top", bad: true},
		{in: "https:///path", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		norm, h, err := schema.RegistryHash(tt.in)
		if tt.bad {
			if err == nil || !errors.Is(err, schema.ErrBadRegistryURL) {
				t.Errorf("RegistryHash(%q) = %q, %v; want ErrBadRegistryURL", tt.in, norm, err)
			}
			continue
		}
		if err != nil || norm != tt.norm {
			t.Errorf("RegistryHash(%q) = %q, %v; want %q", tt.in, norm, err, tt.norm)
		}
		if tt.hash != 0 && h != tt.hash {
			t.Errorf("RegistryHash(%q) hash = %#x, want %#x", tt.in, h, tt.hash)
		}
	}
}

func TestPackageRegistry(t *testing.T) {
	tests := []struct{ name, version, resolved, want string }{
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/-/left-pad-1.3.0.tgz", "https://registry.example.org/"},
		{"@scope/util", "2.0.0-rc.1", "https://registry.example.org/npm/@scope/util/-/util-2.0.0-rc.1.tgz", "https://registry.example.org/npm/"},
		{"left-pad", "1.3.0", "https://git.example.org/left-pad.tgz", ""},
		{"left-pad", "1.3.0", "", ""},
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/-/left-pad-1.3.1.tgz", ""},
	}
	for _, tt := range tests {
		if got := schema.PackageRegistry(tt.name, tt.version, tt.resolved); got != tt.want {
			t.Errorf("PackageRegistry(%q, %q, %q) = %q, want %q", tt.name, tt.version, tt.resolved, got, tt.want)
		}
	}
}

func TestCheckPackage(t *testing.T) {
	sha512 := "sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=="
	long := func(n int) string { return string(slices.Repeat([]byte("a"), n)) }
	tests := []struct {
		p     schema.Package
		field string
	}{
		{schema.Package{Name: "left-pad", Version: "1.3.0"}, ""},
		{schema.Package{Name: "JSONStream", Version: "1.3.5"}, ""},
		{schema.Package{Name: "@scope/util", Version: "2.0.0-rc.1+build.01"}, ""},
		{schema.Package{Name: "a~b.c_d", Version: "0.0.0", Resolved: "http://h/x", Integrity: sha512}, ""},
		{schema.Package{Name: "sha1", Version: "1.0.0", Integrity: "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk="}, ""},
		{schema.Package{Name: "sha256", Version: "1.0.0", Integrity: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, ""},
		{schema.Package{Name: "sha384", Version: "1.0.0", Integrity: "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"}, ""},
		{schema.Package{Name: long(214), Version: "1.0.0"}, ""},
		{schema.Package{Name: "", Version: "1.0.0"}, "name"},
		{schema.Package{Name: long(215), Version: "1.0.0"}, "name"},
		{schema.Package{Name: ".hidden", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "_under", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "a b", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "@scope", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "@/x", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "@.s/x", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "a/b", Version: "1.0.0"}, "name"},
		{schema.Package{Name: "a", Version: ""}, "version"},
		{schema.Package{Name: "a", Version: "1.0"}, "version"},
		{schema.Package{Name: "a", Version: "01.0.0"}, "version"},
		{schema.Package{Name: "a", Version: "1.0.0-"}, "version"},
		{schema.Package{Name: "a", Version: "1.0.0-01"}, "version"},
		{schema.Package{Name: "a", Version: "1.0.0-a..b"}, "version"},
		{schema.Package{Name: "a", Version: "1.0.0+"}, "version"},
		{schema.Package{Name: "a", Version: "1.0.0+b_c"}, "version"},
		{schema.Package{Name: "a", Version: "v1.0.0"}, "version"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "file:../x"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://h/a b"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://h/" + long(2040)}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[::1]/a/-/a-1.0.0.tgz"}, ""},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "http://[2001:db8::1]:8080/a"}, ""},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://user@[::ffff:192.0.2.1]?x"}, ""},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[zz]/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[::1/a"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[192.0.2.1]/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[fe80::1%25eth0]/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[v1.x]/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[::1]x/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[::1]:80a/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Resolved: "https://[]/"}, "resolved"},
		{schema.Package{Name: "a", Version: "1.0.0", Integrity: "md5-abc"}, "integrity"},
		{schema.Package{Name: "a", Version: "1.0.0", Integrity: "sha512-abc"}, "integrity"},
		{schema.Package{Name: "a", Version: "1.0.0", Integrity: "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwl="}, "integrity"},
		{schema.Package{Name: "a", Version: "1.0.0", Integrity: sha512[:len(sha512)-2] + "A="}, "integrity"},
		{schema.Package{Name: "a", Version: "1.0.0", Integrity: "sha512"}, "integrity"},
	}
	for _, tt := range tests {
		field, rule := schema.CheckPackage(&tt.p)
		if field != tt.field {
			t.Errorf("CheckPackage(%q, %q, %q, %.20q) = %q (%s), want field %q", tt.p.Name, tt.p.Version, tt.p.Resolved, tt.p.Integrity, field, rule, tt.field)
		}
		if (field == "") != (rule == "") {
			t.Errorf("CheckPackage(%q): field %q with rule %q", tt.p.Name, field, rule)
		}
	}
}

func readVector(t testing.TB, v string) []byte {
	b, err := loadVector(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadVector reads a conformance vector from the shared copy when it is
// there, else from the copy kept in testdata.
func loadVector(v string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "vectors", v+".lockb"))
	if err != nil {
		b, err = os.ReadFile(filepath.Join("..", "testdata", "vectors", v+".lockb"))
	}
	return b, err
}

// mess returns a copy of b changed by f, like archive/zip's messWith.
func mess(b []byte, f func(b []byte) []byte) []byte {
	return f(slices.Clone(b))
}

// fixCRC recomputes the header checksum (v1 and v2) and, for v2, the
// package array's size and checksum, so that a test can break exactly
// one rule.
func fixCRC(b []byte) []byte {
	switch b[4] {
	case 1:
		binary.BigEndian.PutUint64(b[0x11:], schema.HeaderCRC(b[:0x40], 0x11))
	case 2:
		if len(b) >= v2.Schema.HeaderSize {
			binary.BigEndian.PutUint64(b[v2.Schema.Field("packagesSize").Offset:], uint64(len(b)-v2.Schema.HeaderSize))
			binary.BigEndian.PutUint64(b[v2.Schema.Field("packagesChecksum").Offset:], schema.CRC64(b[v2.Schema.HeaderSize:]))
			binary.BigEndian.PutUint64(b[0x11:], schema.HeaderCRC(b[:v2.Schema.HeaderSize], 0x11))
		}
	}
	return b
}

// fixRecordCRC recomputes the CRC-32C of the v2 record whose marker is at
// off.
func fixRecordCRC(b []byte, off int) {
	n := int(binary.BigEndian.Uint32(b[off+2:]))
	binary.BigEndian.PutUint32(b[off+6+n:], schema.CRC32C(b[off+6:off+6+n]))
}

// Record offsets in the vectors.
const (
	rec0V1 = 0x40 // first plain record of v0/v1
	rec0V2 = 0x68 // first framed record of v2
)

func TestCheckErrors(t *testing.T) {
	type tc struct {
		name   string
		vector string
		mess   func(b []byte) []byte
		want   error
		offset int64
		record int
	}
	set := func(off int, v byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] = v; return fixCRC(b) }
	}
	tests := []tc{
		{"bad magic", "v1", func(b []byte) []byte { b[0] = 'C'; return b }, schema.ErrCorruptedHeader, 0, -1},
		{"reserved", "v1", set(0x10, 1), schema.ErrCorruptedHeader, 0x10, -1},
		{"v0 checksum", "v0", set(0x12, 1), schema.ErrCorruptedHeader, 0x12, -1},
		{"v1 padding", "v1", set(0x30, 1), schema.ErrCorruptedHeader, 0x30, -1},
		{"v2 padding", "v2", set(0x60, 1), schema.ErrCorruptedHeader, 0x60, -1},
		{"v2 headerSize", "v2", set(0x1e, 0x40), schema.ErrCorruptedHeader, 0x1d, -1},
		{"v2 writer", "v2", set(0x2f, 0x07), schema.ErrCorruptedHeader, 0x2f, -1},
		{"unsupported", "v1", set(4, 9), schema.ErrUnsupportedVersion, 4, -1},
		{"truncated header", "v1", func(b []byte) []byte { return b[:0x30] }, schema.ErrTruncated, 0x30, -1},
		{"truncated v2 header", "v2", func(b []byte) []byte { return b[:0x50] }, schema.ErrTruncated, 0x50, -1},
		{"truncated record", "v1", func(b []byte) []byte { return b[:len(b)-3] }, schema.ErrTruncated, -1, 3},
		{"truncated v2 record", "v2", func(b []byte) []byte { return fixCRC(b[:len(b)-3]) }, schema.ErrTruncated, -1, 3},
		{"v1 header bit", "v1", func(b []byte) []byte { b[6] ^= 0x10; return b }, schema.ErrChecksumMismatch, 0x11, -1},
		{"v2 header bit", "v2", func(b []byte) []byte { b[0x0d] ^= 0x01; return b }, schema.ErrChecksumMismatch, 0x11, -1},
		{"v2 array bit", "v2", func(b []byte) []byte {
			b[rec0V2+8] ^= 0x20
			fixRecordCRC(b, rec0V2)
			b = fixCRC(b)
			b[0x27] ^= 1 // the array checksum no longer matches
			return fixCRCHeaderOnly(b)
		}, schema.ErrChecksumMismatch, 0x27, -1},
		{"record crc", "v2", func(b []byte) []byte { b[rec0V2+8] ^= 0x01; return fixCRC(b) }, schema.ErrRecordChecksumMismatch, -1, 0},
		{"registry zero", "v1", func(b []byte) []byte { clear(b[5:9]); return fixCRC(b) }, schema.ErrInvalidRegistryHash, 5, -1},
		{"terminal mode", "v2", set(0x0d, 0xff), schema.ErrInvalidTerminalMode, 0x0d, -1},
		{"rows", "v0", set(0x0e, 0), schema.ErrInvalidTerminalSize, 0x0e, -1},
		{"cols", "v1", set(0x0f, 0), schema.ErrInvalidTerminalSize, 0x0f, -1},
		{"v1 offline", "v1", set(0x0c, 0x13), schema.ErrInvalidFeatureFlags, 9, -1},
		{"v2 bit 5", "v2", set(0x0c, 0x29), schema.ErrInvalidFeatureFlags, 9, -1},
		{"count too big", "v1", set(0x1c, 5), schema.ErrPackageCountMismatch, 0x19, -1},
		{"count too small", "v1", set(0x1c, 3), schema.ErrPackageCountMismatch, 0x19, -1},
		{"v2 count too small", "v2", set(0x1c, 3), schema.ErrPackageCountMismatch, 0x19, -1},
		{"v2 packagesSize", "v2", func(b []byte) []byte {
			b = fixCRC(b)
			b[0x26]++
			return fixCRCHeaderOnly(b)
		}, schema.ErrPackageCountMismatch, 0x1f, -1},
		{"bad name", "v1", func(b []byte) []byte { b[rec0V1+2] = ' '; return b }, schema.ErrInvalidPackage, -1, 0},
		{"bad version", "v0", func(b []byte) []byte { b[rec0V1+2+11+2] = 'x'; return b }, schema.ErrInvalidPackage, -1, 0},
		{"bad marker", "v2", func(b []byte) []byte { b[rec0V2] = 'Q'; return fixCRC(b) }, schema.ErrInvalidPackage, rec0V2, 0},
		{"bad bodySize", "v2", func(b []byte) []byte { binary.BigEndian.PutUint32(b[rec0V2+2:], 5000); return fixCRC(b) }, schema.ErrInvalidPackage, rec0V2 + 2, 0},
		{"unsorted", "v1", func(b []byte) []byte { return swapFirstTwo(b, false) }, schema.ErrUnsortedPackages, -1, 1},
		{"unsorted v2", "v2", func(b []byte) []byte { return swapFirstTwo(b, true) }, schema.ErrUnsortedPackages, -1, 1},
		{"duplicate", "v1", func(b []byte) []byte { return duplicateFirst(b, false) }, schema.ErrDuplicatePackage, -1, 1},
		{"duplicate v2", "v2", func(b []byte) []byte { return duplicateFirst(b, true) }, schema.ErrDuplicatePackage, -1, 1},
		{"trailing", "v1", func(b []byte) []byte { return append(b, 0xde, 0xad) }, schema.ErrTrailingData, -1, -1},
		{"trailing v2", "v2", func(b []byte) []byte { return fixCRC(append(b, 0xde, 0xad)) }, schema.ErrTrailingData, -1, -1},
	}
	seen := map[error]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mess(readVector(t, tt.vector), tt.mess)
			errs := schema.Check(b)
			var found error
			for _, e := range errs {
				if errors.Is(e, tt.want) {
					found = e
					break
				}
			}
			if found == nil {
				t.Fatalf("Check found %v, want %v", errs, tt.want)
			}
			seen[tt.want] = true
			var ce *schema.CorruptionError
			if !errors.As(found, &ce) {
				t.Fatalf("%v is not a *CorruptionError", found)
			}
			if tt.offset >= 0 && ce.Offset != tt.offset {
				t.Errorf("offset = %#x, want %#x (%v)", ce.Offset, tt.offset, found)
			}
			if ce.Record != tt.record && !(tt.record == -1 && tt.want == schema.ErrTrailingData) {
				t.Errorf("record = %d, want %d (%v)", ce.Record, tt.record, found)
			}
			if schema.ErrorName(found) != tt.want.Error() {
				t.Errorf("ErrorName = %q, want %q", schema.ErrorName(found), tt.want)
			}
			if _, err := schema.Decode(b); err == nil {
				t.Errorf("Decode accepted a file Check rejects")
			}
		})
	}
	for _, s := range schema.Sentinels {
		if !seen[s] {
			t.Errorf("no test case for %v", s)
		}
	}
}

// fixCRCHeaderOnly recomputes only the header checksum.
func fixCRCHeaderOnly(b []byte) []byte {
	size := 0x40
	if b[4] == 2 {
		size = v2.Schema.HeaderSize
	}
	binary.BigEndian.PutUint64(b[0x11:], schema.HeaderCRC(b[:size], 0x11))
	return b
}

// records returns the packages of a valid vector.
func records(t *testing.T, b []byte) *schema.Lockfile {
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// encodeRaw encodes packages without sorting or checking them, by
// encoding a sorted file and splicing the records.
func encodeRaw(b []byte, pkgs []schema.Package, framed bool) []byte {
	hs := 0x40
	if framed {
		hs = v2.Schema.HeaderSize
	}
	out := slices.Clone(b[:hs])
	for i := range pkgs {
		if framed {
			out = v2.Schema.AppendRecord(out, &pkgs[i])
		} else {
			out = schema.AppendBody(out, &pkgs[i])
		}
	}
	binary.BigEndian.PutUint32(out[0x19:], uint32(len(pkgs)))
	return fixCRC(out)
}

func swapFirstTwo(b []byte, framed bool) []byte {
	l, _ := schema.Decode(b)
	p := l.Packages
	p[0], p[1] = p[1], p[0]
	return encodeRaw(b, p, framed)
}

func duplicateFirst(b []byte, framed bool) []byte {
	l, _ := schema.Decode(b)
	p := append([]schema.Package{l.Packages[0]}, l.Packages...)
	return encodeRaw(b, p, framed)
}

// atVersion returns a copy of l at config version v, less the flags v
// does not define.
func atVersion(l *schema.Lockfile, v int) *schema.Lockfile {
	s, _ := schema.Lookup(v)
	out := l.Clone()
	out.Config.Version = v
	out.Config.Flags &= s.Flags
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, v := range []string{"v0", "v1", "v2"} {
		b := readVector(t, v)
		l := records(t, b)
		for _, to := range schema.Versions() {
			l2 := atVersion(l, to)
			enc, err := schema.Encode(l2)
			if err != nil {
				t.Fatalf("%s at v%d: %v", v, to, err)
			}
			l3, err := schema.Decode(enc)
			if err != nil {
				t.Fatalf("%s at v%d: decode: %v", v, to, err)
			}
			if !slices.Equal(l3.Packages, l.Packages) || l3.Config != l2.Config {
				t.Errorf("%s at v%d: round trip changed the content", v, to)
			}
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	l := records(t, readVector(t, "v2"))
	bad := []func(l *schema.Lockfile){
		func(l *schema.Lockfile) { l.Config.Version = 1 }, // VERIFY_INTEGRITY at v1
		func(l *schema.Lockfile) { l.Config.RegistryHash = 0 },
		func(l *schema.Lockfile) { l.Config.TerminalMode = 3 },
		func(l *schema.Lockfile) { l.Config.Rows = 0 },
		func(l *schema.Lockfile) { l.Packages[0], l.Packages[1] = l.Packages[1], l.Packages[0] },
		func(l *schema.Lockfile) { l.Packages[1] = l.Packages[0] },
		func(l *schema.Lockfile) { l.Packages[0].Name = "" },
		func(l *schema.Lockfile) { l.Writer = "bad\x01writer" },
	}
	for i, f := range bad {
		l2 := l.Clone()
		f(l2)
		if _, err := schema.Encode(l2); err == nil {
			t.Errorf("case %d: Encode accepted an invalid lockfile", i)
		}
	}
}

// TestEncodeTrusted requires the bytes of Encode from EncodeTrusted for
// valid lockfiles at every version, and bytes that fail Check for a
// lockfile whose packages are not valid after all (what migrate's
// verification then refuses).
func TestEncodeTrusted(t *testing.T) {
	l := records(t, readVector(t, "v2"))
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		l2 := atVersion(l, v)
		want, err := s.Encode(l2)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		got, err := s.EncodeTrusted(l2, schema.EncodeOptions{})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("v%d: EncodeTrusted differs from Encode (%v)", v, err)
		}
		l2.Packages[0], l2.Packages[1] = l2.Packages[1], l2.Packages[0]
		l2.Packages[0].Name = "Bad Name"
		got, err = s.EncodeTrusted(l2, schema.EncodeOptions{})
		if err != nil {
			t.Fatalf("v%d: EncodeTrusted checked the packages: %v", v, err)
		}
		if errs := s.Check(got); len(errs) == 0 {
			t.Errorf("v%d: invalid packages encoded trusted pass Check", v)
		}
	}
}

func TestRegistry(t *testing.T) {
	if got := schema.Versions(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("Versions() = %v", got)
	}
	for _, v := range schema.Versions() {
		s, ok := schema.Lookup(v)
		if !ok || s.Version != v {
			t.Fatalf("Lookup(%d) = %v, %v", v, s, ok)
		}
		if v > 0 && (s.Up == nil || s.Down == nil || s.Up.From != v-1 || s.Down.To != v-1) {
			t.Errorf("version %d lacks its steps", v)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Register of a duplicate version did not panic")
			}
		}()
		s, _ := schema.Lookup(1)
		schema.Register(s)
	}()
	for _, since := range []string{"latest", "1.4", "v1.4.0", "1.4.0 "} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "since") {
					t.Errorf("Register with Since %q: panic %v, want one naming since", since, r)
				}
			}()
			s, _ := schema.Lookup(2)
			c := *s
			c.Version, c.Since = 200, since
			schema.Register(&c) // refused before it is registered
		}()
	}
	if _, err := schema.Sniff([]byte("BUN1\x07")); !errors.Is(err, schema.ErrUnsupportedVersion) {
		t.Errorf("Sniff of version 7 = %v", err)
	}
	if _, err := schema.Sniff([]byte("BU")); !errors.Is(err, schema.ErrTruncated) {
		t.Errorf("Sniff of 2 bytes = %v", err)
	}
}

func TestDownStepRefusesLossy(t *testing.T) {
	l := records(t, readVector(t, "v2"))
	s, _ := schema.Lookup(2)
	if _, _, err := s.Down.Apply(l, schema.StepOptions{}); !errors.Is(err, schema.ErrLossy) {
		t.Fatalf("2->1 with VERIFY_INTEGRITY = %v, want ErrLossy", err)
	}
	out, dropped, err := s.Down.Apply(l, schema.StepOptions{AllowLossy: true})
	if err != nil || len(dropped) != 1 || out.Config.Flags != schema.FlagDebug || out.Writer != "" {
		t.Fatalf("lossy 2->1 = %+v, %v, %v", out, dropped, err)
	}
}
