// Package v2 registers config version 2, written by bun 1.4.0 and later: a
// 104-byte header with a CRC-64/NVME of the header, the length and CRC-64
// of the package array and the writer's name, followed by framed records
// ("PK", bodySize, body, CRC-32C of the body). See docs/format.md sections 2.2
// and 5.2.
package v2

import "github.com/lockfix/lockfix/schema"

// Version is the config version this package registers.
const Version = 2

// Header is the 104-byte header's table of fields.
var Header = append(schema.Prefix(),
	schema.HeaderField{Name: "headerChecksum", Offset: 0x11, Size: 8, Kind: schema.KindHeaderChecksum},
	schema.HeaderField{Name: "packageCount", Offset: 0x19, Size: 4, Kind: schema.KindCount},
	schema.HeaderField{Name: "headerSize", Offset: 0x1D, Size: 2, Kind: schema.KindFixed, Value: []byte{0x00, 0x68}, Rule: "headerSize must be 104"},
	schema.HeaderField{Name: "packagesSize", Offset: 0x1F, Size: 8, Kind: schema.KindArraySize},
	schema.HeaderField{Name: "packagesChecksum", Offset: 0x27, Size: 8, Kind: schema.KindArrayChecksum},
	schema.HeaderField{Name: "writer", Offset: 0x2F, Size: 16, Kind: schema.KindWriter},
	schema.HeaderField{Name: "padding", Offset: 0x3F, Size: 41, Kind: schema.KindFixed, Rule: "header padding must be zero"},
)

// Framing is how version 2 frames its records.
var Framing = &schema.Framing{Marker: "PK", MinBody: 8, MaxBody: 4096}

// Schema is the description of version 2.
var Schema = &schema.Schema{
	Version:     Version,
	Since:       "1.4.0",
	Description: "104-byte header with CRC-64s of header and array, framed records with CRC-32C",
	HeaderSize:  0x68,
	Header:      Header,
	Framing:     Framing,
	Defines: []schema.FlagInfo{schema.Debug, schema.DisableIsolatedLinker,
		schema.FrozenLockfile, schema.VerifyIntegrity, schema.Offline},
}

func init() {
	v1Defines := []schema.FlagInfo{schema.Debug, schema.DisableIsolatedLinker}
	up, down := schema.FlagsStep(Version, v1Defines, Schema.Defines)
	// Going up, the writer is the program migrating; going down, the
	// writer field disappears with the v2 header.
	upApply := up.Apply
	up.Apply = func(l *schema.Lockfile, o schema.StepOptions) (*schema.Lockfile, []string, error) {
		out, dropped, err := upApply(l, o)
		if out != nil {
			out.Writer = o.Writer
		}
		return out, dropped, err
	}
	apply := down.Apply
	down.Apply = func(l *schema.Lockfile, o schema.StepOptions) (*schema.Lockfile, []string, error) {
		out, dropped, err := apply(l, o)
		if out != nil {
			out.Writer = ""
		}
		return out, dropped, err
	}
	Schema.Up, Schema.Down = up, down
	schema.Register(Schema)
}
