package lint_test

import (
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/lint"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

var sinkFindings []lint.Finding

// BenchmarkLint100k times the checks alone (Decode and Lint, and the two
// in one pass as LintBytes, op=bytes) on a 100,000-package v2 file with
// every check on and nothing to find:
//
//	go test -run XXX -bench Lint100k ./lint/
func BenchmarkLint100k(b *testing.B) {
	buf := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7})
	s, _ := schema.Sniff(buf)
	mv := 2
	c, err := lint.Compile(lint.Policy{
		RequireHTTPS: true, AllowedHosts: []string{"registry.example.org", "npm.example.com"},
		AllowedSchemes: []string{"https"}, Integrity: []string{"sha1", "sha256", "sha512"},
		Registry: lockgen.Registry, RequireFlags: []string{"DEBUG"}, ForbidFlags: []string{"OFFLINE"},
		MinVersion: &mv, Deny: []string{"left-pad@<1.3.0", "@evil/pkg", "flat@>=5.0.0 <5.0.3"},
	})
	if err != nil {
		b.Fatal(err)
	}
	l, spans, err := lint.Decode(buf, s, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=decode", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			if _, _, err := lint.Decode(buf, s, 100_000); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=lint", func(b *testing.B) {
		for b.Loop() {
			sinkFindings = lint.Lint(l, spans, c)
			if len(sinkFindings) > 0 {
				b.Fatal(sinkFindings[0])
			}
		}
	})
	b.Run("op=bytes", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			fs, n, err := lint.LintBytes(buf, s, 100_000, c)
			if err != nil || len(fs) > 0 || n != 100_000 {
				b.Fatal(err, fs, n)
			}
			sinkFindings = fs
		}
	})
	b.Run("op=lint-1cpu", func(b *testing.B) {
		for b.Loop() {
			sinkFindings = lint.Lint(l, spans[:0], c)
		}
	})
}
