package cli

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// BenchmarkMergeDriverCommand runs 'lockfix merge-driver BASE OURS
// THEIRS' on three 100,000-package v2 files (ours and theirs each change
// 100 packages of their own), the result written through the safe write
// path; the goal is under 1 s:
//
//	go test -run XXX -bench MergeDriverCommand -count 6 ./internal/cli/
func BenchmarkMergeDriverCommand(b *testing.B) {
	dir := b.TempDir()
	base := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7})
	ours, theirs := base.Clone(), base.Clone()
	for i := 0; i+500 < len(base.Packages); i += 1000 {
		ours.Packages[i].Integrity = ""
		theirs.Packages[i+500].Integrity = ""
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	for n, l := range map[string]*schema.Lockfile{"base": base, "ours": ours, "theirs": theirs} {
		enc, err := schema.Encode(l)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p(n), enc, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	oursBytes, _ := os.ReadFile(p("ours"))
	for b.Loop() {
		b.StopTimer()
		if err := os.WriteFile(p("merged"), oursBytes, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if code := runWith(io.Discard, io.Discard, "merge-driver", p("base"), p("merged"), p("theirs"), "bun.lockb"); code != 0 {
			b.Fatalf("merge-driver exited %d", code)
		}
	}
}
