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
