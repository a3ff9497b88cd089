package cli

import (
	"bytes"
	"encoding/json"
	"testing"
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
