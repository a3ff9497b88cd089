package schema

import (
	"bytes"
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
		"1.2.3-a.", "1.2.3+a+b", "1.2.3+a_b", "v1.2.3", "1.2.3 ", "-1.2.3", "1.2.3-a+", "1.2.3x", "1..3"}
	for _, v := range good {
		if rule := checkSemver([]byte(v)); rule != "" {
			t.Errorf("checkSemver(%q) = %s, want valid", v, rule)
		}
	}
	for _, v := range bad {
		if rule := checkSemver([]byte(v)); rule == "" {
			t.Errorf("checkSemver(%q) accepted an invalid version", v)
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

func TestValidIntegrityAgrees(t *testing.T) {
	cases := []string{"", "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwl=",
		"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
		"sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb", "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLl=",
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w==",
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+x==",
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=A",
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm-w==",
		"md5-abc", "sha512", "sha999-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=="}
	for _, c := range cases {
		if got, want := validIntegrity([]byte(c)), checkIntegrity([]byte(c)) == ""; got != want {
			t.Errorf("validIntegrity(%q) = %v, checkIntegrity says %v", c, got, want)
		}
	}
}

func TestValidSemverAgrees(t *testing.T) {
	for _, v := range []string{"", "1", "1.2", "1.2.3", "0.0.0", "01.2.3", "1.02.3", "1.2.03", "10.20.30", "1..3", "1.2.3.", ".1.2",
		"1.2.3-rc.1", "1.2.3+b", "1.2.3-", "1.2.3x", "00.1.1", "1.0.0-01", "1.2.3.4"} {
		if got, want := validSemver([]byte(v)), checkSemver([]byte(v)) == ""; got != want {
			t.Errorf("validSemver(%q) = %v, checkSemver says %v", v, got, want)
		}
	}
}

// FuzzFastPathsAgree checks that each fast check of a package string (a
// yes or no) agrees with the check that explains its answer, and the word
// at a time base64 test with the table.
func FuzzFastPathsAgree(f *testing.F) {
	for _, s := range []string{"", "https://registry.example.org/a/-/a-1.0.0.tgz", "HTTPS://u:p@Host/x", "https\x1a//h/",
		"http://a@b@c?x", "https://registry.example.org", "https://:80/", "https://exam ple.org/", "http://h\x7f/",
		"https://abcdefgh@ijklmnop/q", "1.2.3-rc.1", "@scope/name", "JSONStream",
		"sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := validResolved(s), checkResolved(s) == ""; got != want {
			t.Errorf("validResolved(%q) = %v, checkResolved says %v", s, got, want)
		}
		if got, want := validIntegrity(s), checkIntegrity(s) == ""; got != want {
			t.Errorf("validIntegrity(%q) = %v, checkIntegrity says %v", s, got, want)
		}
		if got, want := validSemver(s), checkSemver(s) == ""; got != want {
			t.Errorf("validSemver(%q) = %v, checkSemver says %v", s, got, want)
		}
		if got, want := validName(s), checkName(s) == ""; got != want {
			t.Errorf("validName(%q) = %v, checkName says %v", s, got, want)
		}
		want := true
		for _, c := range s {
			want = want && b64Char[c] != 0xff
		}
		if got := base64Chars(s); got != want {
			t.Errorf("base64Chars(%q) = %v, want %v", s, got, want)
		}
	})
}
