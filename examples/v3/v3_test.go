package v3_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lockfix/lockfix/recovery"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
	v2 "github.com/lockfix/lockfix/schema/v2"

	v3 "example.org/lockfix-v3"
)

// register registers version 3 for one test.
func register(t testing.TB) {
	t.Cleanup(schema.Scope())
	v3.Register()
}

// file returns the tree's v2 conformance vector taken up to version 3
// with STRICT_PEERS set.
func file(t testing.TB) []byte {
	t.Helper()
	vector, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "v2.lockb"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := schema.Decode(vector)
	if err != nil {
		t.Fatal(err)
	}
	up, _, err := v3.Schema.Up.Apply(l, schema.StepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up.Config.Flags |= v3.StrictPeers.Mask
	b, err := schema.Encode(up)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDescription(t *testing.T) {
	register(t)
	if got := schema.Versions(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("Versions() = %v", got)
	}
	s2, _ := schema.Lookup(2)
	if got := s2.Bun(); got != ">= 1.4.0, < 1.5.0" {
		t.Errorf("v2's range = %q", got)
	}
	if got := v3.Schema.Bun(); got != ">= 1.5.0" {
		t.Errorf("v3's range = %q", got)
	}
	// v2's table is v3's first part, unchanged but for headerSize; v2's
	// own table is left alone.
	if len(v3.Header) != len(v2.Header)+1 {
		t.Fatalf("v3 has %d fields, v2 %d", len(v3.Header), len(v2.Header))
	}
	for i, f := range v2.Header {
		g := v3.Header[i]
		if f.Name == "headerSize" {
			if !bytes.Equal(f.Value, []byte{0, 0x68}) || !bytes.Equal(g.Value, []byte{0, 0x80}) {
				t.Errorf("headerSize: v2 %x, v3 %x", f.Value, g.Value)
			}
			continue
		}
		if f.Name != g.Name || f.Offset != g.Offset || f.Size != g.Size || f.Kind != g.Kind {
			t.Errorf("field %d: v3 %+v, v2 %+v", i, g, f)
		}
	}
	if f := v3.Schema.Field("peerPolicy"); f == nil || f.Offset != 0x68 || f.End() != v3.HeaderSize {
		t.Errorf("peerPolicy = %+v", f)
	}
	if v3.Schema.Flags != s2.Flags|v3.StrictPeers.Mask {
		t.Errorf("flags %s", v3.Schema.Flags)
	}
}

// A v3 file round-trips, and version 2 cannot hold STRICT_PEERS.
func TestRoundTrip(t *testing.T) {
	register(t)
	b := file(t)
	if len(b) < v3.HeaderSize || b[schema.OffConfigVersion] != v3.Version {
		t.Fatalf("encoded %d bytes, version byte %d", len(b), b[schema.OffConfigVersion])
	}
	if errs := schema.Check(b); errs != nil {
		t.Fatalf("Check: %v", errs)
	}
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := schema.Encode(l)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-encode: %v, identical %v", err, bytes.Equal(again, b))
	}
	if _, _, err := v3.Schema.Down.Apply(l, schema.StepOptions{}); err == nil {
		t.Errorf("3 -> 2 with STRICT_PEERS: no error")
	}
	down, dropped, err := v3.Schema.Down.Apply(l, schema.StepOptions{AllowLossy: true})
	if err != nil || !slices.Equal(dropped, []string{"flag STRICT_PEERS"}) || down.Config.Version != 2 {
		t.Errorf("3 -> 2 allowed: %v, dropped %v", err, dropped)
	}
}

// Every single-bit flip of the 128-byte header is found by the strict
// check and repaired exactly, with no --yes, from v3's description.
func TestEveryHeaderBitFlipRepaired(t *testing.T) {
	register(t)
	b := file(t)
	for bit := range v3.HeaderSize * 8 {
		d := bytes.Clone(b)
		d[bit/8] ^= 1 << (bit % 8)
		if schema.Check(d) == nil {
			t.Errorf("bit %d (byte 0x%02x): not found", bit, bit/8)
			continue
		}
		r := recovery.Recover(d, recovery.Options{})
		if r.Status != recovery.StatusRepaired || !bytes.Equal(r.Output, b) {
			t.Errorf("bit %d (byte 0x%02x): %s (v%d), exact %v: %s", bit, bit/8, r.Status, r.Version, bytes.Equal(r.Output, b), r.Reason)
		}
	}
}

// The generic codec and recovery never panic on v3 input; what decodes
// encodes back to the same bytes.
func FuzzV3(f *testing.F) {
	register(f)
	b := file(f)
	f.Add(b)
	f.Add(b[:v3.HeaderSize])
	d := bytes.Clone(b)
	d[0x70] = 1
	f.Add(d)
	f.Fuzz(func(t *testing.T, b []byte) {
		errs := schema.Check(b)
		l, err := schema.Decode(b)
		if (err == nil) != (errs == nil) {
			t.Fatalf("Decode %v, Check %v", err, errs)
		}
		if err == nil {
			again, err := schema.Encode(l)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encode: %v", err)
			}
		}
		recovery.Recover(b, recovery.Options{Mode: recovery.Yes})
	})
}
