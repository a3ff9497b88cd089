package cli

import (
	"fmt"
	"io"
	"math/bits"
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
func escapeControls(s string) string { return escape(s, &keepLines) }

// displayPath is a path as human output prints it: escapeControls, with
// newline and tab escaped too, so that no file name can move the cursor,
// recolour the terminal or forge a line of the report.
func displayPath(p string) string { return escape(p, &keepNone) }

// plainSet marks the bytes that escape writes as they are: printable
// ASCII and the controls in keep.
type plainSet struct {
	byByte [256]bool
	// keep1 and keep2 hold the two controls it keeps eight times over
	// (spaces, which are no controls, for none).
	keep1, keep2 uint64
}

// keepLines keeps newline and tab (escapeControls), keepNone no control
// (displayPath).
var keepLines, keepNone = plainSetOf("\n\t"), plainSetOf("")

func plainSetOf(keep string) plainSet {
	p := plainSet{keep1: ' ' * ones, keep2: ' ' * ones}
	for c := 0x20; c < 0x7f; c++ {
		p.byByte[c] = true
	}
	for i := 0; i < len(keep); i++ {
		p.byByte[keep[i]] = true
	}
	if len(keep) > 0 {
		p.keep1 = uint64(keep[0]) * ones
	}
	if len(keep) > 1 {
		p.keep2 = uint64(keep[1]) * ones
	}
	return p
}

// Bytes of eight, for the tests of eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7f7f7f7f7f7f7f7f
)

// word returns the first eight bytes of s, the first the lowest (one
// load, one bounds check).
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// zeroBytes returns the high bit of every byte of x that is zero (an
// exact test: no borrow crosses the bytes).
func zeroBytes(x uint64) uint64 { return ^((x&lows + lows) | x) & highs }

// unplain returns the high bit of each byte of x that plain does not
// mark: those whose low seven bits are below 0x20 (less 0x20 without a
// borrow) but a kept control, DEL (plus one carries into the high bit),
// and those that are not ASCII.
func (plain *plainSet) unplain(x uint64) uint64 {
	ctl := ^((x | highs) - 0x20*ones) &^ zeroBytes(x^plain.keep1) &^ zeroBytes(x^plain.keep2)
	return (ctl | (x&lows + ones) | x) & highs
}

// plainUpTo returns the index of the first byte of s at or after i that
// plain does not mark, or len(s). It tests eight bytes at a time.
func plainUpTo(s string, i int, plain *plainSet) int {
	for len(s)-i >= 8 {
		if bad := plain.unplain(word(s[i:])); bad != 0 {
			return i + bits.TrailingZeros64(bad)/8
		}
		i += 8
	}
	for ; i < len(s) && plain.byByte[s[i]]; i++ {
	}
	return i
}

// escape escapes the control characters of s but those plain marks. The
// runs of plain bytes are copied whole; only the bytes between them are
// decoded.
func escape(s string, plain *plainSet) string {
	i := plainUpTo(s, 0, plain)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case plain.byByte[c]:
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\r':
				b.WriteString(`\r`)
			case c < 0x20:
				fmt.Fprintf(&b, `\x%02x`, c)
			default: // DEL
				fmt.Fprintf(&b, `\u%04x`, c)
			}
			i++
		} else {
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && n <= 1:
				fmt.Fprintf(&b, `\x%02x`, s[i])
			case r <= 0x9f:
				// The \u form, as Go and JSON both read it:
				// encoding/json writes DEL and the C1 controls raw,
				// and JSON text that export prints through
				// controlEscaper must stay valid.
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteString(s[i : i+n])
			}
			i += n
		}
		j := plainUpTo(s, i, plain)
		b.WriteString(s[i:j])
		i = j
	}
	return b.String()
}

// controlEscaper writes through escapeControls: Main puts it in front of
// stderr, and of stdout unless --json, so that every command's human
// output is safe on a terminal whatever the names it prints.
type controlEscaper struct{ w io.Writer }

// WritePlain writes p, whose bytes the caller knows escapeControls keeps
// as they are, without looking at them again (plainWriter).
func (e controlEscaper) WritePlain(p []byte) (int, error) { return e.w.Write(p) }

// plainWriter is a writer that may be handed bytes known to need no
// escaping: printable ASCII, newlines and tabs.
type plainWriter interface {
	WritePlain(p []byte) (int, error)
}

// writePlain writes p, which holds only bytes that escapeControls keeps
// as they are, to w, past the control escaper when w is one.
func writePlain(w io.Writer, p []byte) (int, error) {
	if pw, ok := w.(plainWriter); ok {
		return pw.WritePlain(p)
	}
	return w.Write(p)
}

func (e controlEscaper) Write(p []byte) (int, error) {
	// p is read, not kept: most of it is written as it is.
	if i := plainUpTo(bstr(p), 0, &keepLines); i == len(p) {
		if _, err := e.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if _, err := io.WriteString(e.w, escapeControls(bstr(p))); err != nil {
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
