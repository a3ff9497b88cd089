//go:build !amd64 || purego

package schema

// shortCRC32C leaves every CRC-32C to hash/crc32 here.
func shortCRC32C([]byte) (uint32, bool) { return 0, false }

// CRC32C3 returns the CRC-32C of each of a, b and c.
func CRC32C3(a, b, c []byte) (x, y, z uint32) {
	return CRC32C(a), CRC32C(b), CRC32C(c)
}
