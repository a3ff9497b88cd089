package schema

import (
	"encoding/binary"
)

// AsCorruption is errors.As for *CorruptionError without the reflection.
func AsCorruption(err error, target **CorruptionError) bool {
	for err != nil {
		if ce, ok := err.(*CorruptionError); ok {
			*target = ce
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// Uint returns the big-endian unsigned integer of 1, 2, 4 or 8 bytes.
func Uint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// AllZero reports whether every byte of b is zero.
func AllZero(b []byte) bool {
	var acc uint64
	for len(b) >= 8 {
		acc |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		acc |= uint64(c)
	}
	return acc == 0
}
