//go:build !amd64 || purego

package schema

// CRC32C3 returns the CRC-32C of each of a, b and c.
func CRC32C3(a, b, c []byte) (x, y, z uint32) {
	return CRC32C(a), CRC32C(b), CRC32C(c)
}
