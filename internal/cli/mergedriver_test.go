package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
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

// A merge whose sides are valid but cannot be brought to one version (no
// step from 2 to the other side's 6) is the merge's problem, not a
// side's: stderr says "merge", and ours is left as it was.
func TestMergeDriverMergeProblem(t *testing.T) {
	t.Cleanup(schema.Scope())
	v6 := *v2.Schema
	v6.Version, v6.Since, v6.Description = 6, "1.9.0", "v2 under another number, with no step to it"
	v6.Up, v6.Down = nil, nil
	schema.Register(&v6)
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	oursBytes := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 20, Seed: 1})
	for n, b := range map[string][]byte{
		"base":   oursBytes,
		"ours":   oursBytes,
		"theirs": lockgen.Bytes(lockgen.Options{Version: 6, Packages: 20, Seed: 2}),
	} {
		if err := os.WriteFile(p(n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var errb strings.Builder
	if code := runWith(io.Discard, &errb, "merge-driver", p("base"), p("ours"), p("theirs"), "bun.lockb"); code != exitConflict {
		t.Fatalf("merge-driver exited %d, want %d; stderr:\n%s", code, exitConflict, errb.String())
	}
	if !strings.Contains(errb.String(), "\n  merge: convert ours: ") || strings.Contains(errb.String(), "  ours: ") {
		t.Errorf("stderr does not name the merge as the problem's place:\n%s", errb.String())
	}
	if b, _ := os.ReadFile(p("ours")); !bytes.Equal(b, oursBytes) {
		t.Error("ours was changed")
	}
}
