package lint_test

import (
	"slices"
	"strings"
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

// FuzzDecode checks that Decode and LintBytes never panic, whatever the
// bytes and the count, and that Decode agrees with the strict decoder on
// valid files.
func FuzzDecode(f *testing.F) {
	c, err := lint.Compile(lint.Policy{RequireHTTPS: true, AllowedHosts: []string{"registry.example.org"},
		RequireIntegrity: true, Deny: []string{"left-pad"}})
	if err != nil {
		f.Fatal(err)
	}
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
			lint.LintBytes(b, s, count%100000, c)
		}
		checkDecode(t, b)
	})
}

// TestLintBytesAgrees wants LintBytes to find what Lint of Decode finds,
// and both what each record's checks find on their own (the URL checks
// keep what they found for the origins of the records before), on a
// large file with findings of every record rule and the header. One
// policy's registry is the file's (LintBytes checks the records in
// place), the other's is not (it decodes them all first).
func TestLintBytesAgrees(t *testing.T) {
	mv := 3
	policy := lint.Policy{RequireHTTPS: true, AllowedHosts: []string{"registry.example.org"},
		AllowedSchemes: []string{"https"}, RequireIntegrity: true, Integrity: []string{"sha512"},
		ForbidFlags: []string{"DEBUG"}, MinVersion: &mv}
	// Origins that share a prefix with the main registry's, or differ
	// from it only in what the host checks ignore, in runs and alone.
	origins := []string{"http://registry.example.org", "https://REGISTRY.example.org", "https://registry.example.org:443",
		"https://registry.example.org.evil.example.com", "https://user@registry.example.org", "http://registry.example.org:80",
		"https://registry.example.org:8443", "https://evil.example.com"}
	for v := 0; v <= 2; v++ {
		gen := lockgen.Lockfile(lockgen.Options{Version: v, Packages: 30_000, Seed: 9})
		for i := range gen.Packages {
			p := &gen.Packages[i]
			if rest, ok := strings.CutPrefix(p.Resolved, strings.TrimSuffix(lockgen.Registry, "/")); ok && i%7 < 3 {
				p.Resolved = origins[(i/7)%len(origins)] + rest
			}
		}
		policy.Deny = []string{gen.Packages[123].Name + "@*", gen.Packages[20_000].Name + "@<=" + gen.Packages[20_000].Version}
		b, err := schema.Encode(gen)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := schema.Sniff(b)
		l, spans, err := lint.Decode(b, s, 30_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, registry := range []string{lockgen.Registry, "https://mirror.example.net/"} {
			policy.Registry = registry
			c, err := lint.Compile(policy)
			if err != nil {
				t.Fatal(err)
			}
			want := lint.Lint(l, spans, c)
			got, n, err := lint.LintBytes(b, s, 30_000, c)
			if err != nil || n != 30_000 {
				t.Fatalf("v%d: %d packages, %v", v, n, err)
			}
			if len(want) < 1000 || !slices.Equal(got, want) {
				t.Fatalf("v%d, registry %s: LintBytes found %d, Lint %d (they differ)", v, registry, len(got), len(want))
			}
			if registry != lockgen.Registry {
				continue // the records alone are the same
			}
			alone := want[:0:0]
			for _, f := range want {
				if f.Record == schema.NoRecord {
					alone = append(alone, f)
				}
			}
			rules := map[string]bool{}
			for i := range l.Packages {
				one := &schema.Lockfile{Config: l.Config, Packages: l.Packages[i : i+1]}
				for _, f := range lint.Lint(one, spans[i:i+1], c) {
					if f.Record != schema.NoRecord {
						f.Record = i
						alone = append(alone, f)
						rules[f.Rule] = true
					}
				}
			}
			if !slices.Equal(want, alone) {
				t.Fatalf("v%d, registry %s: Lint found %d, the records alone %d (they differ)", v, registry, len(want), len(alone))
			}
			for _, r := range []string{lint.RuleHTTPS, lint.RuleAllowedHost, lint.RuleAllowedScheme, lint.RuleIntegrityMissing,
				lint.RuleIntegrityAlgorithm, lint.RuleDeniedPackage} {
				if !rules[r] {
					t.Errorf("v%d: no %s finding", v, r)
				}
			}
		}
	}
}
