// Package v3 describes config version 3, a version defined outside the
// lockfix tree: v2 grown by 24 bytes of header and one feature flag.
//
//   - a 128-byte header: v2's fields (its headerSize says 128) and its
//     padding, then peerPolicy, 24 bytes that must be zero, all covered by
//     the header CRC-64;
//   - v2's framed records ("PK", bodySize, body, CRC-32C);
//   - v2's flags plus bit 5, STRICT_PEERS;
//   - written by bun 1.5.0 and later (v2's range then ends at 1.5.0);
//   - steps 2 -> 3 (the version byte only) and 3 -> 2, lossy when
//     STRICT_PEERS is set.
//
// Nothing else is needed: the registry's generic codec, recovery, inspect,
// dump, validate, pack and migrate read this description. A program that
// wants version 3 calls Register before cli.Main (cmd/lockfix-v3).
package v3

import (
	"slices"

	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// Version is the config version this package describes.
const Version = 3

// HeaderSize is the size of the version 3 header.
const HeaderSize = 0x80

// StrictPeers is the flag version 3 adds.
var StrictPeers = schema.FlagInfo{Name: "STRICT_PEERS", Mask: 0x20}

// Header is the 128-byte header's table of fields: v2's, with headerSize
// saying 128, and peerPolicy after v2's padding.
var Header = header()

func header() []schema.HeaderField {
	h := slices.Clone(v2.Header)
	i := slices.IndexFunc(h, func(f schema.HeaderField) bool { return f.Name == "headerSize" })
	h[i].Value = []byte{0x00, HeaderSize}
	h[i].Rule = "headerSize must be 128"
	return append(h, schema.HeaderField{Name: "peerPolicy", Offset: 0x68, Size: 24, Kind: schema.KindFixed,
		Rule: "peerPolicy must be zero", Note: "reserved for peer rules"})
}

// Schema is the description of version 3.
var Schema = description()

func description() *schema.Schema {
	s := &schema.Schema{
		Version:     Version,
		Since:       "1.5.0",
		Description: "v2 with a 128-byte header and STRICT_PEERS (examples/v3)",
		HeaderSize:  HeaderSize,
		Header:      Header,
		Framing:     v2.Framing,
		Defines:     append(slices.Clone(v2.Schema.Defines), StrictPeers),
	}
	s.Up, s.Down = schema.FlagsStep(Version, v2.Schema.Defines, s.Defines)
	return s
}

// Register registers version 3. A program calls it once, before
// cli.Main; it is not done in init so that one binary (the tests') can
// run lockfix both with and without version 3.
func Register() { schema.Register(Schema) }
