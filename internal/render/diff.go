package render

import (
	"slices"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// Diff is the difference between two lockfiles' decoded content, as a
// structure: the config fields that differ, by name, and the package names
// whose records differ, in name order. Its methods render it as a unified
// diff (Unified, WriteUnified), a summary (Changes) and a pull-request
// comment (WriteMarkdown).
type Diff struct {
	// A and B are the two lockfiles, old and new.
	A, B *schema.Lockfile
	// Config are the config fields that differ, in the order of the text
	// (version, registryHash, registry, flags, terminal mode, rows, cols).
	Config []FieldChange
	// Packages are the names whose records differ, sorted by name.
	Packages []NameChange

	// script is the line-by-line edit script of the unified text.
	script []block
	// hA and hB are the header lines of A and B.
	hA, hB [headerLines]string
}

// NameChange is one package name whose records differ between A and B:
// Old are its records in A, New in B (sub-slices of the lockfiles'
// packages, sorted by version; empty where the name is absent).
type NameChange struct {
	Name     string
	Old, New []schema.Package
}

// Added reports whether the name is only in B.
func (n *NameChange) Added() bool { return len(n.Old) == 0 }

// Removed reports whether the name is only in A.
func (n *NameChange) Removed() bool { return len(n.New) == 0 }

// What says what differs for a name in both: "version" when the sets of
// versions differ, else the fields that do ("resolved", "integrity",
// "resolved, integrity").
func (n *NameChange) What() string {
	if !slices.EqualFunc(n.Old, n.New, func(a, b schema.Package) bool { return a.Version == b.Version }) {
		return "version"
	}
	var res, integ bool
	for i := range n.Old {
		res = res || n.Old[i].Resolved != n.New[i].Resolved
		integ = integ || n.Old[i].Integrity != n.New[i].Integrity
	}
	switch {
	case res && integ:
		return "resolved, integrity"
	case res:
		return "resolved"
	}
	return "integrity"
}

// block is one step of an edit script: eq lines equal on both sides, then
// del lines only in A, then ins lines only in B.
type block struct{ eq, del, ins int }

// script records an edit script as blocks, the deletions of each run of
// changes before its insertions (as a unified diff shows them).
type script struct {
	blocks []block
	cur    block
}

func (s *script) equal(n int) {
	if s.cur.del+s.cur.ins > 0 {
		s.blocks = append(s.blocks, s.cur)
		s.cur = block{}
	}
	s.cur.eq += n
}

func (s *script) delete(n int) { s.cur.del += n }
func (s *script) insert(n int) { s.cur.ins += n }

func (s *script) done() []block {
	if s.cur != (block{}) {
		s.blocks = append(s.blocks, s.cur)
	}
	return s.blocks
}

// maxGoDiffLines bounds the texts that the line-matching diff of go-diff
// is used on: it maps every distinct line to one rune, so it cannot take
// more than about 1.1 million lines, and it is only needed for package
// arrays that are not sorted (a damaged file as found).
const maxGoDiffLines = 100_000

// Compute returns the difference from a to b. Config fields are compared
// by name; packages by key (name, version) in one ordered pass over the
// two package arrays, which the format keeps sorted by name, then version:
// a key only in b is added, only in a removed, and in both with another
// resolved URL or integrity changed; the package names are grouped in
// NameChanges. It reads each side once and never fails. A package array
// that is not sorted (a damaged file read leniently) is compared through
// sorted copies; its unified text is matched line by line when it is small
// enough, and walked in its own order otherwise.
func Compute(a, b *schema.Lockfile) *Diff {
	d := &Diff{A: a, B: b, hA: header(a), hB: header(b)}
	var s script
	for i := 0; i < headerLines; i++ {
		if d.hA[i] == d.hB[i] {
			s.equal(1)
			continue
		}
		s.delete(1)
		s.insert(1)
		if i < configFields {
			name, old, _ := strings.Cut(d.hA[i], ": ")
			_, nw, _ := strings.Cut(d.hB[i], ": ")
			d.Config = append(d.Config, FieldChange{name, old, nw})
		}
	}
	pa, pb := a.Packages, b.Packages
	if sorted(pa) && sorted(pb) {
		d.Packages = walk(pa, pb, &s)
		d.script = s.done()
		return d
	}
	d.Packages = walk(sortedCopy(pa), sortedCopy(pb), nil)
	if headerLines*2+len(pa)+len(pb) <= maxGoDiffLines {
		d.script = matchLines(Text(a), Text(b))
		return d
	}
	walkLines(pa, pb, &s)
	d.script = s.done()
	return d
}

// compareKey orders packages by name, then version, comparing bytes (the
// order of docs/format.md section 5).
func compareKey(a, b *schema.Package) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

// sorted reports whether pkgs are strictly in key order.
func sorted(pkgs []schema.Package) bool {
	for i := 1; i < len(pkgs); i++ {
		if compareKey(&pkgs[i-1], &pkgs[i]) >= 0 {
			return false
		}
	}
	return true
}

func sortedCopy(pkgs []schema.Package) []schema.Package {
	c := slices.Clone(pkgs)
	slices.SortStableFunc(c, func(x, y schema.Package) int { return compareKey(&x, &y) })
	return c
}

// walk compares two sorted package arrays in one pass, name group by name
// group, and returns the names whose records differ. When s is not nil it
// records the package lines' edit script.
func walk(a, b []schema.Package, s *script) []NameChange {
	var out []NameChange
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var name string
		switch {
		case i == len(a):
			name = b[j].Name
		case j == len(b):
			name = a[i].Name
		default:
			name = min(a[i].Name, b[j].Name)
		}
		i2, j2 := i, j
		for i2 < len(a) && a[i2].Name == name {
			i2++
		}
		for j2 < len(b) && b[j2].Name == name {
			j2++
		}
		ga, gb := a[i:i2:i2], b[j:j2:j2]
		if walkLines(ga, gb, s) {
			nc := NameChange{Name: name}
			if len(ga) > 0 {
				nc.Old = ga
			}
			if len(gb) > 0 {
				nc.New = gb
			}
			out = append(out, nc)
		}
		i, j = i2, j2
	}
	return out
}

// walkLines walks two package arrays by key, recording the package lines'
// edit script in s (when not nil), and reports whether they differ. On
// sorted arrays the script is a shortest one: lines match only when their
// keys do, and keys are unique and in order. On others it is still a
// correct script.
func walkLines(a, b []schema.Package, s *script) bool {
	differ := false
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		c := compareKey(&a[i], &b[j])
		switch {
		case c < 0:
			differ = true
			if s != nil {
				s.delete(1)
			}
			i++
		case c > 0:
			differ = true
			if s != nil {
				s.insert(1)
			}
			j++
		case a[i] == b[j]:
			if s != nil {
				s.equal(1)
			}
			i++
			j++
		default:
			differ = true
			if s != nil {
				s.delete(1)
				s.insert(1)
			}
			i++
			j++
		}
	}
	if i < len(a) || j < len(b) {
		differ = true
		if s != nil {
			s.delete(len(a) - i)
			s.insert(len(b) - j)
		}
	}
	return differ
}

// Equal reports whether the texts of A and B are the same (for valid
// files: their decoded content; an unsorted array is not the same as its
// sorted copy).
func (d *Diff) Equal() bool {
	for _, b := range d.script {
		if b.del+b.ins > 0 {
			return false
		}
	}
	return true
}

// Counts returns how many packages (records) were added and removed, and
// how many names changed, as Changes counts them.
func (d *Diff) Counts() (added, removed, changed int) {
	for i := range d.Packages {
		n := &d.Packages[i]
		switch {
		case n.Added():
			added += len(n.New)
		case n.Removed():
			removed += len(n.Old)
		default:
			changed++
		}
	}
	return added, removed, changed
}

// Changes returns the summary of d: config fields, the records of names
// only in B (added) and only in A (removed), and the names in both whose
// records differ (changed), each as "name@version resolved integrity".
func (d *Diff) Changes() *Changes {
	ch := &Changes{Config: []FieldChange{}, Added: []string{}, Removed: []string{}, Changed: []PackageChange{}}
	ch.Config = append(ch.Config, d.Config...)
	join := func(ps []schema.Package) string {
		var sb strings.Builder
		var buf []byte
		for i := range ps {
			if i > 0 {
				sb.WriteString(", ")
			}
			buf = appendRecord(buf[:0], &ps[i])
			sb.Write(buf)
		}
		return sb.String()
	}
	for i := range d.Packages {
		n := &d.Packages[i]
		switch {
		case n.Added():
			for k := range n.New {
				ch.Added = append(ch.Added, recordText(&n.New[k]))
			}
		case n.Removed():
			for k := range n.Old {
				ch.Removed = append(ch.Removed, recordText(&n.Old[k]))
			}
		default:
			ch.Changed = append(ch.Changed, PackageChange{n.Name, join(n.Old), join(n.New)})
		}
	}
	return ch
}
