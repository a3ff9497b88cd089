package schema

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/minio/crc64nvme"
)

func TestHeaderCRCMatchesLibrary(t *testing.T) {
	buf := make([]byte, 130)
	for i := range buf {
		buf[i] = byte(i*31 + 7)
	}
	for _, n := range []int{25, 64, 100, 104, 130} {
		for _, off := range []int{0, 3, 8, 0x11, n - 8} {
			h := bytes.Clone(buf[:n])
			clear(h[off : off+8])
			want := crc64nvme.Checksum(h)
			if got := HeaderCRC(buf[:n], off); got != want {
				t.Errorf("HeaderCRC(%d bytes, field at %d) = %#x, want %#x", n, off, got, want)
			}
		}
	}
}

func TestPlainASCII(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 11; pos++ {
			s := []byte("https://abc")
			s[pos] = byte(c)
			want := true
			for _, x := range s {
				if x <= ' ' || x >= 0x7f {
					want = false
				}
			}
			if got := plainASCII(s); got != want {
				t.Fatalf("plainASCII(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

func TestCheckSemver(t *testing.T) {
	good := []string{"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92",
		"1.0.0-x-y-z.--", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0+21AF26D3---117B344092BD", "1.0.0-rc.1+build.01"}
	bad := []string{"", "1", "1.2", "1.2.3.4", "01.1.1", "1.01.1", "1.1.01", "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-a..b",
		"1.2.3-a.", "1.2.3+a+b", "1.2.3+a_b", "v1.2.3", "1.2.3 ", "-1.2.3", "1.2.3-a+", "1.2.3x", "1..3", "00.1.1", "1.2.3."}
	for _, v := range good {
		if f := semverFault([]byte(v)); f != okay {
			t.Errorf("semverFault(%q) = %s, want valid", v, explain(1, []byte(v), f))
		}
	}
	for _, v := range bad {
		if semverFault([]byte(v)) == okay {
			t.Errorf("semverFault(%q) accepted an invalid version", v)
		}
	}
}

func TestBase64Chars(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 11; pos++ {
			s := []byte("ABCxyz09+/Q")
			s[pos] = byte(c)
			want := b64Char[c] != 0xff
			if got := base64Chars(s); got != want {
				t.Fatalf("base64Chars(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

func TestIntegrityRule(t *testing.T) {
	for c, want := range map[string]fault{
		"": okay, "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=": okay, "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwl=": intCanonical,
		"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=": okay, "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU": intLength,
		"sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb":                         okay,
		"sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLl=":                         intByte,
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w==": okay,
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+x==": intCanonical,
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=A": intPadding,
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm-w==": intByte,
		"md5-abc": intAlgorithm, "sha512": intForm,
		"sha999-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w==": intAlgorithm} {
		if got := integrityFault([]byte(c)); got != want {
			t.Errorf("integrityFault(%q) = %d (%s), want %d", c, got, explain(3, []byte(c), got), want)
		}
	}
}

func TestResolvedRule(t *testing.T) {
	for u, want := range map[string]fault{
		"": okay, "https://registry.example.org/a/-/a-1.0.0.tgz": okay, "HTTPS://u:p@Host/x": okay,
		"http://[::1]:8080/x": okay, "https://[2001:db8::1]/a": okay,
		"https://[zz]/": urlBadIP, "https://[::1/": urlBadIP, "https://[1.2.3.4]/": urlBadIP, "https://[::1]x/": urlBadIP,
		"https://registry.example.org": okay, "https://:80/": urlNoHost, "https:///x": urlNoHost, "http://a@/x": urlNoHost,
		"https://exam ple.org/": urlControl, "http://h\x7f/": urlControl, "https\x1a//h/": urlScheme, "ftp://h/": urlScheme,
		"https://h\xff/": urlUTF8, "https://h\u00e9/": okay,
		"https://abcdefg/@x": okay, "https://abcdefgh@/x": urlNoHost, "https://u@abcdefghij/": okay,
		"https://abcdefghijklmno#/": okay, "https://a?b@c/": okay, "https://abcdefgh:@/": urlNoHost,
		"https://abcdefghijklmnop@:1/": urlNoHost, "https://x@[zz]/": urlBadIP,
		"https://[::1]/abcdefgh": okay, "https://[::1]:80/abcdefgh": okay} {
		if got := resolvedFault([]byte(u)); got != want {
			t.Errorf("resolvedFault(%q) = %d (%s), want %d", u, got, explain(2, []byte(u), got), want)
		}
	}
}

// semverRe is the regular expression of semver.org for Semantic
// Versioning 2.0.0: an oracle of its own for the version rule.
var semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// FuzzPackageRules holds the version rule to semver.org's own regular
// expression and checks that every rule's fault is worded without a
// panic, and the word at a time tests of the base64 alphabet and plain
// ASCII with their byte at a time definitions.
func FuzzPackageRules(f *testing.F) {
	for _, s := range []string{"", "https://registry.example.org/a/-/a-1.0.0.tgz", "HTTPS://u:p@Host/x", "https\x1a//h/",
		"http://a@b@c?x", "https://registry.example.org", "https://:80/", "https://exam ple.org/", "http://h\x7f/",
		"https://abcdefgh@ijklmnop/q", "https://[zz]/", "1.2.3-rc.1", "1.2.3-01", "01.2.3", "@scope/name", "@/x", "JSONStream",
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := semverFault(s) == okay, semverRe.Match(s); got != want {
			t.Errorf("semverFault(%q) okay = %v, semver.org's expression says %v", s, got, want)
		}
		for i := range 4 {
			if f := ruleFault(i, s); f != okay && explain(i, s, f) == "" {
				t.Errorf("field %d %q: fault %d has no words", i, s, f)
			}
		}
		want := true
		for _, c := range s {
			want = want && b64Char[c] != 0xff
		}
		if got := base64Chars(s); got != want {
			t.Errorf("base64Chars(%q) = %v, want %v", s, got, want)
		}
		want = true
		for _, c := range s {
			want = want && c > ' ' && c < 0x7f
		}
		if got := plainASCII(s); got != want {
			t.Errorf("plainASCII(%q) = %v, want %v", s, got, want)
		}
		start, end := hostSpan(s)
		if ws, we := hostSpanByBytes(s); start != ws || end != we {
			t.Errorf("hostSpan(%q) = %d, %d; a byte at a time %d, %d", s, start, end, ws, we)
		}
		// The order of two names cut from s, by its first word and by
		// bytes.Compare.
		for _, cut := range []int{len(s) / 2, len(s) / 3, 8} {
			if cut > len(s) {
				continue
			}
			a, b := s[:cut], s[cut:]
			if got, want := compareNameVersion(a, nil, b, nil), bytes.Compare(a, b); got != want {
				t.Errorf("compareNameVersion(%q, %q) = %d, bytes.Compare says %d", a, b, got, want)
			}
		}
	})
}

// hostSpanByBytes is hostSpan read a byte at a time, for
// FuzzPackageRules to hold hostSpan's words to.
func hostSpanByBytes(rest []byte) (start, end int) {
	end = len(rest)
	for i, c := range rest {
		if c == '/' || c == '?' || c == '#' {
			return start, i
		}
		if c == '@' {
			start = i + 1
		}
	}
	return start, end
}
