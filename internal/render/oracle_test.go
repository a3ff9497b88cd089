package render

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// goDiffUnified is the unified diff as render made it before the
// structured diff: go-diff over the whole texts, with the same hunks. It
// is the oracle the structured diff must match on files small enough for
// go-diff.
func goDiffUnified(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	type line struct {
		op   diffmatchpatch.Operation
		text string
	}
	dmp := diffmatchpatch.New()
	ca, cb, arr := dmp.DiffLinesToRunes(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ca, cb, false), arr)
	var lines []line
	for _, d := range diffs {
		for _, t := range strings.SplitAfter(d.Text, "\n") {
			if t != "" {
				lines = append(lines, line{d.Type, strings.TrimSuffix(t, "\n")})
			}
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	ai, bi := 1, 1
	i := 0
	for i < len(lines) {
		j := i
		for j < len(lines) && lines[j].op == diffmatchpatch.DiffEqual {
			j++
		}
		if j == len(lines) {
			break
		}
		start := max(i, j-context)
		ai += start - i
		bi += start - i
		end := j
		for end < len(lines) {
			if lines[end].op != diffmatchpatch.DiffEqual {
				end++
				continue
			}
			run := end
			for run < len(lines) && lines[run].op == diffmatchpatch.DiffEqual {
				run++
			}
			if run == len(lines) || run-end > 2*context {
				end = min(end+context, len(lines))
				break
			}
			end = run
		}
		na, nb := 0, 0
		for _, l := range lines[start:end] {
			if l.op != diffmatchpatch.DiffInsert {
				na++
			}
			if l.op != diffmatchpatch.DiffDelete {
				nb++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(ai, na), hunkRange(bi, nb))
		for _, l := range lines[start:end] {
			out.WriteString(map[diffmatchpatch.Operation]string{diffmatchpatch.DiffEqual: " ", diffmatchpatch.DiffDelete: "-", diffmatchpatch.DiffInsert: "+"}[l.op])
			out.WriteString(l.text + "\n")
		}
		ai += na
		bi += nb
		i = end
	}
	return out.String()
}

// mutate returns a copy of l with random packages removed, added, bumped
// and re-hashed, and maybe a config field changed.
func mutate(r *rand.Rand, l *schema.Lockfile) *schema.Lockfile {
	m := l.Clone()
	var out []schema.Package
	for i, p := range m.Packages {
		switch r.IntN(12) {
		case 0:
			continue // removed
		case 1:
			p.Version = fmt.Sprintf("%d.0.%d", 20+r.IntN(5), i)
		case 2:
			p.Integrity = ""
		case 3:
			out = append(out, lockgen.Package(r, i+1000))
		case 4:
			q := p
			q.Version = "99.0." + fmt.Sprint(i)
			out = append(out, q)
		}
		out = append(out, p)
	}
	schema.SortPackages(out)
	// drop duplicate keys the mutation may have made
	dedup := out[:0]
	for i := range out {
		if i > 0 && compareKey(&out[i-1], &out[i]) == 0 {
			continue
		}
		dedup = append(dedup, out[i])
	}
	m.Packages = dedup
	switch r.IntN(4) {
	case 0:
		m.Config.Rows++
	case 1:
		m.Config.Flags ^= schema.FlagDisableIsolatedLinker
	}
	return m
}

// TestUnifiedMatchesGoDiff checks the structured diff against go-diff's
// line matching on many generated pairs: the same text, hunk for hunk.
func TestUnifiedMatchesGoDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for n := 0; n < 300; n++ {
		size := r.IntN(60)
		if n%10 == 0 {
			size = 500 + r.IntN(500)
		}
		a := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: size, Seed: uint64(n)})
		b := mutate(r, a)
		if r.IntN(3) == 0 {
			b = mutate(r, b)
		}
		if r.IntN(2) == 0 {
			a, b = b, a
		}
		want := goDiffUnified("a", "b", Text(a), Text(b))
		got := Unified("a", "b", a, b)
		if got != want {
			t.Fatalf("case %d (%d packages): structured diff:\n%s\ngo-diff:\n%s", n, size, got, want)
		}
	}
}

// TestUnifiedUnsorted checks that an unsorted package array (a damaged
// file as found) still gets go-diff's line matching, and that its changes
// are grouped by name all the same.
func TestUnifiedUnsorted(t *testing.T) {
	a := lockgen.Lockfile(lockgen.Options{Version: 1, Packages: 50, Seed: 3})
	b := a.Clone()
	a.Packages[3], a.Packages[30] = a.Packages[30], a.Packages[3]
	if got, want := Unified("a", "b", a, b), goDiffUnified("a", "b", Text(a), Text(b)); got != want || got == "" {
		t.Fatalf("unsorted diff:\n%s\ngo-diff:\n%s", got, want)
	}
	if ch := Compare(a, b); !ch.Empty() {
		t.Errorf("the same packages in another order are changes: %+v", ch)
	}
}

// BenchmarkCompute diffs two 100,000-package lockfiles that differ in
// 1% of their packages and writes the unified text.
func BenchmarkCompute(b *testing.B) {
	a := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 100_000, Seed: 1})
	c := a.Clone()
	for i := 0; i < len(c.Packages); i += 100 {
		c.Packages[i].Integrity = ""
	}
	for b.Loop() {
		d := Compute(a, c)
		if err := d.WriteUnified(io.Discard, "a", "b"); err != nil || d.Equal() {
			b.Fatal(err)
		}
	}
}
