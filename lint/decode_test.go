package lint_test

import (
	"slices"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/lint"
	"github.com/lockfix/lockfix/schema"
)

// checkDecode wants lint.Decode of a valid file to give the strict
// decoder's packages and config, and spans that tile the package array.
func checkDecode(t *testing.T, b []byte) {
	s, err := schema.Sniff(b)
	if err != nil || len(s.Check(b)) > 0 {
		return
	}
	want, err := s.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, spans, err := lint.Decode(b, s, len(want.Packages))
	if err != nil {
		t.Fatalf("v%d: %v", s.Version, err)
	}
	if got.Config != want.Config || !slices.Equal(got.Packages, want.Packages) {
		t.Fatalf("v%d: Decode differs from the strict decoder", s.Version)
	}
	end := s.HeaderSize
	for _, sp := range spans {
		if sp.Offset != end {
			t.Fatalf("v%d: span at %d, want %d", s.Version, sp.Offset, end)
		}
		end += sp.Length
	}
	if end != len(b) {
		t.Fatalf("v%d: spans end at %d, the file at %d", s.Version, end, len(b))
	}
}

func TestDecode(t *testing.T) {
	for v := 0; v <= 2; v++ {
		for _, n := range []int{0, 1, 50, 20_000} {
			checkDecode(t, lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: uint64(n)}))
		}
	}
}

// FuzzDecode checks that Decode never panics, whatever the bytes and the
// count, and agrees with the strict decoder on valid files.
func FuzzDecode(f *testing.F) {
	for v := 0; v <= 2; v++ {
		b := lockgen.Bytes(lockgen.Options{Version: v, Packages: 5, Seed: 1})
		f.Add(b, 5)
		f.Add(b[:len(b)-7], 5)
		f.Add(b, -3)
	}
	f.Fuzz(func(t *testing.T, b []byte, count int) {
		for _, v := range schema.Versions() {
			s, _ := schema.Lookup(v)
			lint.Decode(b, s, count%100000)
		}
		checkDecode(t, b)
	})
}

// TestLintBytesAgrees wants LintBytes to find what Lint of Decode finds,
// on a large file with findings of every record rule and the header.
func TestLintBytesAgrees(t *testing.T) {
	mv := 3
	c, err := lint.Compile(lint.Policy{RequireHTTPS: true, AllowedHosts: []string{"registry.example.org"},
		RequireIntegrity: true, Integrity: []string{"sha512"}, Registry: "https://mirror.example.net/",
		ForbidFlags: []string{"DEBUG"}, MinVersion: &mv, Deny: []string{"left-pad0@*"}})
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v <= 2; v++ {
		b := lockgen.Bytes(lockgen.Options{Version: v, Packages: 30_000, Seed: 9})
		s, _ := schema.Sniff(b)
		l, spans, err := lint.Decode(b, s, 30_000)
		if err != nil {
			t.Fatal(err)
		}
		want := lint.Lint(l, spans, c)
		got, n, err := lint.LintBytes(b, s, 30_000, c)
		if err != nil || n != 30_000 {
			t.Fatalf("v%d: %d packages, %v", v, n, err)
		}
		if len(want) < 1000 || !slices.Equal(got, want) {
			t.Fatalf("v%d: LintBytes found %d, Lint %d (they differ)", v, len(got), len(want))
		}
	}
}
