package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/lint"
)

// benchPolicy turns on every check, so that each record meets all of
// them; the generated file keeps it (no finding), so the benchmark times
// the checks, not the printing.
func benchPolicy(b *testing.B) *lint.Checker {
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
	return c
}

// BenchmarkLintCommand runs what 'lockfix lint' does for a
// 100,000-package v2 file (read, strict check, build the model with the
// records' spans, every check on every record) against what 'lockfix
// validate' does for it, in the same run:
//
//	go test -run XXX -bench LintCommand -count 6 ./internal/cli/ | benchstat -col /op -
//
// op=paired runs the two in turn within each iteration and reports the
// ratio of their total times (lint/validate); the goal is at most 2.
func BenchmarkLintCommand(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bun.lockb")
	if err := os.WriteFile(path, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7}), 0o644); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	c := benchPolicy(b)
	e := quietEnv()
	lintOnce := func(b *testing.B) {
		r, err := e.lintFile(path, c)
		if err != nil || len(r.Findings) > 0 || r.Packages != 100_000 {
			b.Fatalf("lint: %v, %d findings (%v), %d packages", err, len(r.Findings), r.Findings[:min(len(r.Findings), 3)], r.Packages)
		}
	}
	validateOnce := func(b *testing.B) {
		if r, code := e.validateFile(path); code != 0 || !r.Valid {
			b.Fatalf("validate: %d %v", code, r.Problems)
		}
	}
	b.Run("op=paired", func(b *testing.B) {
		var validate, lnt time.Duration
		for b.Loop() {
			t0 := time.Now()
			validateOnce(b)
			t1 := time.Now()
			lintOnce(b)
			validate, lnt = validate+t1.Sub(t0), lnt+time.Since(t1)
		}
		b.ReportMetric(float64(lnt)/float64(validate), "lint/validate")
	})
	b.Run("op=validate", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			validateOnce(b)
		}
	})
	b.Run("op=lint", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			lintOnce(b)
		}
	})
}
