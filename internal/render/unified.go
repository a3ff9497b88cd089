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

// lineOf returns line k (0-based) of the text of a lockfile with header h
// and packages pkgs, appended to buf.
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
	bl := d.script
	if d.Equal() {
		return nil
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("--- " + nameA + "\n+++ " + nameB + "\n")
	var buf []byte
	put := func(prefix byte, h *[headerLines]string, pkgs []schema.Package, from, n int) {
		for k := from; k < from+n; k++ {
			buf = append(buf[:0], prefix)
			buf = lineOf(buf, h, pkgs, k)
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
			put(' ', &d.hA, d.A.Packages, from, eq)
			pa += bl[x].eq
			pb += bl[x].eq
			put('-', &d.hA, d.A.Packages, pa, bl[x].del)
			put('+', &d.hB, d.B.Packages, pb, bl[x].ins)
			pa += bl[x].del
			pb += bl[x].ins
		}
		put(' ', &d.hA, d.A.Packages, pa, trail)
		k = last + 1
	}
	return bw.Flush()
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
