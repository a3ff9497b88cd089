package schema

import (
	"encoding/binary"
	"fmt"
)

// PrefixFields returns the fields of the common prefix (magic and the
// config block) of b for a version defining the flags in defined. Fields
// that b is too short to hold are left out.
func PrefixFields(b []byte, defined Flags) []Field {
	var fs []Field
	if len(b) >= 4 {
		f := Field{Offset: OffMagic, Size: 4, Name: "magic", Value: fmt.Sprintf("%q", b[:4])}
		if string(b[:4]) != Magic {
			f.Err = Corrupt(ErrCorruptedHeader, OffMagic, "magic", fmt.Sprintf("magic is %q, want %q", b[:4], Magic))
		}
		fs = append(fs, f)
	}
	if len(b) < PrefixSize {
		return fs
	}
	c := DecodeConfig(b[OffConfigVersion:])
	problems := CheckConfig(c, defined)
	errAt := func(off int) error {
		for _, p := range problems {
			var ce *CorruptionError
			if AsCorruption(p, &ce) && int(ce.Offset) == off {
				return p
			}
		}
		return nil
	}
	rh := fmt.Sprintf("0x%08x", c.RegistryHash)
	fs = append(fs,
		Field{OffConfigVersion, 1, "configVersion", fmt.Sprint(c.Version), nil},
		Field{OffRegistryHash, 4, "registryHash", rh, errAt(OffRegistryHash)},
		Field{OffFeatureFlags, 4, "featureFlags", fmt.Sprintf("0x%08x %s", uint32(c.Flags), c.Flags), errAt(OffFeatureFlags)},
		Field{OffTerminalMode, 1, "terminalMode", c.TerminalMode.String(), errAt(OffTerminalMode)},
		Field{OffRows, 1, "rows", fmt.Sprint(c.Rows), errAt(OffRows)},
		Field{OffCols, 1, "cols", fmt.Sprint(c.Cols), errAt(OffCols)},
		Field{OffReserved, 1, "reserved", fmt.Sprint(c.Reserved), errAt(OffReserved)},
	)
	return fs
}

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
