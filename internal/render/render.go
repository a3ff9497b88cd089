// Package render turns a lockfile's decoded content into text for people:
// one line per config field, by name, then one line per package, and the
// differences between two lockfiles as a unified diff, as a summary of
// config changes and packages added, removed and changed, and as a
// Markdown pull-request comment. diff, textconv, watch and every
// --dry-run use it.
//
// The difference is computed once, as a structure (Diff): config fields
// by name, then packages compared by key (name, version) in one ordered
// pass over the two sorted package arrays, so it costs one read of each
// side at any size the size limit admits. The unified text, the summary
// and the Markdown are all rendered from that structure.
package render

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// headerLines is the number of lines before the first package line: the
// seven config fields and the package count.
const headerLines = 8

// configFields is the number of config fields by name.
const configFields = 7

// header returns the lines of l's config fields and its package count.
func header(l *schema.Lockfile) [headerLines]string {
	c := l.Config
	reg := schema.RegistryFor(l.Packages, c.RegistryHash)
	if reg == "" {
		reg = "(unknown)"
	}
	return [headerLines]string{
		fmt.Sprintf("config.version: %d", c.Version),
		fmt.Sprintf("config.registryHash: 0x%08x", c.RegistryHash),
		fmt.Sprintf("config.registry: %s", reg),
		fmt.Sprintf("config.flags: %s", c.Flags),
		fmt.Sprintf("config.terminal.mode: %s", c.TerminalMode),
		fmt.Sprintf("config.terminal.rows: %d", c.Rows),
		fmt.Sprintf("config.terminal.cols: %d", c.Cols),
		fmt.Sprintf("packages: %d", len(l.Packages)),
	}
}

// Lines returns the content of l, one line per config field and package.
func Lines(l *schema.Lockfile) []string {
	h := header(l)
	lines := make([]string, 0, headerLines+len(l.Packages))
	lines = append(lines, h[:]...)
	for i := range l.Packages {
		lines = append(lines, PackageLine(&l.Packages[i]))
	}
	return lines
}

// PackageLine is one package as a line: "package name@version resolved
// integrity", the empty fields left out.
func PackageLine(p *schema.Package) string {
	return "package " + recordText(p)
}

// recordText is a package as "name@version resolved integrity".
func recordText(p *schema.Package) string {
	return string(appendRecord(nil, p))
}

// appendRecord appends "name@version resolved integrity" to dst.
func appendRecord(dst []byte, p *schema.Package) []byte {
	dst = append(dst, p.Name...)
	dst = append(dst, '@')
	dst = append(dst, p.Version...)
	if p.Resolved != "" {
		dst = append(dst, ' ')
		dst = append(dst, p.Resolved...)
	}
	if p.Integrity != "" {
		dst = append(dst, ' ')
		dst = append(dst, p.Integrity...)
	}
	return dst
}

// Text returns Lines joined, each ending in a newline.
func Text(l *schema.Lockfile) string {
	var sb strings.Builder
	_ = WriteText(&sb, l) // a strings.Builder does not fail
	return sb.String()
}

// WriteText writes Text(l) to w, buffered, without building the whole
// text in memory. It returns the first write error.
func WriteText(w io.Writer, l *schema.Lockfile) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	h := header(l)
	for _, s := range h {
		bw.WriteString(s)
		bw.WriteByte('\n')
	}
	buf := make([]byte, 0, 4096)
	for i := range l.Packages {
		buf = append(buf[:0], "package "...)
		buf = appendRecord(buf, &l.Packages[i])
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Unified returns a unified diff (3 lines of context) of the text of a and
// b, with the names in the ---/+++ lines, or "" when they are equal. It is
// Compute(a, b).Unified(nameA, nameB).
func Unified(nameA, nameB string, a, b *schema.Lockfile) string {
	return Compute(a, b).Unified(nameA, nameB)
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
// and in both with other versions, URLs or hashes changed. It is
// Compute(a, b).Changes().
func Compare(a, b *schema.Lockfile) *Changes {
	return Compute(a, b).Changes()
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

// hunkRange is a unified diff's "start,count" for a hunk of n lines
// starting at line start (1-based).
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return strconv.Itoa(start-1) + ",0"
	case 1:
		return strconv.Itoa(start)
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}
