// Command benchgate is the benchmark gate of CI: it compares two outputs of
// 'go test -bench' (the base and the head of a change) and fails when a
// benchmark got slower with statistical significance and by more than a
// relative tolerance.
//
//	go test -run '^$' -bench . -count 10 ./... > base.txt   (on the base)
//	go test -run '^$' -bench . -count 10 ./... > head.txt   (on the head)
//	go run ./scripts/benchgate base.txt head.txt
//
// The files are read with golang.org/x/perf/benchfmt. For each benchmark
// (package and full name) and metric (sec/op by default), the runs of each
// side form a sample; its center is the median with a confidence interval
// (benchmath.AssumeNothing: no assumption about the distribution), and the
// two samples are compared with the Mann-Whitney U test. A benchmark is a
// regression when p < --alpha and its median moved the wrong way by more
// than --tolerance. The U test cannot reach p < 0.05 with fewer than 4
// runs a side, so use -count 10.
//
// A benchmark of the base that the head no longer has is a failure too
// (verdict "GONE"): a deleted or renamed benchmark would otherwise hide a
// regression. One removed on purpose is named with --removed, as the table
// shows it, with or without the -GOMAXPROCS suffix
// (--removed schema.DecodeOld,migrate.Fleet/files=10); it is then "removed".
//
// It prints a table (benchmark, metric, old, new, delta, p, verdict) and
// exits 0 when nothing regressed, 1 when something did or vanished, 2 on
// bad input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK         = 0
	exitRegression = 1
	exitBadInput   = 2
)

// percent is a flag value like "5%" or "0.05".
type percent float64

func (p *percent) String() string { return fmt.Sprintf("%g%%", float64(*p)*100) }

func (p *percent) Set(s string) error {
	var v float64
	var err error
	if t, ok := strings.CutSuffix(s, "%"); ok {
		v, err = strconv.ParseFloat(t, 64)
		v /= 100
	} else {
		v, err = strconv.ParseFloat(s, 64)
	}
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("want a percentage such as 5%% or 0.05")
	}
	*p = percent(v)
	return nil
}

// config is the gate's settings.
type config struct {
	tolerance  float64
	alpha      float64
	confidence float64
	metrics    []string // tidied units; nil means every unit
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tol := percent(0.05)
	fs.Var(&tol, "tolerance", "a slowdown up to this much is accepted even when significant (5% or 0.05)")
	alpha := fs.Float64("alpha", 0.05, "significance level of the Mann-Whitney U test")
	confidence := fs.Float64("confidence", 0.95, "confidence level of the medians' intervals")
	metric := fs.String("metric", "sec/op", "comma-separated metrics to gate on (sec/op, B/op, allocs/op, B/s, ...), or \"all\"")
	removed := fs.String("removed", "", "comma-separated `NAMES` of benchmarks deleted on purpose (schema.DecodeOld): their absence from NEW is no failure")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: benchgate [flags] OLD NEW\n\n"+
			"Compares two 'go test -bench' outputs (-count 10 or more) and exits 1 when a\n"+
			"benchmark is slower with p < alpha and by more than the tolerance.\n\n"+
			"Example:\n  go run ./scripts/benchgate --tolerance 5%% base.txt head.txt\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadInput
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitBadInput
	}
	if *alpha <= 0 || *alpha >= 1 || *confidence <= 0 || *confidence >= 1 {
		fmt.Fprintln(stderr, "benchgate: --alpha and --confidence must be between 0 and 1")
		return exitBadInput
	}
	cfg := config{tolerance: float64(tol), alpha: *alpha, confidence: *confidence}
	if *metric != "all" {
		for _, m := range strings.Split(*metric, ",") {
			if m = strings.TrimSpace(m); m != "" {
				_, unit := benchunit.Tidy(1, m)
				cfg.metrics = append(cfg.metrics, unit)
			}
		}
	}
	old, err := readFile(fs.Arg(0), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchgate: %v\n", err)
		return exitBadInput
	}
	cur, err := readFile(fs.Arg(1), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "benchgate: %v\n", err)
		return exitBadInput
	}
	rows := compare(old, cur, cfg)
	shortenNames(rows)
	unused := markRemoved(rows, splitList(*removed))
	printTable(stdout, rows, cfg)
	for _, n := range unused {
		fmt.Fprintf(stdout, "note: --removed %s: no benchmark of OLD by that name is missing from NEW\n", n)
	}
	regressions, gone := 0, 0
	for _, r := range rows {
		if r.regression {
			regressions++
		}
		if r.verdict == verdictGone {
			gone++
		}
	}
	switch {
	case len(rows) == 0:
		fmt.Fprintln(stdout, "no benchmark metric in both files: nothing to gate")
	case regressions > 0 || gone > 0:
		if regressions > 0 {
			fmt.Fprintf(stdout, "FAIL: %d regression(s): slower with p < %g and by more than %s\n", regressions, cfg.alpha, fmtPct(cfg.tolerance))
		}
		if gone > 0 {
			fmt.Fprintf(stdout, "FAIL: %d benchmark metric(s) of OLD missing from NEW; if deleted on purpose, name them with --removed\n", gone)
		}
		return exitRegression
	default:
		fmt.Fprintf(stdout, "ok: no benchmark is slower with p < %g by more than %s\n", cfg.alpha, fmtPct(cfg.tolerance))
	}
	return exitOK
}

// results are the runs of one file: benchmark key -> unit -> values, with
// the order the keys were first seen.
type results struct {
	order []string
	units map[string][]string // key -> units in order
	vals  map[string]map[string][]float64
}

// readFile reads a 'go test -bench' output. Syntax errors are reported on
// stderr and skipped, as benchstat does.
func readFile(path string, stderr io.Writer) (*results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path, stderr)
}

func read(r io.Reader, name string, stderr io.Writer) (*results, error) {
	res := &results{units: map[string][]string{}, vals: map[string]map[string][]float64{}}
	rd := benchfmt.NewReader(r, name)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			fmt.Fprintf(stderr, "benchgate: %v\n", rec)
		case *benchfmt.Result:
			// Keyed by package, so that equal names in two packages
			// stay apart: "pkg\x00name".
			key := rec.GetConfig("pkg") + "\x00" + rec.Name.String()
			if res.vals[key] == nil {
				res.order = append(res.order, key)
				res.vals[key] = map[string][]float64{}
			}
			for _, v := range rec.Values {
				if _, ok := res.vals[key][v.Unit]; !ok {
					res.units[key] = append(res.units[key], v.Unit)
				}
				res.vals[key][v.Unit] = append(res.vals[key][v.Unit], v.Value)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// row is one line of the table.
type row struct {
	name, unit string
	old, new   *benchmath.Summary // nil when the side has no runs
	p          float64
	delta      float64 // new/old - 1
	verdict    string
	regression bool
	warnings   []string
}

// higherIsBetter reports whether a bigger value of unit is an improvement
// (throughputs: B/s, ops/s).
func higherIsBetter(unit string) bool { return strings.HasSuffix(unit, "/s") }

func (c config) gated(unit string) bool {
	if c.metrics == nil {
		return true
	}
	for _, m := range c.metrics {
		if m == unit {
			return true
		}
	}
	return false
}

// compare computes a row per benchmark and gated metric in either file.
func compare(old, cur *results, cfg config) []row {
	th := benchmath.DefaultThresholds
	th.CompareAlpha = cfg.alpha
	keys := append([]string{}, old.order...)
	for _, k := range cur.order {
		if _, ok := old.vals[k]; !ok {
			keys = append(keys, k)
		}
	}
	var rows []row
	for _, k := range keys {
		units := append([]string{}, old.units[k]...)
		for _, u := range cur.units[k] {
			if _, ok := old.vals[k][u]; !ok {
				units = append(units, u)
			}
		}
		for _, u := range units {
			if !cfg.gated(u) {
				continue
			}
			r := row{name: k, unit: u, p: math.NaN(), delta: math.NaN()}
			a, b := old.vals[k][u], cur.vals[k][u]
			var sa, sb *benchmath.Sample
			if len(a) > 0 {
				sa = benchmath.NewSample(append([]float64{}, a...), &th)
				s := benchmath.AssumeNothing.Summary(sa, cfg.confidence)
				r.old = &s
			}
			if len(b) > 0 {
				sb = benchmath.NewSample(append([]float64{}, b...), &th)
				s := benchmath.AssumeNothing.Summary(sb, cfg.confidence)
				r.new = &s
			}
			switch {
			case sa == nil:
				r.verdict = "new"
			case sb == nil:
				r.verdict = verdictGone
			default:
				verdict(&r, sa, sb, cfg)
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// The verdicts of a benchmark that only one side has.
const (
	verdictGone    = "GONE"    // in OLD, not in NEW, not listed as removed: a failure
	verdictRemoved = "removed" // in OLD, not in NEW, listed with --removed
)

// procsSuffix is the -GOMAXPROCS suffix 'go test' adds to a name.
var procsSuffix = regexp.MustCompile(`-[0-9]+$`)

// markRemoved turns the GONE rows whose shortened name, with or without
// its -GOMAXPROCS suffix, is in names into removed rows. It returns the
// names that matched no GONE row.
func markRemoved(rows []row, names []string) []string {
	used := map[string]bool{}
	for i, r := range rows {
		if r.verdict != verdictGone {
			continue
		}
		for _, n := range names {
			if n == r.name || n == procsSuffix.ReplaceAllString(r.name, "") {
				rows[i].verdict = verdictRemoved
				used[n] = true
			}
		}
	}
	var unused []string
	for _, n := range names {
		if !used[n] {
			unused = append(unused, n)
		}
	}
	return unused
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// verdict fills the p-value, the delta and the verdict of a row.
func verdict(r *row, sa, sb *benchmath.Sample, cfg config) {
	cmp := benchmath.AssumeNothing.Compare(sa, sb)
	r.p = cmp.P
	for _, w := range cmp.Warnings {
		r.warnings = append(r.warnings, w.Error())
	}
	if r.old.Center != 0 {
		r.delta = r.new.Center/r.old.Center - 1
	} else if r.new.Center != 0 {
		r.delta = math.Inf(1)
	} else {
		r.delta = 0
	}
	worse := r.delta
	if higherIsBetter(r.unit) {
		worse = -r.delta
	}
	switch {
	case cmp.P >= cfg.alpha:
		r.verdict = "~"
		for _, w := range r.warnings {
			switch {
			case strings.HasPrefix(w, "need "):
				r.verdict = "~ (too few runs)"
			case strings.Contains(w, "equal"):
				r.verdict = "~ (identical)"
			}
		}
	case worse > cfg.tolerance:
		r.verdict = "REGRESSION"
		r.regression = true
	case worse > 0:
		r.verdict = "slower, within tolerance"
	case worse < 0:
		r.verdict = "better"
	default:
		r.verdict = "~"
	}
}

// shortenNames turns the keys "pkg\x00name" into "pkg.name" with the
// packages' common directory prefix removed ("schema.Decode-2").
func shortenNames(rows []row) {
	prefix, first := "", true
	for _, r := range rows {
		pkg, _, _ := strings.Cut(r.name, "\x00")
		if first {
			prefix, first = pkg, false
			continue
		}
		for !strings.HasPrefix(pkg, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		prefix = prefix[:i+1]
	} else {
		prefix = ""
	}
	for i := range rows {
		pkg, name, _ := strings.Cut(rows[i].name, "\x00")
		pkg = strings.TrimPrefix(pkg, prefix)
		if pkg != "" {
			name = pkg + "." + name
		}
		rows[i].name = name
	}
}

func printTable(w io.Writer, rows []row, cfg config) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tmetric\told\tnew\tdelta\tp\tverdict")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.unit,
			fmtSummary(r.old, r.unit), fmtSummary(r.new, r.unit), fmtDelta(r.delta), fmtP(r.p), r.verdict)
	}
	tw.Flush()
	warned := map[string]bool{}
	for _, r := range rows {
		for _, wn := range r.warnings {
			if !warned[wn] && strings.HasPrefix(wn, "need ") {
				fmt.Fprintf(w, "note: %s (go test -count 10 gives enough)\n", wn)
				warned[wn] = true
			}
		}
	}
	fmt.Fprintf(w, "old and new are medians with their %g%% confidence interval; p is the Mann-Whitney U test's; a regression is p < %g and worse by more than %s\n",
		cfg.confidence*100, cfg.alpha, fmtPct(cfg.tolerance))
}

func fmtSummary(s *benchmath.Summary, unit string) string {
	if s == nil {
		return "-"
	}
	v := benchunit.Scale(s.Center, benchunit.ClassOf(unit))
	return v + " ± " + s.PctRangeString()
}

func fmtDelta(d float64) string {
	if math.IsNaN(d) {
		return "-"
	}
	if math.IsInf(d, 0) {
		return "+inf"
	}
	return fmt.Sprintf("%+.2f%%", d*100)
}

func fmtP(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return fmt.Sprintf("%.3f", p)
}

func fmtPct(f float64) string { return strconv.FormatFloat(f*100, 'g', -1, 64) + "%" }
