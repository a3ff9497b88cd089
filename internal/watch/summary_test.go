package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSummary: a summary keeps the config and the package count of a
// valid file, not its packages, and a bounded number of problems of a
// damaged one, with their count.
func TestSummary(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.lockb"), filepath.Join(dir, "bad.lockb")
	os.WriteFile(good, lockBytes(t, 2, 40, 1), 0o644)
	b := lockBytes(t, 2, 40, 2)
	for i := 0x68 + 20; i < len(b); i += 40 { // damage throughout the records
		b[i] ^= 0xff
	}
	os.WriteFile(bad, b, 0o644)
	w, err := New([]string{good, bad}, Options{Summary: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st := w.States()
	g := st[0]
	if !g.Valid() || g.Packages != 40 || g.Lockfile.Packages != nil || g.Lockfile.Config.Version != 2 || g.Lockfile.Config.RegistryHash == 0 {
		t.Errorf("good: valid %v, %d packages, %d kept, config %+v", g.Valid(), g.Packages, len(g.Lockfile.Packages), g.Lockfile.Config)
	}
	x := st[1]
	if x.Valid() || len(x.Problems) != MaxSummaryProblems || x.ProblemCount <= MaxSummaryProblems {
		t.Errorf("bad: valid %v, %d problems kept of %d", x.Valid(), len(x.Problems), x.ProblemCount)
	}
	// Without Summary the same files keep everything.
	full, err := New([]string{good, bad}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	fs := full.States()
	if len(fs[0].Lockfile.Packages) != 40 || fs[0].Packages != 40 || len(fs[1].Problems) != fs[1].ProblemCount || fs[1].ProblemCount != x.ProblemCount {
		t.Errorf("full: %d packages (%d), %d problems of %d", len(fs[0].Lockfile.Packages), fs[0].Packages, len(fs[1].Problems), fs[1].ProblemCount)
	}
}

// TestBackground: New reads nothing; Run reads every file first, says so,
// and then reports changes.
func TestBackground(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "bun.lockb")
	os.WriteFile(a, lockBytes(t, 1, 3, 1), 0o644)
	scanned := make(chan int, 1)
	w, ch := watching(t, Options{Background: true, Summary: true, OnScanned: func(n int, _ time.Duration) { scanned <- n }}, a)
	select {
	case n := <-scanned:
		if n != 1 {
			t.Errorf("OnScanned(%d), want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnScanned was not called")
	}
	if s := w.States()[0]; !s.Valid() || s.Version != 1 {
		t.Fatalf("after the scan: %+v", s)
	}
	replaceByRename(t, a, reencode(t, lockBytes(t, 1, 3, 1), 2))
	e := next(t, ch)
	if e.Kind != Changed || e.Changes == nil || len(e.Changes.Config) != 1 || e.Changes.Config[0].Field != "config.version" {
		t.Errorf("event %+v, want a change of config.version only", e)
	}
}

// TestBackgroundNewReadsNothing: the first states are nil until Run.
func TestBackgroundNewReadsNothing(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "bun.lockb")
	os.WriteFile(a, lockBytes(t, 1, 3, 1), 0o644)
	read := 0
	w, err := New([]string{a}, Options{Background: true, OnRead: func(*State) { read++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if s := w.States(); len(s) != 1 || s[0] != nil || read != 0 {
		t.Errorf("states %v, %d reads before Run", s, read)
	}
	if _, err := New([]string{filepath.Join(dir, "no", "bun.lockb")}, Options{Background: true}); err == nil {
		t.Error("a path whose directory is missing was accepted")
	}
}
