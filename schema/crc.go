package schema

import (
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/minio/crc64nvme"
)

// CRC64 returns the CRC-64/NVME of b. It uses github.com/minio/crc64nvme,
// whose carry-less multiply kernels make large inputs (the package array)
// several times faster than a table.
func CRC64(b []byte) uint64 { return crc64nvme.Checksum(b) }

// CRC64Update continues a CRC-64/NVME computation.
func CRC64Update(crc uint64, b []byte) uint64 { return crc64nvme.Update(crc, b) }

// castagnoli is made at the first CRC-32C of a long input, not as the
// program starts: with the CRC32 instruction, hash/crc32 builds tables for
// long inputs then, 0.3 ms of a command's start that one reading only
// short record bodies (shortCRC32C) need not wait for.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// CRC32C returns the CRC-32C (Castagnoli) of b.
func CRC32C(b []byte) uint32 {
	if x, ok := shortCRC32C(b); ok {
		return x
	}
	return crc32.Checksum(b, castagnoli())
}

// CRC32CTable returns the CRC-32C byte table, for a caller that walks it
// (recovery's search for a flipped bit); it is made on first use.
func CRC32CTable() *crc32.Table { return castagnoli() }

// polyNVME is the reflected CRC-64/NVME polynomial.
const polyNVME = 0x9a6c9329ac4bc9b5

// slicing16 are slicing-by-16 tables for CRC-64/NVME; slicing16[0] is
// the plain byte table, and slicing16[k] advances a byte by k more zero
// bytes.
var slicing16 = func() (t [16][256]uint64) {
	for i := range 256 {
		crc := uint64(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ polyNVME
			} else {
				crc >>= 1
			}
		}
		t[0][i] = crc
	}
	for i := range 256 {
		for k := 1; k < 16; k++ {
			t[k][i] = t[k-1][i]>>8 ^ t[0][t[k-1][i]&0xff]
		}
	}
	return t
}()

// HeaderCRC returns the CRC-64/NVME of header with the 8 checksum bytes at
// off taken as zero. Headers are small (64 or 104 bytes), below the size
// where carry-less multiply pays, so this is a slicing-by-16 loop (two
// words per step, halving the dependency chain of slicing-by-8) that masks
// the checksum field as it goes: no copy, no allocation.
func HeaderCRC(header []byte, off int) uint64 {
	t := &slicing16
	crc := ^uint64(0)
	p := header
	base := 0
	word := func(i int) uint64 {
		w := binary.LittleEndian.Uint64(p[i:])
		if b := base + i; b+8 > off && b < off+8 {
			w &= fieldMask(off, b)
		}
		return w
	}
	for len(p) >= 16 {
		a := crc ^ word(0)
		b := word(8)
		crc = t[15][a&0xff] ^ t[14][(a>>8)&0xff] ^ t[13][(a>>16)&0xff] ^ t[12][(a>>24)&0xff] ^
			t[11][(a>>32)&0xff] ^ t[10][(a>>40)&0xff] ^ t[9][(a>>48)&0xff] ^ t[8][a>>56] ^
			t[7][b&0xff] ^ t[6][(b>>8)&0xff] ^ t[5][(b>>16)&0xff] ^ t[4][(b>>24)&0xff] ^
			t[3][(b>>32)&0xff] ^ t[2][(b>>40)&0xff] ^ t[1][(b>>48)&0xff] ^ t[0][b>>56]
		p = p[16:]
		base += 16
	}
	if len(p) >= 8 {
		a := crc ^ word(0)
		crc = t[7][a&0xff] ^ t[6][(a>>8)&0xff] ^ t[5][(a>>16)&0xff] ^ t[4][(a>>24)&0xff] ^
			t[3][(a>>32)&0xff] ^ t[2][(a>>40)&0xff] ^ t[1][(a>>48)&0xff] ^ t[0][a>>56]
		p = p[8:]
		base += 8
	}
	for i, v := range p {
		if pos := base + i; pos >= off && pos < off+8 {
			v = 0
		}
		crc = t[0][byte(crc)^v] ^ crc>>8
	}
	return ^crc
}

// fieldMask returns the mask that zeroes, in the little-endian word of
// the bytes base..base+7, the bytes of the 8-byte field at off. The word
// and the field overlap.
func fieldMask(off, base int) uint64 {
	if rel := off - base; rel >= 0 {
		return ^uint64(0) >> (64 - 8*rel) // keep the bytes before the field
	} else {
		return ^uint64(0) << (8 * (8 + rel)) // keep the bytes after it
	}
}
