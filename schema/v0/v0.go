// Package v0 registers config version 0, the legacy layout written by bun
// 1.3.3 and earlier: a 64-byte header whose checksum field is all zero,
// followed by plain records (FORMAT.md sections 2.1 and 5.1).
package v0

import (
	"github.com/lockfix/lockfix/schema"
	"github.com/lockfix/lockfix/schema/internal/plain"
)

// Version is the config version this package registers.
const Version = 0

// Codec is the version 0 codec.
var Codec = plain.Codec{Version: Version, Checksummed: false}

func init() {
	schema.Register(Codec.Schema("< 1.3.5", "legacy: 64-byte header, no checksum, plain records"))
}
