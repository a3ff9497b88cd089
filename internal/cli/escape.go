package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// escapeControls returns s with every character that a terminal may take
// for a command written as a Go escape: the C0 controls but newline and
// tab (ESC is \x1b, CR is \r), DEL and the C1 controls (U+0080 to
// U+009F, as \u007f and \u009b) and bytes that are not UTF-8 (a terminal
// in 8-bit mode reads 0x9b as CSI). A string without them is returned as it is. Human output goes
// through it (controlEscaper); JSON output keeps names exact, as JSON
// strings escape control characters themselves.
func escapeControls(s string) string { return escape(s, "\n\t") }

// displayPath is a path as human output prints it: escapeControls, with
// newline and tab escaped too, so that no file name can move the cursor,
// recolour the terminal or forge a line of the report.
func displayPath(p string) string { return escape(p, "") }

// escape escapes the control characters of s but those in keep.
func escape(s, keep string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
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
			// The \u form, as Go and JSON both read it: encoding/json
			// writes DEL and the C1 controls raw, and JSON text that
			// export prints through controlEscaper must stay valid.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// controlEscaper writes through escapeControls: Main puts it in front of
// stderr, and of stdout unless --json, so that every command's human
// output is safe on a terminal whatever the names it prints.
type controlEscaper struct{ w io.Writer }

func (e controlEscaper) Write(p []byte) (int, error) {
	s := escapeControls(string(p))
	if _, err := io.WriteString(e.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawWriter returns the writer under Main's wrappers (counting, escaping):
// for bytes that are not text for people (pack -o - writes a lockfile)
// and for the progress bar, which draws with control characters.
func rawWriter(w io.Writer) io.Writer {
	for {
		switch x := w.(type) {
		case *countingWriter:
			w = x.w
		case controlEscaper:
			w = x.w
		default:
			return w
		}
	}
}
