// Package render turns a lockfile's decoded content into text for people:
// one line per config field, by name, then one line per package, and the
// differences between two lockfiles as a unified diff and as a summary of
// config changes and packages added, removed and changed. diff, watch and
// every --dry-run use it.
package render

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/lockfix/lockfix/schema"
)

// Lines returns the content of l, one line per config field and package.
func Lines(l *schema.Lockfile) []string {
	c := l.Config
	reg := schema.RegistryFor(l.Packages, c.RegistryHash)
	if reg == "" {
		reg = "(unknown)"
	}
	lines := []string{
		fmt.Sprintf("config.version: %d", c.Version),
		fmt.Sprintf("config.registryHash: 0x%08x", c.RegistryHash),
		fmt.Sprintf("config.registry: %s", reg),
		fmt.Sprintf("config.flags: %s", c.Flags),
		fmt.Sprintf("config.terminal.mode: %s", c.TerminalMode),
		fmt.Sprintf("config.terminal.rows: %d", c.Rows),
		fmt.Sprintf("config.terminal.cols: %d", c.Cols),
	}
	lines = append(lines, fmt.Sprintf("packages: %d", len(l.Packages)))
	for i := range l.Packages {
		lines = append(lines, PackageLine(&l.Packages[i]))
	}
	return lines
}

// PackageLine is one package as a line: "name@version resolved integrity".
func PackageLine(p *schema.Package) string {
	s := "package " + p.Name + "@" + p.Version
	if p.Resolved != "" {
		s += " " + p.Resolved
	}
	if p.Integrity != "" {
		s += " " + p.Integrity
	}
	return s
}

// Text returns Lines joined, each ending in a newline.
func Text(l *schema.Lockfile) string {
	return strings.Join(Lines(l), "\n") + "\n"
}

// Unified returns a unified diff (3 lines of context) of the text of a and
// b, with the names in the ---/+++ lines, or "" when they are equal.
func Unified(nameA, nameB string, a, b *schema.Lockfile) string {
	return UnifiedText(nameA, nameB, Text(a), Text(b))
}

type line struct {
	op   diffmatchpatch.Operation
	text string
}

// UnifiedText is Unified for any two texts.
func UnifiedText(nameA, nameB, a, b string) string {
	if a == b {
		return ""
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
	const ctx = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	// Walk hunks: runs of changes with up to ctx lines of context around.
	ai, bi := 1, 1 // line numbers
	i := 0
	for i < len(lines) {
		// find next change
		j := i
		for j < len(lines) && lines[j].op == diffmatchpatch.DiffEqual {
			j++
		}
		if j == len(lines) {
			break
		}
		start := max(i, j-ctx)
		for k := i; k < start; k++ {
			ai++
			bi++
		}
		// extend the hunk while changes are within 2*ctx equal lines
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
			if run == len(lines) || run-end > 2*ctx {
				end = min(end+ctx, len(lines))
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
			switch l.op {
			case diffmatchpatch.DiffEqual:
				out.WriteString(" ")
			case diffmatchpatch.DiffDelete:
				out.WriteString("-")
			case diffmatchpatch.DiffInsert:
				out.WriteString("+")
			}
			out.WriteString(l.text)
			out.WriteString("\n")
		}
		ai += na
		bi += nb
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start-1)
	}
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// FieldChange is one config field that differs.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// PackageChange is a package whose name is in both lockfiles with other
// versions or fields.
type PackageChange struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Changes summarises the differences between two lockfiles.
type Changes struct {
	Config  []FieldChange   `json:"config"`
	Added   []string        `json:"added"`
	Removed []string        `json:"removed"`
	Changed []PackageChange `json:"changed"`
}

// Empty reports whether nothing differs.
func (c *Changes) Empty() bool {
	return len(c.Config) == 0 && len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// Compare returns the changes from a to b. Config fields are compared by
// name; packages by name: a name only in b is added, only in a removed,
// and in both with other versions, URLs or hashes changed.
func Compare(a, b *schema.Lockfile) *Changes {
	ch := &Changes{Config: []FieldChange{}, Added: []string{}, Removed: []string{}, Changed: []PackageChange{}}
	la, lb := Lines(a)[:7], Lines(b)[:7]
	for i := range la {
		if la[i] != lb[i] {
			name, old, _ := strings.Cut(la[i], ": ")
			_, nw, _ := strings.Cut(lb[i], ": ")
			ch.Config = append(ch.Config, FieldChange{name, old, nw})
		}
	}
	byName := func(pkgs []schema.Package) map[string][]string {
		m := map[string][]string{}
		for i := range pkgs {
			m[pkgs[i].Name] = append(m[pkgs[i].Name], strings.TrimPrefix(PackageLine(&pkgs[i]), "package "))
		}
		return m
	}
	ma, mb := byName(a.Packages), byName(b.Packages)
	for i := range a.Packages {
		name := a.Packages[i].Name
		if i > 0 && a.Packages[i-1].Name == name {
			continue
		}
		old, nw := ma[name], mb[name]
		switch {
		case nw == nil:
			ch.Removed = append(ch.Removed, old...)
		case strings.Join(old, "\n") != strings.Join(nw, "\n"):
			ch.Changed = append(ch.Changed, PackageChange{name, strings.Join(old, ", "), strings.Join(nw, ", ")})
		}
	}
	for i := range b.Packages {
		name := b.Packages[i].Name
		if i > 0 && b.Packages[i-1].Name == name {
			continue
		}
		if ma[name] == nil {
			ch.Added = append(ch.Added, mb[name]...)
		}
	}
	return ch
}

// Summary returns the changes as lines for people: config fields as
// "field: old -> new", then "+ pkg", "- pkg" and "~ pkg: old -> new".
func (c *Changes) Summary() []string {
	var out []string
	for _, f := range c.Config {
		out = append(out, fmt.Sprintf("%s: %s -> %s", f.Field, f.Old, f.New))
	}
	for _, p := range c.Added {
		out = append(out, "+ "+p)
	}
	for _, p := range c.Removed {
		out = append(out, "- "+p)
	}
	for _, p := range c.Changed {
		out = append(out, fmt.Sprintf("~ %s: %s -> %s", p.Name, p.Old, p.New))
	}
	return out
}
