package schema_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// seedCorpus adds the vectors, generated files and damaged copies.
func seedCorpus(f *testing.F) {
	for _, v := range []string{"v0", "v1", "v2"} {
		b := readVector(f, v)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:17])
		d := bytes.Clone(b)
		d[0x1c]++
		f.Add(d)
		d = bytes.Clone(b)
		d[len(d)-40] ^= 0xff
		f.Add(d)
	}
	for v := 0; v <= 2; v++ {
		f.Add(lockgen.Bytes(lockgen.Options{Version: v, Packages: 20, Seed: uint64(v)}))
	}
	f.Add([]byte{})
	f.Add([]byte("BUN1"))
	f.Add([]byte("BUN1\x02"))
}

// FuzzDecode checks that no input makes a decoder panic, that Decode and
// Check agree, and that a valid file re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		errs := schema.Check(b)
		l, err := schema.Decode(b)
		if (err == nil) != (len(errs) == 0) {
			t.Fatalf("Decode error %v but Check found %v", err, errs)
		}
		if s, serr := schema.Sniff(b); serr == nil {
			s.Fields(b) // must not panic on any input
			no := func(int, *schema.RawPackage) bool { return false }
			if got := s.CheckKnown(b, no); fmt.Sprint(got) != fmt.Sprint(errs) {
				t.Fatalf("CheckKnown vouching for nothing found %v, Check %v", got, errs)
			}
			if l2, got := s.DecodeInPlace(b, nil); fmt.Sprint(got) != fmt.Sprint(errs) || (l2 == nil) != (len(errs) > 0) {
				t.Fatalf("DecodeInPlace found %v, Check %v", got, errs)
			}
		}
		if err != nil {
			if schema.ErrorName(err) == "" {
				t.Fatalf("Decode error without a FORMAT.md name: %v", err)
			}
			return
		}
		enc, err := schema.Encode(l)
		if err != nil {
			t.Fatalf("a valid file does not re-encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("encode(decode(x)) != x for a valid file")
		}
	})
}

// FuzzDecodeVersion runs each version's own decoder on any bytes, whatever
// their version byte says.
func FuzzDecodeVersion(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range schema.Versions() {
			s, _ := schema.Lookup(v)
			errs := s.Check(b)
			l, err := s.Decode(b)
			if (err == nil) != (len(errs) == 0) {
				t.Fatalf("v%d: Decode error %v but Check found %v", v, err, errs)
			}
			s.Fields(b)
			if err == nil {
				enc, err := s.Encode(l)
				if err != nil || !bytes.Equal(enc, b) {
					t.Fatalf("v%d: encode(decode(x)) != x (%v)", v, err)
				}
			}
		}
	})
}

// FuzzParseBody checks the record parser, against CutBody and ValidBody,
// and the package rules on any bytes.
func FuzzParseBody(f *testing.F) {
	f.Add([]byte("\x00\x01a\x00\x051.0.0\x00\x00\x00\x00"))
	f.Add([]byte("\x00\x0bJSONStream\x00\x051.3.5\x00\x00\x00\x00"))
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := schema.ParseBody(b, 0, 0)
		var cut schema.RawPackage
		if used := schema.CutBody(b, 0, &cut); (err == nil) != (used >= 0) || err == nil && (used != n || cut.Package() != r.Package() || cut.Off != r.Off) {
			t.Fatalf("CutBody gives %d, %+v; ParseBody %d, %+v, %v", used, cut, n, r, err)
		}
		if name, version, resolved, integrity, ok := schema.ValidBody(b); ok {
			if err != nil || n != len(b) || schema.CheckRaw(&r, 0) != nil ||
				!bytes.Equal(name, r.Name) || !bytes.Equal(version, r.Version) || !bytes.Equal(resolved, r.Resolved) || !bytes.Equal(integrity, r.Integrity) {
				t.Fatalf("ValidBody accepts %q, ParseBody gives %+v, %d, %v", b, r, n, err)
			}
		}
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("ParseBody used %d of %d bytes", n, len(b))
		}
		p := r.Package()
		if schema.CheckRaw(&r, 0) == nil {
			if field, rule := schema.CheckPackage(&p); field != "" {
				t.Fatalf("CheckRaw accepts what CheckPackage refuses: %s", rule)
			}
			if got := schema.AppendBody(nil, &p); !bytes.Equal(got, b[:n]) {
				t.Fatalf("AppendBody(ParseBody(x)) != x")
			}
		}
	})
}

// FuzzRegistryHash checks that URL normalization never panics and is
// idempotent.
func FuzzRegistryHash(f *testing.F) {
	f.Add("https://registry.example.org/")
	f.Add("HTTPS://Registry.Example.org:443/npm")
	f.Add("http://[::1]:80/x//")
	f.Fuzz(func(t *testing.T, s string) {
		norm, h, err := schema.RegistryHash(s)
		if err != nil {
			return
		}
		norm2, h2, err := schema.RegistryHash(norm)
		if err != nil || norm2 != norm || h2 != h {
			t.Fatalf("normalizing %q twice: %q -> %q (%v)", s, norm, norm2, err)
		}
	})
}
