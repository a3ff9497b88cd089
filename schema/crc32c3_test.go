package schema_test

import (
	"hash/crc32"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

// crc32c is the standard library's CRC-32C, the definition CRC32C3 is
// held to.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// pattern returns n bytes of a pattern that repeats only every 256.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	return b
}

// TestCRC32C3 holds CRC32C3 to the standard library on every mix of
// lengths around the word, from empty to a few words, each slice starting
// at every alignment.
func TestCRC32C3(t *testing.T) {
	buf := pattern(128)
	for la := range 27 {
		for lb := range 27 {
			for _, lc := range []int{0, 1, 7, 8, 9, 16, 26} {
				a, b, c := buf[la%8:la%8+la], buf[40+lb%5:40+lb%5+lb], buf[90+lc%3:90+lc%3+lc]
				x, y, z := schema.CRC32C3(a, b, c)
				if x != crc32c(a) || y != crc32c(b) || z != crc32c(c) {
					t.Fatalf("lengths %d, %d, %d: got %08x %08x %08x, want %08x %08x %08x",
						la, lb, lc, x, y, z, crc32c(a), crc32c(b), crc32c(c))
				}
			}
		}
	}
}

// TestCRC32C holds CRC32C to the standard library at every length up to
// past its three-lane length, where it hands over to hash/crc32, at every
// alignment of a word.
func TestCRC32C(t *testing.T) {
	buf := pattern(1200)
	for n := range 1100 {
		for off := range 8 {
			b := buf[off : off+n]
			if got, want := schema.CRC32C(b), crc32c(b); got != want {
				t.Fatalf("length %d at %d: got %08x, want %08x", n, off, got, want)
			}
		}
	}
}

// FuzzCRC32C3 holds CRC32C3 to the standard library on any three inputs.
func FuzzCRC32C3(f *testing.F) {
	f.Add([]byte("a package body"), []byte(""), []byte("left-pad 1.3.0"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		x, y, z := schema.CRC32C3(a, b, c)
		if x != crc32c(a) || y != crc32c(b) || z != crc32c(c) {
			t.Fatalf("got %08x %08x %08x, want %08x %08x %08x", x, y, z, crc32c(a), crc32c(b), crc32c(c))
		}
		if got := schema.CRC32C(a); got != crc32c(a) {
			t.Fatalf("CRC32C: got %08x, want %08x", got, crc32c(a))
		}
	})
}
