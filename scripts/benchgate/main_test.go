package main

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// bench is one benchmark of a synthetic 'go test -bench' output.
type bench struct {
	name string
	ns   []float64 // one run each
	mbps []float64 // optional throughput
}

// noisy returns n runs around center with relative noise of spread,
// deterministic for seed.
func noisy(center, spread float64, n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, n)
	for i := range out {
		out[i] = center * (1 + spread*(2*r.Float64()-1))
	}
	return out
}

// output renders benchmarks as 'go test -bench -count N' prints them.
func output(t *testing.T, benches ...bench) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/lockfix/lockfix/schema\ncpu: Test CPU\n")
	n := len(benches[0].ns)
	for i := 0; i < n; i++ {
		for _, be := range benches {
			fmt.Fprintf(&b, "Benchmark%s-2   \t 100000\t %10.2f ns/op", be.name, be.ns[i])
			if be.mbps != nil {
				fmt.Fprintf(&b, "\t %8.2f MB/s", be.mbps[i])
			}
			fmt.Fprintf(&b, "\t     512 B/op\t       3 allocs/op\n")
		}
	}
	b.WriteString("PASS\nok  \tgithub.com/lockfix/lockfix/schema\t12.3s\n")
	return b.String()
}

// gate writes old and new to files and runs benchgate on them.
func gate(t *testing.T, old, cur string, flags ...string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	po, pn := filepath.Join(dir, "base.txt"), filepath.Join(dir, "head.txt")
	os.WriteFile(po, []byte(old), 0o644)
	os.WriteFile(pn, []byte(cur), 0o644)
	var out, errOut bytes.Buffer
	code := run(append(flags, po, pn), &out, &errOut)
	return code, out.String() + errOut.String()
}

// line returns the table line of a benchmark and metric.
func line(out, name, unit string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == name && f[1] == unit {
			return l
		}
	}
	return ""
}

func TestRegressionFails(t *testing.T) {
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.02, 10, 1)}, bench{name: "Check", ns: noisy(500, 0.02, 10, 2)})
	cur := output(t, bench{name: "Decode", ns: noisy(1300, 0.02, 10, 3)}, bench{name: "Check", ns: noisy(500, 0.02, 10, 4)})
	code, out := gate(t, old, cur)
	if code != exitRegression {
		t.Fatalf("exit %d, want %d\n%s", code, exitRegression, out)
	}
	l := line(out, "schema.Decode-2", "sec/op")
	if !strings.Contains(l, "REGRESSION") || !strings.Contains(l, "+2") || !strings.Contains(l, "0.000") {
		t.Errorf("Decode line %q, want a +2x%% REGRESSION with p 0.000", l)
	}
	if l := line(out, "schema.Check-2", "sec/op"); strings.Contains(l, "REGRESSION") {
		t.Errorf("Check, unchanged, is a regression: %q", l)
	}
	for _, h := range []string{"benchmark", "metric", "old", "new", "delta", "p", "verdict"} {
		if !strings.Contains(strings.SplitN(out, "\n", 2)[0], h) {
			t.Errorf("header lacks %q:\n%s", h, out)
		}
	}
	if !strings.Contains(out, "FAIL: 1 regression") {
		t.Errorf("no FAIL line:\n%s", out)
	}
}

func TestNoisePasses(t *testing.T) {
	// Both sides draw from the same wide distribution: the medians differ
	// by chance only.
	for seed := uint64(0); seed < 20; seed++ {
		old := output(t, bench{name: "Decode", ns: noisy(1000, 0.15, 10, seed)})
		cur := output(t, bench{name: "Decode", ns: noisy(1000, 0.15, 10, seed+100)})
		if code, out := gate(t, old, cur); code != exitOK {
			t.Fatalf("seed %d: exit %d on noise\n%s", seed, code, out)
		}
	}
}

func TestImprovementPasses(t *testing.T) {
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.02, 10, 1)})
	cur := output(t, bench{name: "Decode", ns: noisy(600, 0.02, 10, 2)})
	code, out := gate(t, old, cur)
	if code != exitOK || !strings.Contains(line(out, "schema.Decode-2", "sec/op"), "better") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestWithinTolerancePasses(t *testing.T) {
	// 3% slower, every run: significant, but under the 5% tolerance.
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.005, 10, 1)})
	cur := output(t, bench{name: "Decode", ns: noisy(1030, 0.005, 10, 2)})
	code, out := gate(t, old, cur)
	if code != exitOK || !strings.Contains(line(out, "schema.Decode-2", "sec/op"), "slower, within tolerance") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// With a 1% tolerance the same change fails.
	if code, out := gate(t, old, cur, "--tolerance", "1%"); code != exitRegression {
		t.Fatalf("--tolerance 1%%: exit %d\n%s", code, out)
	}
}

func TestTooFewRuns(t *testing.T) {
	// Two runs a side can never reach p < 0.05, so even a doubling passes,
	// with a note that says why.
	old := output(t, bench{name: "Decode", ns: []float64{1000, 1001}})
	cur := output(t, bench{name: "Decode", ns: []float64{2000, 2001}})
	code, out := gate(t, old, cur)
	if code != exitOK || !strings.Contains(out, "too few runs") || !strings.Contains(out, "note: need >= 4 samples") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestThroughputDirection(t *testing.T) {
	// Throughput falls by half while ns/op is within noise: a regression
	// when MB/s is gated, whose higher values are better.
	old := output(t, bench{name: "Read", ns: noisy(1000, 0.01, 10, 1), mbps: noisy(800, 0.01, 10, 2)})
	cur := output(t, bench{name: "Read", ns: noisy(1000, 0.01, 10, 3), mbps: noisy(400, 0.01, 10, 4)})
	if code, out := gate(t, old, cur); code != exitOK {
		t.Fatalf("sec/op only: exit %d\n%s", code, out)
	}
	code, out := gate(t, old, cur, "--metric", "sec/op,B/s")
	if code != exitRegression || !strings.Contains(line(out, "schema.Read-2", "B/s"), "REGRESSION") {
		t.Fatalf("B/s gated: exit %d\n%s", code, out)
	}
	// And a throughput gain is better, not a regression.
	if code, out := gate(t, cur, old, "--metric", "all"); code != exitOK || !strings.Contains(line(out, "schema.Read-2", "B/s"), "better") {
		t.Fatalf("gain: exit %d\n%s", code, out)
	}
}

func TestNewBenchmarkPasses(t *testing.T) {
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 1)})
	cur := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 3)}, bench{name: "New", ns: noisy(5000, 0.01, 10, 2)})
	code, out := gate(t, old, cur)
	if code != exitOK || !strings.Contains(line(out, "schema.New-2", "sec/op"), "new") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestVanishedBenchmarkFails(t *testing.T) {
	// Check disappears from the head (deleted, renamed or no longer
	// built): that hides whatever it measured, so the gate fails.
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 1)}, bench{name: "Check", ns: noisy(500, 0.01, 10, 2)})
	cur := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 3)})
	code, out := gate(t, old, cur)
	if code != exitRegression || !strings.Contains(line(out, "schema.Check-2", "sec/op"), "GONE") ||
		!strings.Contains(out, "FAIL: 1 benchmark metric(s) of OLD missing from NEW") || strings.Contains(out, "regression(s)") {
		t.Fatalf("exit %d, want %d with Check GONE\n%s", code, exitRegression, out)
	}
	// Renamed is the same as vanished: the new name is new, the old one GONE.
	renamed := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 3)}, bench{name: "CheckAll", ns: noisy(500, 0.01, 10, 4)})
	if code, out := gate(t, old, renamed); code != exitRegression || !strings.Contains(line(out, "schema.CheckAll-2", "sec/op"), "new") {
		t.Fatalf("renamed: exit %d\n%s", code, out)
	}
	// An empty head (its benchmarks failed to build) loses everything.
	if code, out := gate(t, old, ""); code != exitRegression || !strings.Contains(out, "FAIL: 2 benchmark metric(s)") {
		t.Fatalf("empty head: exit %d\n%s", code, out)
	}
}

func TestRemovedBenchmarkPasses(t *testing.T) {
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 1)}, bench{name: "Check", ns: noisy(500, 0.01, 10, 2)})
	cur := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 3)})
	for _, name := range []string{"schema.Check", "schema.Check-2", " schema.Check ,other.Gone"} {
		code, out := gate(t, old, cur, "--removed", name)
		if code != exitOK || !strings.Contains(line(out, "schema.Check-2", "sec/op"), "removed") {
			t.Fatalf("--removed %q: exit %d\n%s", name, code, out)
		}
		if strings.Contains(name, "other.Gone") && !strings.Contains(out, "note: --removed other.Gone: no benchmark") {
			t.Errorf("--removed %q: no note about the name that matched nothing\n%s", name, out)
		}
	}
	// Another benchmark's name does not excuse it, nor does a bare name
	// without its package, nor a prefix.
	for _, name := range []string{"schema.Decode", "Check", "schema.Che"} {
		if code, out := gate(t, old, cur, "--removed", name); code != exitRegression {
			t.Fatalf("--removed %q: exit %d, want %d\n%s", name, code, exitRegression, out)
		}
	}
	// Removed does not hide a regression elsewhere.
	slow := output(t, bench{name: "Decode", ns: noisy(1500, 0.01, 10, 3)})
	if code, out := gate(t, old, slow, "--removed", "schema.Check"); code != exitRegression || !strings.Contains(out, "FAIL: 1 regression") {
		t.Fatalf("regression with a removal: exit %d\n%s", code, out)
	}
}

func TestBadInput(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"only-one.txt"}, &out, &out); code != exitBadInput {
		t.Errorf("one file: exit %d", code)
	}
	if code := run([]string{"/no/such/base.txt", "/no/such/head.txt"}, &out, &out); code != exitBadInput {
		t.Errorf("missing files: exit %d", code)
	}
	if code := run([]string{"--tolerance", "lots", "a", "b"}, &out, &out); code != exitBadInput {
		t.Errorf("bad tolerance: exit %d", code)
	}
	// A syntax error is reported and skipped; the rest is compared.
	old := output(t, bench{name: "Decode", ns: noisy(1000, 0.01, 10, 1)})
	code, msg := gate(t, old+"BenchmarkBroken-2 12 notanumber ns/op\n", old)
	if code != exitOK || !strings.Contains(msg, "base.txt:17: parsing measurement") {
		t.Errorf("syntax error: exit %d\n%s", code, msg)
	}
}

// TestWorkflow checks that .github/workflows/perf.yml runs both sides in
// one job, from a worktree of the base, with enough runs, and gates with
// this command.
func TestWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "perf.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		Shell string `yaml:"shell"`
	}
	var wf struct {
		Defaults struct {
			Run run `yaml:"run"`
		} `yaml:"defaults"`
		Jobs map[string]struct {
			Defaults struct {
				Run run `yaml:"run"`
			} `yaml:"defaults"`
			Env   map[string]string `yaml:"env"`
			Steps []struct {
				Name  string `yaml:"name"`
				Shell string `yaml:"shell"`
				Run   string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("perf.yml: %v", err)
	}
	if len(wf.Jobs) != 1 {
		t.Fatalf("want one job (base and head on the same machine), got %d", len(wf.Jobs))
	}
	for _, job := range wf.Jobs {
		var runs []string
		for _, s := range job.Steps {
			runs = append(runs, s.Run)
			// GitHub runs a step as 'bash -e {0}' unless the shell is
			// named: then 'bash --noprofile --norc -eo pipefail {0}'.
			// Either way a piped step must fail when any command of its
			// pipe does, not only the last.
			shell := cmp.Or(s.Shell, job.Defaults.Run.Shell, wf.Defaults.Run.Shell)
			if strings.Contains(s.Run, "|") && shell != "bash" && !strings.Contains(s.Run, "set -o pipefail") {
				t.Errorf("step %q pipes without pipefail (shell %q): a failing command before the pipe would pass", s.Name, shell)
			}
			if strings.Contains(s.Run, "PIPESTATUS") {
				t.Errorf("step %q reads PIPESTATUS: use pipefail", s.Name)
			}
		}
		all := strings.Join(runs, "\n")
		for _, want := range []string{"git worktree add", "base.txt", "head.txt", "go run ./scripts/benchgate"} {
			if !strings.Contains(all, want) {
				t.Errorf("no step runs %q", want)
			}
		}
		if flags := job.Env["BENCH_FLAGS"]; !strings.Contains(flags, "-count=10") || !strings.Contains(flags, "-bench=") {
			t.Errorf("BENCH_FLAGS %q, want -bench and -count=10", flags)
		}
		if !strings.Contains(all, "--removed") {
			t.Error("the gate step passes no --removed list, so no benchmark can be deleted on purpose")
		}
		if strings.Count(all, "go test $BENCH_FLAGS") != 2 {
			t.Error("base and head must be benchmarked with the same flags")
		}
	}
}
