//go:build !purego

package schema

import "golang.org/x/sys/cpu"

// haveCRC32 reports whether the processor has SSE 4.2's CRC32
// instruction, which crc32c3 uses.
var haveCRC32 = cpu.X86.HasSSE42

// crc32c3 returns the CRC-32C of a, b and c, computed side by side
// (crc32c3_amd64.s).
//
//go:noescape
func crc32c3(a, b, c []byte) (x, y, z uint32)

// threeLanes is the length from which hash/crc32 computes a CRC-32C in
// three lanes (3 times its 168-byte block); below it, it runs the CRC32
// instruction over one lane, as crc32c3 does.
const threeLanes = 3 * 168

// shortCRC32C returns the CRC-32C of b when b is shorter than threeLanes
// and the processor has the CRC32 instruction: as fast as hash/crc32,
// without the tables hash/crc32 builds at its first use (0.3 ms).
func shortCRC32C(b []byte) (uint32, bool) {
	if !haveCRC32 || len(b) >= threeLanes {
		return 0, false
	}
	x, _, _ := crc32c3(b, nil, nil)
	return x, true
}

// CRC32C3 returns the CRC-32C of each of a, b and c. Where the processor
// has the CRC32 instruction the three are computed side by side, which
// takes about as long as one of them alone.
func CRC32C3(a, b, c []byte) (x, y, z uint32) {
	if haveCRC32 {
		return crc32c3(a, b, c)
	}
	return CRC32C(a), CRC32C(b), CRC32C(c)
}
