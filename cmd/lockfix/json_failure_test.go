package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/cli"
)

// TestJSONFailure runs every command in this process with --json in ways
// that fail (a missing or invalid file, an unknown flag, wrong arguments)
// and checks that stdout is exactly one JSON object that names the error,
// the path and the exit code. A command without a case fails the test, so
// a new command cannot forget it.
func TestJSONFailure(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.lockb")
	junk := filepath.Join(dir, "junk.lockb")
	if err := os.WriteFile(junk, []byte("not a lockfile at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each case: the arguments after "lockfix", the exit code, the error
	// name and the path the answer must carry ("" for none).
	type failure struct {
		args []string
		code int
		name string
		path string
	}
	cases := map[string][]failure{
		"diff": {
			{[]string{"diff", "--json", missing, junk}, 8, "IOError", missing},
			{[]string{"diff", "--json", junk}, 16, "UsageError", ""},
		},
		"dump": {
			{[]string{"dump", "--json", missing}, 8, "IOError", missing},
			{[]string{"--json", "dump", "--hex", junk}, 16, "UsageError", ""},
		},
		"export": {
			{[]string{"export", missing, "--json"}, 8, "IOError", missing},
			{[]string{"export", "--json", junk}, 4, "CorruptedHeader", junk},
		},
		"feature list": {
			{[]string{"feature", "list", "--json", missing}, 8, "IOError", missing},
		},
		"feature enable": {
			{[]string{"feature", "enable", "--json", junk, "DEBUG"}, 4, "CorruptedHeader", junk},
			{[]string{"feature", "enable", "--json", junk, "NOSUCHFLAG"}, 16, "UsageError", ""},
		},
		"feature disable": {
			{[]string{"feature", "disable", "--json", missing, "DEBUG"}, 8, "IOError", missing},
		},
		"feature": {
			{[]string{"--json", "feature", "enabel"}, 16, "UsageError", ""},
		},
		"inspect": {
			{[]string{"inspect", "--json", "--nope", missing}, 16, "UsageError", ""},
		},
		"migrate": {
			{[]string{"migrate", "--json", missing}, 16, "UsageError", ""},
			{[]string{"migrate", "--json", "--to", "99", missing}, 16, "UsageError", ""},
		},
		"pack": {
			{[]string{"pack", "--json", "--to", "2", "-o", filepath.Join(dir, "out.lockb"), missing}, 8, "IOError", missing},
		},
		"recover": {
			{[]string{"recover", "--json"}, 16, "UsageError", ""},
		},
		"schema": {
			{[]string{"schema", "--json", "extra"}, 16, "UsageError", ""},
		},
		"serve": {
			{[]string{"serve", "--json", "--listen", "nonsense", missing}, 16, "UsageError", ""},
		},
		"set": {
			{[]string{"set", "--json", missing, "terminal.rows", "30"}, 8, "IOError", missing},
			{[]string{"set", "--json", junk, "terminal.rows", "30"}, 4, "CorruptedHeader", junk},
			{[]string{"set", "--json", junk, "nosuchkey", "30"}, 16, "UsageError", ""},
		},
		"validate": {
			{[]string{"validate", "--json"}, 16, "UsageError", ""},
		},
		"watch": {
			{[]string{"watch", "--json", "--debounce", "-1s", missing}, 16, "UsageError", ""},
		},
		"completion": {
			{[]string{"completion", "--json", "tcsh"}, 16, "UsageError", ""},
		},
		"man": {
			{[]string{"man", "--json", "extra"}, 16, "UsageError", ""},
		},
		"git": {
			{[]string{"--json", "git", "nosuch"}, 16, "UsageError", ""},
		},
		"git setup": {
			{[]string{"git", "setup", "--json", "extra"}, 16, "UsageError", ""},
		},
		"lint": {
			{[]string{"lint", "--json", "--nope", missing}, 16, "UsageError", ""},
		},
		"merge-driver": {
			{[]string{"merge-driver", "--json"}, 16, "UsageError", ""},
		},
		"textconv": {
			{[]string{"textconv", "--json"}, 16, "UsageError", ""},
		},
		"": {
			{[]string{"--json", "valdate", missing}, 16, "UsageError", ""},
			{[]string{"--json", "--nope"}, 16, "UsageError", ""},
		},
	}
	for _, name := range commandNames(cli.Commands(), "") {
		if _, ok := cases[name]; !ok {
			t.Errorf("command %q has no failing --json case", name)
		}
	}
	for name, fs := range cases {
		for _, f := range fs {
			code, out, errs := run(t, nil, f.args...)
			label := "lockfix " + strings.Join(f.args, " ")
			if code != f.code {
				t.Errorf("%s: exit %d, want %d\nstderr: %s", label, code, f.code, errs)
			}
			dec := json.NewDecoder(bytes.NewReader(out))
			var got map[string]any
			if err := dec.Decode(&got); err != nil {
				t.Errorf("%s: stdout is not JSON: %v\n%s", label, err, out)
				continue
			}
			var extra any
			if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
				t.Errorf("%s: stdout holds more than one JSON value:\n%s", label, out)
			}
			if _, own := got["exit"]; !own && code != 16 {
				// The command answered with its own report of the
				// failure (export of an invalid file lists its
				// problems): it names the path and the error.
				if !strings.Contains(string(out), f.name) || (f.path != "" && !strings.Contains(string(out), f.path)) {
					t.Errorf("%s: the report does not name %s and %s:\n%s", label, f.name, f.path, out)
				}
				continue
			}
			if got["error"] != f.name {
				t.Errorf("%s: error %v, want %s\n%s", label, got["error"], f.name, out)
			}
			if got["exit"] != float64(f.code) {
				t.Errorf("%s: exit %v in JSON, want %d", label, got["exit"], f.code)
			}
			if msg, _ := got["message"].(string); msg == "" || !strings.Contains(errs, msg) {
				t.Errorf("%s: message %q is not the one on stderr %q", label, msg, errs)
			}
			p, ok := got["path"]
			switch {
			case !ok:
				t.Errorf("%s: no path key in %s", label, out)
			case f.path == "" && p != nil:
				t.Errorf("%s: path %v, want null", label, p)
			case f.path != "" && p != f.path:
				t.Errorf("%s: path %v, want %s", label, p, f.path)
			}
			if c, _ := got["command"].(string); c != name {
				t.Errorf("%s: command %q, want %q", label, c, name)
			}
		}
	}
}

// commandNames lists the commands of cmds and their subcommands as typed
// ("feature enable"), the help command aside.
func commandNames(cmds []*ucli.Command, prefix string) []string {
	var out []string
	for _, c := range cmds {
		if c.Name == "help" {
			continue
		}
		out = append(out, strings.TrimSpace(prefix+" "+c.Name))
		out = append(out, commandNames(c.Subcommands, prefix+" "+c.Name)...)
	}
	return out
}
