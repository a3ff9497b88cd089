package render

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// MarkdownOptions tune WriteMarkdown.
type MarkdownOptions struct {
	// NameA and NameB name the two lockfiles in the title.
	NameA, NameB string
	// MaxRows is the most rows of each table; the rest are counted in a
	// last row. 0 means every row.
	MaxRows int
}

// Summary is the one-line count of d's changes: "2 config fields changed;
// packages: 1 added, 0 removed, 3 changed".
func (d *Diff) Summary() string {
	added, removed, changed := d.Counts()
	return fmt.Sprintf("%s changed; packages: %d added, %d removed, %d changed",
		count(len(d.Config), "config field"), added, removed, changed)
}

func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// WriteMarkdown writes d as a pull-request comment in GitHub-flavoured
// Markdown: a title, the summary line, then tables of the changed config
// fields, the added, removed and changed packages (old and new versions,
// and what changed), each sorted by name (config fields in the order of
// the text). It returns the first write error.
func (d *Diff) WriteMarkdown(w io.Writer, o MarkdownOptions) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### Lockfile changes: %s → %s\n\n", code(o.NameA), code(o.NameB))
	if d.Equal() {
		fmt.Fprintf(bw, "No change in the decoded content (%s).\n", count(len(d.B.Packages), "package"))
		return bw.Flush()
	}
	fmt.Fprintf(bw, "**%s** (%d → %d packages)\n", d.Summary(), len(d.A.Packages), len(d.B.Packages))
	if len(d.Config) > 0 {
		t := table{title: "Config", head: []string{"Field", "Old", "New"}, max: o.MaxRows}
		for _, f := range d.Config {
			t.add(code(f.Field), cell(f.Old), cell(f.New))
		}
		t.write(bw)
	}
	added := table{title: "Added packages", head: []string{"Package", "Version"}, max: o.MaxRows}
	removed := table{title: "Removed packages", head: []string{"Package", "Version"}, max: o.MaxRows}
	changed := table{title: "Changed packages", head: []string{"Package", "Old", "New", "Changed"}, max: o.MaxRows}
	for i := range d.Packages {
		n := &d.Packages[i]
		switch {
		case n.Added():
			for k := range n.New {
				added.add(code(n.Name), cell(n.New[k].Version))
			}
		case n.Removed():
			for k := range n.Old {
				removed.add(code(n.Name), cell(n.Old[k].Version))
			}
		default:
			changed.add(code(n.Name), cell(versions(n.Old)), cell(versions(n.New)), n.What())
		}
	}
	added.write(bw)
	removed.write(bw)
	changed.write(bw)
	return bw.Flush()
}

// table is one Markdown table under a heading.
type table struct {
	title string
	head  []string
	rows  [][]string
	n     int // rows added, shown or not
	max   int
}

func (t *table) add(cells ...string) {
	t.n++
	if t.max == 0 || len(t.rows) < t.max {
		t.rows = append(t.rows, cells)
	}
}

func (t *table) write(w *bufio.Writer) {
	if t.n == 0 {
		return
	}
	fmt.Fprintf(w, "\n#### %s (%d)\n\n", t.title, t.n)
	w.WriteString("| " + strings.Join(t.head, " | ") + " |\n")
	w.WriteString("|" + strings.Repeat("---|", len(t.head)) + "\n")
	for _, r := range t.rows {
		w.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	if more := t.n - len(t.rows); more > 0 {
		fmt.Fprintf(w, "| … and %d more |%s\n", more, strings.Repeat(" |", len(t.head)-1))
	}
}

// versions joins the versions of a name's records.
func versions(ps []schema.Package) string {
	vs := make([]string, len(ps))
	for i := range ps {
		vs[i] = ps[i].Version
	}
	return strings.Join(vs, ", ")
}

// cell escapes a table cell: a '|' would end it.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// code is s as inline code (names and fields hold no backquote).
func code(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}
