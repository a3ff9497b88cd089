package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lockfix/lockfix/internal/lockgen"
)

// TestControlCharactersEscaped: a file name with terminal control
// characters (an escape sequence, a carriage return, a newline, a C1 CSI)
// is printed escaped in human output, on stdout and stderr, by every kind
// of command; JSON output keeps the name exact.
func TestControlCharactersEscaped(t *testing.T) {
	dir := t.TempDir()
	names := map[string]string{
		"red\x1b[31m.lockb":   `red\x1b[31m.lockb`,
		"cr\rOK.lockb":        `cr\rOK.lockb`,
		"nl\nfake: OK.lockb":  `nl\nfake: OK.lockb`,
		"csi\u009b2J.lockb":   `csi\u009b2J.lockb`,
		"latin1-\x9b2J.lockb": `latin1-\x9b2J.lockb`,
		"tab\there.lockb":     `tab\there.lockb`,
		"plain-ünïcode.lockb": "plain-ünïcode.lockb",
	}
	good := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 5, Seed: 3})
	for name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), good, 0o644); err != nil {
			t.Skipf("the filesystem refuses %q: %v", name, err)
		}
	}
	clean := func(label, out string) {
		t.Helper()
		for i := 0; i < len(out); i++ {
			// Newline and tab move no cursor but to the next line or
			// column; lockfix's own lines and tables use them.
			if c := out[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				t.Errorf("%s: a raw control byte 0x%02x in %q", label, c, out)
				return
			}
		}
		if strings.Contains(out, "\u009b") || strings.Contains(out, "\x9b2J") {
			t.Errorf("%s: a raw CSI in %q", label, out)
		}
	}
	for name, shown := range names {
		path := filepath.Join(dir, name)
		want := filepath.Join(dir, shown)
		for _, args := range [][]string{
			{"validate", path},
			{"inspect", path},
			{"set", path, "terminal.rows", "30"},
			{"feature", "list", path},
			{"migrate", "--to", "2", path},
			{"recover", "--dry-run", path},
		} {
			_, out, errs := run(t, nil, args...)
			label := args[0] + " " + shown
			clean(label+" stdout", string(out))
			clean(label+" stderr", errs)
			if !strings.Contains(string(out), want+":") {
				t.Errorf("%s: stdout does not name %q:\n%s", label, want, out)
			}
		}
		// Errors on stderr too. An error message names the file in its
		// text, so a newline or a tab in the name stays as it is there.
		_, _, errs := run(t, nil, "dump", "--hex", path+".missing")
		clean("dump error", errs)
		if !strings.ContainsAny(name, "\n\t") && !strings.Contains(errs, want+".missing") {
			t.Errorf("dump: stderr does not name %q: %s", want+".missing", errs)
		}
		// JSON keeps the name exact (a JSON string holds only UTF-8:
		// encoding/json writes a byte that is not as U+FFFD).
		if !utf8.ValidString(name) {
			continue
		}
		_, out, _ := run(t, nil, "validate", "--json", path)
		var v struct {
			Files []struct{ Path string }
		}
		if err := json.Unmarshal(out, &v); err != nil || len(v.Files) != 1 || v.Files[0].Path != path {
			t.Errorf("validate --json of %q: %v %s", name, err, out)
		}
	}
	// A walk: every name found is printed escaped.
	_, out, errs := run(t, nil, "validate", "--name", "*.lockb", dir)
	clean("walk stdout", string(out))
	clean("walk stderr", errs)
}
