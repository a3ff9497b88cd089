// Package docs holds the user documentation; its test keeps format.md
// true to the schema versions, flags and errors lockfix registers.
package docs

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// tables returns the tables of format.md by the marker comment before each
// ("<!-- layout: 0 1 -->" gives "layout: 0 1"): their body rows, cells
// trimmed, header and separator left out.
func tables(t *testing.T) (map[string][][]string, string) {
	t.Helper()
	b, err := os.ReadFile("format.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]string{}
	var marker string
	row := 0
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "<!--") && strings.HasSuffix(line, "-->"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "<!--"), "-->"))
			if _, dup := out[marker]; dup {
				t.Fatalf("format.md: two tables marked %q", marker)
			}
			out[marker] = nil
			row = 0
		case marker != "" && strings.HasPrefix(line, "|"):
			row++
			if row <= 2 {
				continue // the header and the separator
			}
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			out[marker] = append(out[marker], cells)
		case marker != "" && row > 0:
			marker = ""
		}
	}
	return out, string(b)
}

func num(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		t.Fatalf("format.md: %q is not a number", s)
	}
	return int(n)
}

// field is a header field as the doc or the schema has it.
type field struct {
	off, size int
	name      string
}

func (f field) String() string { return fmt.Sprintf("0x%02X %d %s", f.off, f.size, f.name) }

// TestFormatLayouts checks every header table against the header table of
// each registered schema (the fields dump --hex shows), and that every
// registered version has its table.
func TestFormatLayouts(t *testing.T) {
	tabs, _ := tables(t)
	covered := map[int]bool{}
	var prefix []field
	for _, r := range tabs["layout: prefix"] {
		prefix = append(prefix, field{num(t, r[0]), num(t, r[1]), r[2]})
	}
	var want []field
	for _, f := range schema.Prefix() {
		want = append(want, field{f.Offset, f.Size, f.Name})
	}
	if !slices.Equal(prefix, want) {
		t.Errorf("section 1 lists %v, the schema %v", prefix, want)
	}
	for marker, rows := range tabs {
		vs, ok := strings.CutPrefix(marker, "layout: ")
		if !ok || vs == "prefix" {
			continue
		}
		for _, vstr := range strings.Fields(vs) {
			v := num(t, vstr)
			covered[v] = true
			s, ok := schema.Lookup(v)
			if !ok {
				t.Errorf("format.md has a layout of version %d, which is not registered", v)
				continue
			}
			var doc []field
			for i, r := range rows {
				switch {
				case i == 0:
					if num(t, r[0]) != 0 || num(t, r[1]) != schema.PrefixSize {
						t.Errorf("version %d: the table starts with %v, want the %d-byte prefix", v, r, schema.PrefixSize)
					}
				case r[1] == "...":
					if num(t, r[0]) != s.HeaderSize || r[2] != "package array" {
						t.Errorf("version %d: the package array is at %s, the header is %d bytes", v, r[0], s.HeaderSize)
					}
				default:
					doc = append(doc, field{num(t, r[0]), num(t, r[1]), r[2]})
				}
			}
			var got []field
			for _, f := range s.Header {
				if f.Offset >= schema.PrefixSize {
					got = append(got, field{f.Offset, f.Size, f.Name})
				}
			}
			slices.SortFunc(got, func(a, b field) int { return a.off - b.off })
			if !slices.Equal(doc, got) {
				t.Errorf("version %d: format.md lists\n  %v\nthe schema has\n  %v", v, doc, got)
			}
			// The fields tile the header.
			end := schema.PrefixSize
			for _, f := range doc {
				if f.off != end {
					t.Errorf("version %d: a gap or overlap at 0x%02X", v, end)
				}
				end = f.off + f.size
			}
			if end != s.HeaderSize {
				t.Errorf("version %d: the fields end at %d, the header is %d bytes", v, end, s.HeaderSize)
			}
		}
	}
	for _, v := range schema.Versions() {
		if !covered[v] {
			t.Errorf("version %d is registered but format.md has no layout for it", v)
		}
	}
	// The versions table.
	var listed []int
	for _, r := range tabs["versions"] {
		v := num(t, r[0])
		listed = append(listed, v)
		s, ok := schema.Lookup(v)
		if !ok {
			t.Errorf("the versions table lists %d, which is not registered", v)
			continue
		}
		if r[2] != fmt.Sprintf("%d bytes", s.HeaderSize) {
			t.Errorf("version %d: header %q, the schema's is %d bytes", v, r[2], s.HeaderSize)
		}
	}
	if !slices.Equal(listed, schema.Versions()) {
		t.Errorf("the versions table lists %v, the registered versions are %v", listed, schema.Versions())
	}
}

// TestFormatFlags checks the flags table against the flags the registered
// versions define.
func TestFormatFlags(t *testing.T) {
	tabs, _ := tables(t)
	rows := tabs["flags"]
	known := schema.KnownFlags()
	if len(rows) != len(known) {
		t.Fatalf("format.md lists %d flags, the schema %d", len(rows), len(known))
	}
	for i, f := range known {
		r := rows[i]
		if num(t, r[0]) != i || num(t, r[1]) != int(f.Mask) || r[2] != f.Name || num(t, r[3]) != f.Since {
			t.Errorf("flag row %v, the schema has bit %d mask 0x%02x %s since %d", r, i, uint32(f.Mask), f.Name, f.Since)
		}
		if f.Mask != 1<<i {
			t.Errorf("%s is not bit %d", f.Name, i)
		}
		for _, v := range schema.Versions() {
			s, _ := schema.Lookup(v)
			if defined := s.Flags&f.Mask != 0; defined != (v >= f.Since) {
				t.Errorf("version %d defines %s: %v, but the doc says since version %d", v, f.Name, defined, f.Since)
			}
		}
	}
}

// TestFormatErrors checks that the errors table names every sentinel of
// the schema, in order, and nothing else.
func TestFormatErrors(t *testing.T) {
	tabs, _ := tables(t)
	var doc []string
	for _, r := range tabs["errors"] {
		doc = append(doc, r[0])
	}
	var got []string
	for _, e := range schema.Sentinels {
		got = append(got, schema.ErrorName(e))
	}
	if !slices.Equal(doc, got) {
		t.Errorf("format.md names the errors\n  %v\nthe schema's are\n  %v", doc, got)
	}
}

// TestFormatRecords checks the package limits and the frame of a v2
// record.
func TestFormatRecords(t *testing.T) {
	tabs, text := tables(t)
	limits := map[string]string{
		"name":      fmt.Sprintf("1-%d", schema.MaxName),
		"version":   fmt.Sprintf("1-%d", schema.MaxVersion),
		"resolved":  fmt.Sprintf("0-%d", schema.MaxResolved),
		"integrity": fmt.Sprintf("0-%d", schema.MaxIntegrity),
	}
	rows := tabs["package"]
	if len(rows) != len(limits) {
		t.Errorf("format.md lists %d package fields, want %d", len(rows), len(limits))
	}
	for _, r := range rows {
		if limits[r[0]] != r[1] {
			t.Errorf("package field %s: %q, the schema allows %s", r[0], r[1], limits[r[0]])
		}
	}
	frame := tabs["frame"]
	fr := v2.Framing
	if len(frame) != 4 || frame[0][1] != "marker" || !strings.Contains(frame[0][2], "`"+fr.Marker+"`") ||
		num(t, frame[0][0])+num(t, frame[1][0])+num(t, frame[3][0]) != fr.Overhead() {
		t.Errorf("the frame table %v does not match marker %q and %d bytes of framing", frame, fr.Marker, fr.Overhead())
	}
	if len(frame) > 1 && !strings.Contains(frame[1][2], fmt.Sprintf("%d to %d", fr.MinBody, fr.MaxBody)) {
		t.Errorf("bodySize: %q, the schema allows %d to %d", frame[1][2], fr.MinBody, fr.MaxBody)
	}
	for _, v := range schema.Versions() {
		if s, _ := schema.Lookup(v); (s.Framing != nil) != (v == 2) {
			t.Errorf("version %d: framed %v, but format.md frames version 2 only", v, s.Framing != nil)
		}
	}
	if !strings.Contains(text, strconv.Itoa(atomicfile.MaxSize)+" bytes") {
		t.Errorf("format.md does not give the size limit, %d bytes", atomicfile.MaxSize)
	}
}

// TestFormatMigrations checks the migrations table against the steps the
// versions register, and which of them may lose data.
func TestFormatMigrations(t *testing.T) {
	tabs, _ := tables(t)
	doc := map[string]string{}
	for _, r := range tabs["migrations"] {
		doc[r[0]] = r[2]
	}
	steps := 0
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		for _, st := range []*schema.Step{s.Up, s.Down} {
			if st == nil {
				continue
			}
			steps++
			key := fmt.Sprintf("%d -> %d", st.From, st.To)
			lossy, ok := doc[key]
			if !ok {
				t.Errorf("format.md has no row for the step %s", key)
				continue
			}
			if says := !strings.HasPrefix(lossy, "no"); says != (st.Lossy != "") {
				t.Errorf("step %s: the doc says %q, the schema's Lossy is %q", key, lossy, st.Lossy)
			}
		}
	}
	if steps != len(doc) {
		t.Errorf("format.md lists %d steps, the schema registers %d", len(doc), steps)
	}
}
