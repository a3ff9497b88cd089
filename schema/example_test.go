package schema_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// strictPeers is the flag that the example's version 3 adds.
var strictPeers = schema.FlagInfo{Name: "STRICT_PEERS", Mask: 0x20}

// v3Schema describes the example's version 3: v2's header grown to 128
// bytes by 24 bytes of its own, v2's framed records, one more flag.
func v3Schema() *schema.Schema {
	header := slices.Clone(v2.Header)
	header = append(header, schema.HeaderField{Name: "peerPolicy", Offset: 0x68, Size: 24, Kind: schema.KindFixed, Rule: "peerPolicy must be zero"})
	s := &schema.Schema{
		Version:     3,
		Since:       "1.5.0",
		Description: "v2 with a 128-byte header and STRICT_PEERS",
		HeaderSize:  0x80,
		Header:      header,
		Framing:     v2.Framing,
		Defines:     append(slices.Clone(v2.Schema.Defines), strictPeers),
	}
	s.Up, s.Down = schema.FlagsStep(3, v2.Schema.Defines, s.Defines)
	return s
}

// A new config version plugs in from outside the tree: describe it and
// register it, and every registry user (Sniff, Decode, Encode, the
// steps, the flag names, the bun ranges) knows it.
func ExampleRegister() {
	defer schema.Scope()() // the example's version 3 stays in the example
	schema.Register(v3Schema())
	fmt.Println("versions:", schema.Versions())
	s2, _ := schema.Lookup(2)
	fmt.Println("bun for v2 now:", s2.Bun())

	// Take the v2 conformance vector up to v3 with the registered step.
	vector, err := loadVector("v2")
	if err != nil {
		panic(err)
	}
	old, err := schema.Decode(vector)
	if err != nil {
		panic(err)
	}
	s3, _ := schema.Lookup(3)
	l, _, err := s3.Up.Apply(old, schema.StepOptions{})
	if err != nil {
		panic(err)
	}
	l.Config.Flags |= strictPeers.Mask
	b, err := schema.Encode(l)
	if err != nil {
		panic(err)
	}
	fmt.Printf("byte 4: %d, %d bytes of header, problems: %d\n", b[4], s3.HeaderSize, len(schema.Check(b)))

	// Round trip through the registry.
	back, err := schema.Decode(b)
	if err != nil {
		panic(err)
	}
	again, _ := schema.Encode(back)
	fmt.Println("round trip identical:", bytes.Equal(again, b), slices.Equal(back.Packages, old.Packages))
	fmt.Println("flags:", back.Config.Flags)

	// Down again: STRICT_PEERS cannot be held by v2.
	_, _, err = s3.Down.Apply(back, schema.StepOptions{})
	fmt.Println("down without --allow-lossy:", err != nil)

	// A flipped header bit, and a byte of the new field, are caught.
	b[0x0e] ^= 1
	fmt.Println("damaged:", schema.ErrorName(schema.Check(b)[0]))
	b[0x0e] ^= 1
	b[0x70] = 1
	var ce *schema.CorruptionError
	errors.As(schema.Check(b)[0], &ce)
	fmt.Println("peerPolicy:", ce.Err, ce.Field)
	// Output:
	// versions: [0 1 2 3]
	// bun for v2 now: >= 1.4.0, < 1.5.0
	// byte 4: 3, 128 bytes of header, problems: 0
	// round trip identical: true true
	// flags: DEBUG|VERIFY_INTEGRITY|STRICT_PEERS
	// down without --allow-lossy: true
	// damaged: ChecksumMismatch
	// peerPolicy: ChecksumMismatch headerChecksum
}
