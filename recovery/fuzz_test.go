package recovery

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// FuzzRecover: for any bytes, Recover never panics, never modifies its
// input, and whatever it claims to have repaired validates, passes a
// second pass clean, and keeps only packages whose bytes were in the
// input, or one bit away from a body in the input whose stored CRC-32C
// vouches for the corrected bytes (docs/recover.md: a record with one
// flipped bit is corrected from its CRC-32C).
func FuzzRecover(f *testing.F) {
	for _, v := range []string{"v0", "v1", "v2"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "vectors", v+".lockb"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		c := bytes.Clone(b)
		c[schema.OffTerminalMode] ^= 0x40
		f.Add(c)
		f.Add(b[:len(b)-7])
		c = bytes.Clone(b)
		clear(c[:20])
		f.Add(c)
		// One flipped bit in the body of the first record: a v2 record
		// is corrected from its CRC-32C.
		c = bytes.Clone(b)
		c[0x68+12] ^= 0x04
		f.Add(c)
	}
	for v := 0; v <= 2; v++ {
		b := lockgen.Bytes(lockgen.Options{Version: v, Packages: 12, Seed: 3})
		c := bytes.Clone(b)
		copy(c[len(c)/2:], "garbage in the middle of the array")
		f.Add(c)
	}
	f.Add([]byte("BUN1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		for _, mode := range []Mode{Default, Yes} {
			r := Recover(b, Options{Mode: mode})
			if !bytes.Equal(b, in) {
				t.Fatal("Recover modified its input")
			}
			var out []byte
			switch r.Status {
			case StatusRepaired:
				out = r.Output
				if mode == Default && (r.LostCount() > 0 || len(r.Guessed) > 0) {
					t.Fatalf("default mode repaired with losses or guesses")
				}
			case StatusRefused:
				out = r.Plan
				if mode == Yes {
					t.Fatal("--yes refused")
				}
			case StatusClean:
				if errs := schema.Check(b); len(errs) > 0 {
					t.Fatalf("clean, but %v", errs[0])
				}
				continue
			case StatusUnrepairable:
				if r.Output != nil || r.Plan != nil {
					t.Fatal("unrepairable with output")
				}
				continue
			}
			if errs := schema.Check(out); len(errs) > 0 {
				t.Fatalf("%s output does not validate: %v", r.Status, errs[0])
			}
			if again := Recover(out, Options{}); again.Status != StatusClean {
				t.Fatalf("second pass: %s", again.Status)
			}
			l, err := schema.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			for i := range l.Packages {
				p := &l.Packages[i]
				if body := schema.AppendBody(nil, p); !bytes.Contains(b, body) && !correctedFrame(b, body) {
					t.Fatalf("the package %s@%s is not in the input", p.Name, p.Version)
				}
			}
		}
	})
}

// correctedFrame reports whether body lies in b one flipped bit away,
// followed by the CRC-32C of body: a framed record that the single-bit
// correction repaired.
func correctedFrame(b, body []byte) bool {
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], schema.CRC32C(body))
	for i := 0; i+len(body)+4 <= len(b); i++ {
		if !bytes.Equal(b[i+len(body):i+len(body)+4], crc[:]) {
			continue
		}
		diff := 0
		for j := range body {
			diff += bits.OnesCount8(b[i+j] ^ body[j])
			if diff > 1 {
				break
			}
		}
		if diff == 1 {
			return true
		}
	}
	return false
}

// FuzzRecoverPeers: for any file and any two peers (damaged, healthy or
// not lockfiles at all), NewPeer and Recover never panic, and whatever
// is repaired validates and passes a second pass clean.
func FuzzRecoverPeers(f *testing.F) {
	for v := 0; v <= 2; v++ {
		b := lockgen.Bytes(lockgen.Options{Version: v, Packages: 12, Seed: 3})
		f.Add(b[:len(b)-30], b, b[:200])
		c := bytes.Clone(b)
		copy(c[len(c)/2:], "garbage in the middle of the array")
		f.Add(c, b, c)
		h := bytes.Clone(b)
		clear(h[:0x40])
		f.Add(h, c, b[:len(b)-9])
	}
	f.Add([]byte("BUN1"), []byte{}, []byte("PK"))
	f.Fuzz(func(t *testing.T, b, p1, p2 []byte) {
		peers := []*Peer{NewPeer("p1", p1), NewPeer("p2", p2)}
		for _, mode := range []Mode{Default, Yes} {
			r := Recover(b, Options{Mode: mode, Peers: peers})
			out := r.Output
			if r.Status == StatusRefused {
				out = r.Plan
			}
			if out == nil {
				continue
			}
			if errs := schema.Check(out); len(errs) > 0 {
				t.Fatalf("%s output does not validate: %v", r.Status, errs[0])
			}
			if again := Recover(out, Options{}); again.Status != StatusClean {
				t.Fatalf("second pass: %s", again.Status)
			}
		}
	})
}
