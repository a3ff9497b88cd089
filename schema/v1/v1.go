// Package v1 registers config version 1, written by bun 1.3.5 up to 1.4.0:
// a 64-byte header protected by a CRC-64/NVME, followed by plain records
// (FORMAT.md sections 2.1 and 5.1).
package v1

import (
	"github.com/lockfix/lockfix/schema"
	"github.com/lockfix/lockfix/schema/internal/plain"
)

// Version is the config version this package registers.
const Version = 1

// Codec is the version 1 codec.
var Codec = plain.Codec{Version: Version, Checksummed: true}

func init() {
	s := Codec.Schema(">= 1.3.5, < 1.4.0", "64-byte header with CRC-64, plain records")
	// 0 -> 1 computes the checksum; 1 -> 0 zeroes it. Both versions define
	// the same flags, so neither direction loses data.
	s.Up, s.Down = schema.FlagsStep(Version, plain.Flags, plain.Flags)
	schema.Register(s)
}
