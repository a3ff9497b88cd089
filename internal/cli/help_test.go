package cli

import (
	"bytes"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// TestGlobalFlagsHeading requires the global flags under their heading,
// after the command's own, in every way of asking for a command's help,
// and requires that a run that shows no help leaves them without it
// (headGlobalFlags: the heading makes urfave/cli render every flag of
// every command as the app is set up).
func TestGlobalFlagsHeading(t *testing.T) {
	for _, args := range [][]string{
		{"lockfix", "validate", "--help"},
		{"lockfix", "validate", "-h"},
		{"lockfix", "help", "validate"},
		{"lockfix", "--json", "validate", "--help=true"},
		{"lockfix", "feature", "enable", "--help"},
	} {
		var out bytes.Buffer
		app := New(Commands(), Streams{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
		if code := Run(app, args); code != ExitOK {
			t.Fatalf("%q: exit %d\n%s", args, code, out.String())
		}
		text := out.String()
		head := strings.Index(text, globalCategory)
		if head < 0 {
			t.Fatalf("%q: no heading %q in\n%s", args, globalCategory, text)
		}
		for _, flag := range []string{"--json", "--quiet, -q", "--trace"} {
			if i := strings.Index(text, "   "+flag+" "); i < head {
				t.Errorf("%q: %s is not under the heading in\n%s", args, flag, text)
			}
		}
	}
	app := New(Commands(), Streams{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	headGlobalFlags(app, []string{"lockfix", "validate", "help.lockb", "--json"})
	for _, c := range app.Commands {
		for _, f := range c.Flags {
			if cf, ok := f.(ucli.CategorizableFlag); ok && cf.GetCategory() != "" {
				t.Errorf("%s --%s is under %q in a run that shows no help", c.Name, f.Names()[0], cf.GetCategory())
			}
		}
	}
}
