package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeControls(t *testing.T) {
	for _, c := range []struct{ in, human, path string }{
		{"plain.lockb", "plain.lockb", "plain.lockb"},
		{"ünï/cødé.lockb", "ünï/cødé.lockb", "ünï/cødé.lockb"},
		{"a\x1b[2Jb", `a\x1b[2Jb`, `a\x1b[2Jb`},
		{"line\nnext\ttab", "line\nnext\ttab", `line\nnext\ttab`},
		{"cr\rbell\a", `cr\rbell\x07`, `cr\rbell\x07`},
		{"del\x7f", `del\u007f`, `del\u007f`},
		{"csi\u009b2J", `csi\u009b2J`, `csi\u009b2J`},
		{"bad\x9b\xffutf8", `bad\x9b\xffutf8`, `bad\x9b\xffutf8`},
		{`back\slash`, `back\slash`, `back\slash`},
	} {
		if got := escapeControls(c.in); got != c.human {
			t.Errorf("escapeControls(%q) = %q, want %q", c.in, got, c.human)
		}
		if got := displayPath(c.in); got != c.path {
			t.Errorf("displayPath(%q) = %q, want %q", c.in, got, c.path)
		}
	}
}

// TestEscapedJSONStaysJSON: JSON written through controlEscaper (export
// prints its content so) is still valid and decodes to the same strings.
func TestEscapedJSONStaysJSON(t *testing.T) {
	in := map[string]string{"s": "esc\x1b del\x7f csi\u009b nl\n tab\t ü"}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := (controlEscaper{&buf}).Write(raw); err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("%s: %v", buf.Bytes(), err)
	}
	if out["s"] != in["s"] {
		t.Errorf("got %q, want %q", out["s"], in["s"])
	}
}

// escapeByRune is escape written plainly, one rune at a time: the
// reference that FuzzEscape holds escape's runs of plain bytes to.
func escapeByRune(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case strings.ContainsRune(keep, r):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == 0x7f || r >= 0x80 && r <= 0x9f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// FuzzEscape: escapeControls, displayPath and controlEscaper write what
// escapeByRune does, for any bytes.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain.lockb", "a\x1b[2Jb", "line\nnext\ttab\r", "del\x7f csi\u009b \xff\xc2",
		"ünï/cødé \ufffd", strings.Repeat("eight by", 3) + "\x00", "{\n  \"name\": \"x\u0085y\"\n}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := escapeControls(s), escapeByRune(s, "\n\t"); got != want {
			t.Errorf("escapeControls(%q) = %q, want %q", s, got, want)
		}
		if got, want := displayPath(s), escapeByRune(s, ""); got != want {
			t.Errorf("displayPath(%q) = %q, want %q", s, got, want)
		}
		var buf bytes.Buffer
		if n, err := (controlEscaper{&buf}).Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("controlEscaper.Write = %d, %v", n, err)
		}
		if got, want := buf.String(), escapeByRune(s, "\n\t"); got != want {
			t.Errorf("controlEscaper wrote %q for %q, want %q", got, s, want)
		}
	})
}

// TestEscapeRandom holds escape to escapeByRune, and plainJSON to its
// definition, for random strings of the bytes that matter (controls, DEL,
// C1 and other UTF-8, bytes that are not UTF-8, quotes and backslashes)
// among printable ASCII, at every alignment.
func TestEscapeRandom(t *testing.T) {
	pieces := []string{"a", "Z", " ", "~", "/", "\"", "\\", "\n", "\t", "\r", "\x00", "\x1b", "\x1f", "\x7f",
		"\u0080", "\u009f", "\u00a0", "é", "\ufffd", "€", "😀", "\xc2", "\xe2\x82", "\xff", "\x80"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var sb strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			if rng.IntN(3) == 0 {
				sb.WriteString(pieces[rng.IntN(len(pieces))])
			} else {
				sb.WriteString(pieces[rng.IntN(4)])
			}
		}
		s := sb.String()
		if got, want := escapeControls(s), escapeByRune(s, "\n\t"); got != want {
			t.Fatalf("escapeControls(%q) = %q, want %q", s, got, want)
		}
		if got, want := displayPath(s), escapeByRune(s, ""); got != want {
			t.Fatalf("displayPath(%q) = %q, want %q", s, got, want)
		}
		want := true
		for i := 0; i < len(s); i++ {
			want = want && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\'
		}
		if got := plainJSON(s); got != want {
			t.Fatalf("plainJSON(%q) = %v, want %v", s, got, want)
		}
		if want && (string(appendJSONString(nil, s)) != `"`+s+`"` || escapeControls(s) != s) {
			t.Fatalf("%q is plain, but encoding/json or the control escaper changes it", s)
		}
	}
}

// BenchmarkControlEscaper writes export's JSON through controlEscaper.
func BenchmarkControlEscaper(b *testing.B) {
	p := []byte(benchJSONChunk())
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		controlEscaper{io.Discard}.Write(p)
	}
}

// benchJSONChunk is a megabyte of packages as export writes them.
func benchJSONChunk() string {
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		fmt.Fprintf(&sb, ",\n    {\n      \"name\": \"pkg-%d\",\n      \"version\": \"1.%d.0\",\n      \"resolved\": \"https://registry.example.org/pkg-%d/-/pkg-%d-1.%d.0.tgz\",\n      \"integrity\": \"sha512-%064x\"\n    }", i, i, i, i, i, i)
	}
	return sb.String()
}
