// Package v0 registers config version 0, the legacy layout written by bun
// 1.3.3 and earlier: a 64-byte header whose checksum field is all zero,
// followed by plain records (docs/format.md sections 2.1 and 5.1).
package v0

import "github.com/lockfix/lockfix/schema"

// Version is the config version this package registers.
const Version = 0

// Schema is the description of version 0.
var Schema = &schema.Schema{
	Version:     Version,
	Description: "legacy: 64-byte header, no checksum, plain records",
	HeaderSize:  0x40,
	Header: append(schema.Prefix(),
		schema.HeaderField{Name: "checksum", Offset: 0x11, Size: 8, Kind: schema.KindFixed, Rule: "a v0 checksum field must be zero"},
		schema.HeaderField{Name: "packageCount", Offset: 0x19, Size: 4, Kind: schema.KindCount},
		schema.HeaderField{Name: "padding", Offset: 0x1D, Size: 35, Kind: schema.KindFixed, Rule: "header padding must be zero"},
	),
	Defines: []schema.FlagInfo{schema.Debug, schema.DisableIsolatedLinker},
}

func init() { schema.Register(Schema) }
