package schema

import (
	"hash/crc32"

	"github.com/minio/crc64nvme"
)

// CRC64 returns the CRC-64/NVME of b.
func CRC64(b []byte) uint64 { return crc64nvme.Checksum(b) }

// CRC64Update continues a CRC-64/NVME computation.
func CRC64Update(crc uint64, b []byte) uint64 { return crc64nvme.Update(crc, b) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC-32C (Castagnoli) of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// HeaderCRC returns the CRC-64 of header with the 8 checksum bytes at off
// taken as zero.
func HeaderCRC(header []byte, off int) uint64 {
	if len(header) > 128 {
		var zero [8]byte
		c := CRC64Update(0, header[:off])
		c = CRC64Update(c, zero[:])
		return CRC64Update(c, header[off+8:])
	}
	var buf [128]byte
	n := copy(buf[:], header)
	clear(buf[off : off+8])
	return CRC64(buf[:n])
}
