package schema_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// flagStrictPeers is the flag that the example's version 3 adds.
const flagStrictPeers schema.Flags = 0x20

// v3Flags are the flags the example's version 3 defines.
const v3Flags = v2.Flags | flagStrictPeers

// toV2 rewrites a v3 file as the v2 file it extends: version byte 2, the
// v3-only flag cleared, the header checksum recomputed. It reports whether
// the v3 header checksum held and which v3-only flags were set.
func toV2(b []byte) (out []byte, crcOK bool, extra schema.Flags) {
	out = bytes.Clone(b)
	if len(out) < v2.HeaderSize {
		return out, false, 0
	}
	crcOK = binary.BigEndian.Uint64(out[0x11:]) == schema.HeaderCRC(out[:v2.HeaderSize], 0x11)
	flags := schema.Flags(binary.BigEndian.Uint32(out[schema.OffFeatureFlags:]))
	extra = flags & flagStrictPeers
	out[schema.OffConfigVersion] = 2
	binary.BigEndian.PutUint32(out[schema.OffFeatureFlags:], uint32(flags&^flagStrictPeers))
	binary.BigEndian.PutUint64(out[0x11:], schema.HeaderCRC(out[:v2.HeaderSize], 0x11))
	return out, crcOK, extra
}

// v3Schema is a config version defined outside lockfix's tree: the v2
// layout with configVersion 3 and one more flag. Its codec checks the v3
// header checksum and version itself and lets v2 check the rest.
func v3Schema() *schema.Schema {
	check := func(b []byte) []error {
		if s, err := schema.Sniff(b); err != nil || s.Version != 3 {
			return []error{schema.Corrupt(schema.ErrCorruptedHeader, schema.OffConfigVersion, "configVersion", "not a v3 file")}
		}
		b2, crcOK, _ := toV2(b)
		errs := v2.Check(b2)
		if !crcOK {
			errs = append([]error{schema.Corrupt(schema.ErrChecksumMismatch, 0x11, "headerChecksum", "v3 header CRC-64 does not match")}, errs...)
		}
		return errs
	}
	s := &schema.Schema{
		Version: 3, Bun: ">= 1.5.0", HeaderSize: v2.HeaderSize, Flags: v3Flags,
		Description: "v2 layout with the STRICT_PEERS flag (example)",
		Check:       check,
		Decode: func(b []byte) (*schema.Lockfile, error) {
			if errs := check(b); len(errs) > 0 {
				return nil, errs[0]
			}
			b2, _, extra := toV2(b)
			l, err := v2.Decode(b2)
			if err != nil {
				return nil, err
			}
			l.Config.Version = 3
			l.Config.Flags |= extra
			return l, nil
		},
		Encode: func(l *schema.Lockfile) ([]byte, error) {
			if extra := l.Config.Flags &^ v3Flags; extra != 0 {
				return nil, fmt.Errorf("flags %s are not defined for version 3", extra)
			}
			l2 := l.Clone()
			l2.Config.Version = 2
			l2.Config.Flags &^= flagStrictPeers
			b, err := v2.Encode(l2)
			if err != nil {
				return nil, err
			}
			b[schema.OffConfigVersion] = 3
			binary.BigEndian.PutUint32(b[schema.OffFeatureFlags:], uint32(l.Config.Flags))
			binary.BigEndian.PutUint64(b[0x11:], schema.HeaderCRC(b[:v2.HeaderSize], 0x11))
			return b, nil
		},
		Fields: v2.Fields,
	}
	s.Up, s.Down = schema.FlagsStep(3, v2.Flags, v3Flags)
	return s
}

// A new config version plugs in from outside the tree: register it, and
// every registry user (Sniff, Decode, Encode, the steps) knows it.
func ExampleRegister() {
	schema.Register(v3Schema())
	fmt.Println("versions:", schema.Versions())

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
	l.Config.Flags |= flagStrictPeers
	b, err := schema.Encode(l)
	if err != nil {
		panic(err)
	}
	fmt.Printf("byte 4: %d, problems: %d\n", b[4], len(schema.Check(b)))

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

	// A flipped header bit is caught by the v3 codec.
	b[0x0e] ^= 1
	fmt.Println("damaged:", schema.ErrorName(schema.Check(b)[0]))
	// Output:
	// versions: [0 1 2 3]
	// byte 4: 3, problems: 0
	// round trip identical: true true
	// flags: DEBUG|VERIFY_INTEGRITY|BIT5
	// down without --allow-lossy: true
	// damaged: ChecksumMismatch
}
