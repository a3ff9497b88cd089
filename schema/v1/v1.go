// Package v1 registers config version 1, written by bun 1.3.5 up to 1.4.0:
// a 64-byte header protected by a CRC-64/NVME, followed by plain records
// (docs/format.md sections 2.1 and 5.1).
package v1

import "github.com/lockfix/lockfix/schema"

// Version is the config version this package registers.
const Version = 1

// Schema is the description of version 1.
var Schema = &schema.Schema{
	Version:     Version,
	Since:       "1.3.5",
	Description: "64-byte header with CRC-64, plain records",
	HeaderSize:  0x40,
	Header: append(schema.Prefix(),
		schema.HeaderField{Name: "checksum", Offset: 0x11, Size: 8, Kind: schema.KindHeaderChecksum, Note: "CRC-64 of the header"},
		schema.HeaderField{Name: "packageCount", Offset: 0x19, Size: 4, Kind: schema.KindCount},
		schema.HeaderField{Name: "padding", Offset: 0x1D, Size: 35, Kind: schema.KindFixed, Rule: "header padding must be zero"},
	),
	Defines: []schema.FlagInfo{schema.Debug, schema.DisableIsolatedLinker},
}

// v0Defines are the flags of version 0, the same as version 1's.
var v0Defines = []schema.FlagInfo{schema.Debug, schema.DisableIsolatedLinker}

func init() {
	// 0 -> 1 computes the checksum; 1 -> 0 zeroes it. Both versions define
	// the same flags, so neither direction loses data.
	Schema.Up, Schema.Down = schema.FlagsStep(Version, v0Defines, Schema.Defines)
	schema.Register(Schema)
}
