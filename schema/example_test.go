package schema_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// strictPeers is the flag that the example's version 7 adds.
var strictPeers = schema.FlagInfo{Name: "STRICT_PEERS", Mask: 0x20}

// v7Schema describes the example's version 7: v2's header grown to 128
// bytes by 24 bytes of its own, v2's framed records, one more flag.
// (examples/v3 is a whole program built on such a version.)
func v7Schema() *schema.Schema {
	header := slices.Clone(v2.Header)
	header = append(header, schema.HeaderField{Name: "peerPolicy", Offset: 0x68, Size: 24, Kind: schema.KindFixed, Rule: "peerPolicy must be zero"})
	return &schema.Schema{
		Version:     7,
		Since:       "1.5.0",
		Description: "v2 with a 128-byte header and STRICT_PEERS",
		HeaderSize:  0x80,
		Header:      header,
		Framing:     v2.Framing,
		Defines:     append(slices.Clone(v2.Schema.Defines), strictPeers),
	}
}

// A new config version plugs in from outside the tree: describe it and
// register it, and every registry user (Sniff, Decode, Encode, the flag
// names, the bun ranges) knows it.
func ExampleRegister() {
	defer schema.Scope()() // the example's version 7 stays in the example
	schema.Register(v7Schema())
	fmt.Println("versions:", schema.Versions())
	s2, _ := schema.Lookup(2)
	fmt.Println("bun for v2 now:", s2.Bun())

	// Put the v2 conformance vector's content at version 7.
	vector, err := loadVector("v2")
	if err != nil {
		panic(err)
	}
	old, err := schema.Decode(vector)
	if err != nil {
		panic(err)
	}
	s7, _ := schema.Lookup(7)
	l := old.Clone()
	l.Config.Version = 7
	l.Config.Flags |= strictPeers.Mask
	b, err := schema.Encode(l)
	if err != nil {
		panic(err)
	}
	fmt.Printf("byte 4: %d, %d bytes of header, problems: %d\n", b[4], s7.HeaderSize, len(schema.Check(b)))

	// Round trip through the registry.
	back, err := schema.Decode(b)
	if err != nil {
		panic(err)
	}
	again, _ := schema.Encode(back)
	fmt.Println("round trip identical:", bytes.Equal(again, b), slices.Equal(back.Packages, old.Packages))
	fmt.Println("flags:", back.Config.Flags)

	// v2 cannot hold STRICT_PEERS.
	back.Config.Version = 2
	_, err = schema.Encode(back)
	fmt.Println("STRICT_PEERS at v2:", errors.Is(err, schema.ErrInvalidFeatureFlags))

	// A flipped header bit, and a byte of the new field, are caught.
	b[0x0e] ^= 1
	fmt.Println("damaged:", schema.ErrorName(schema.Check(b)[0]))
	b[0x0e] ^= 1
	b[0x70] = 1
	var ce *schema.CorruptionError
	errors.As(schema.Check(b)[0], &ce)
	fmt.Println("peerPolicy:", ce.Err, ce.Field)
	// Output:
	// versions: [0 1 2 7]
	// bun for v2 now: >= 1.4.0, < 1.5.0
	// byte 4: 7, 128 bytes of header, problems: 0
	// round trip identical: true true
	// flags: DEBUG|VERIFY_INTEGRITY|STRICT_PEERS
	// STRICT_PEERS at v2: true
	// damaged: ChecksumMismatch
	// peerPolicy: ChecksumMismatch headerChecksum
}
