package render

import (
	"bufio"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/lockfix/lockfix/schema"
)

// context is the number of unchanged lines shown around a change.
const context = 3

// Unified returns the unified diff (3 lines of context) of the text of A
// and B, with the names in the ---/+++ lines, or "" when they are equal.
func (d *Diff) Unified(nameA, nameB string) string {
	var sb strings.Builder
	_ = d.WriteUnified(&sb, nameA, nameB) // a strings.Builder does not fail
	return sb.String()
}

// lineOf appends line k (0-based) of the text of a lockfile with header h
// and packages pkgs to buf.
func lineOf(buf []byte, h *[headerLines]string, pkgs []schema.Package, k int) []byte {
	if k < headerLines {
		return append(buf, h[k]...)
	}
	return appendRecord(append(buf, "package "...), &pkgs[k-headerLines])
}

// WriteUnified writes the unified diff of d to w, hunk by hunk, without
// building the text in memory; it writes nothing when A and B are equal.
// Lines are those of Text. It returns the first write error.
func (d *Diff) WriteUnified(w io.Writer, nameA, nameB string) error {
	if d.Equal() {
		return nil
	}
	lineA := func(buf []byte, k int) []byte { return lineOf(buf, &d.hA, d.A.Packages, k) }
	lineB := func(buf []byte, k int) []byte { return lineOf(buf, &d.hB, d.B.Packages, k) }
	return writeHunks(w, nameA, nameB, d.script, lineA, lineB)
}

// writeHunks writes the unified diff of an edit script whose lines lineA
// and lineB append (0-based) to a buffer: the ---/+++ lines, then each
// hunk with context lines of context, hunks joined when at most
// 2*context equal lines lie between them.
func writeHunks(w io.Writer, nameA, nameB string, bl []block, lineA, lineB func(buf []byte, k int) []byte) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("--- " + nameA + "\n+++ " + nameB + "\n")
	var buf []byte
	put := func(prefix byte, line func([]byte, int) []byte, from, n int) {
		for k := from; k < from+n; k++ {
			buf = line(append(buf[:0], prefix), k)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	pa, pb := 0, 0 // the first line of block k in A and B (0-based)
	for k := 0; k < len(bl); {
		if bl[k].del+bl[k].ins == 0 {
			break // only the trailing equal lines are left
		}
		// A hunk: change blocks k..last, joined while the equal run
		// between them is at most 2*context lines.
		last := k
		for last+1 < len(bl) && bl[last+1].del+bl[last+1].ins > 0 && bl[last+1].eq <= 2*context {
			last++
		}
		lead := min(context, bl[k].eq)
		trail := 0
		if last+1 < len(bl) {
			trail = min(context, bl[last+1].eq)
		}
		na, nb := lead+trail, lead+trail
		for x := k; x <= last; x++ {
			if x > k {
				na += bl[x].eq
				nb += bl[x].eq
			}
			na += bl[x].del
			nb += bl[x].ins
		}
		startA, startB := pa+bl[k].eq-lead, pb+bl[k].eq-lead
		bw.WriteString("@@ -" + hunkRange(startA+1, na) + " +" + hunkRange(startB+1, nb) + " @@\n")
		for x := k; x <= last; x++ {
			eq := bl[x].eq
			from := pa
			if x == k {
				from, eq = pa+bl[x].eq-lead, lead
			}
			put(' ', lineA, from, eq)
			pa += bl[x].eq
			pb += bl[x].eq
			put('-', lineA, pa, bl[x].del)
			put('+', lineB, pb, bl[x].ins)
			pa += bl[x].del
			pb += bl[x].ins
		}
		put(' ', lineA, pa, trail)
		k = last + 1
	}
	return bw.Flush()
}

// UnifiedText is a unified diff of any two texts, or "" when they are
// equal. Texts of at most maxGoDiffLines lines are matched line by line
// (go-diff); longer ones are compared by their common first and last
// lines only, the rest shown as changed, which is a correct diff but not
// always the shortest.
func UnifiedText(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	var bl []block
	if len(la)+len(lb) <= maxGoDiffLines {
		bl = matchLines(a, b)
	} else {
		pre := 0
		for pre < len(la) && pre < len(lb) && la[pre] == lb[pre] {
			pre++
		}
		suf := 0
		for suf < len(la)-pre && suf < len(lb)-pre && la[len(la)-1-suf] == lb[len(lb)-1-suf] {
			suf++
		}
		var s script
		s.equal(pre)
		s.delete(len(la) - pre - suf)
		s.insert(len(lb) - pre - suf)
		s.equal(suf)
		bl = s.done()
	}
	var sb strings.Builder
	line := func(ls []string) func([]byte, int) []byte {
		return func(buf []byte, k int) []byte { return append(buf, ls[k]...) }
	}
	_ = writeHunks(&sb, nameA, nameB, bl, line(la), line(lb))
	return sb.String()
}

// splitLines splits a text into its lines, without their newlines.
func splitLines(s string) []string {
	ls := strings.SplitAfter(s, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	for i := range ls {
		ls[i] = strings.TrimSuffix(ls[i], "\n")
	}
	return ls
}

// matchLines returns the edit script of two texts matched line by line by
// go-diff, for bounded texts only (maxGoDiffLines): go-diff maps each
// distinct line to one rune.
func matchLines(a, b string) []block {
	dmp := diffmatchpatch.New()
	ca, cb, _ := dmp.DiffLinesToRunes(a, b)
	var s script
	for _, df := range dmp.DiffMainRunes(ca, cb, false) {
		n := utf8.RuneCountInString(df.Text)
		switch df.Type {
		case diffmatchpatch.DiffEqual:
			s.equal(n)
		case diffmatchpatch.DiffDelete:
			s.delete(n)
		case diffmatchpatch.DiffInsert:
			s.insert(n)
		}
	}
	return s.done()
}
