package cli

import (
	"bufio"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/recovery"
	"github.com/lockfix/lockfix/schema"
)

func textconvCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "textconv",
		Usage:     "print a lockfile as stable lines of text, for git diff",
		ArgsUsage: "FILE",
		Description: `textconv prints the decoded content of a lockfile as lines of text made
for 'git diff' and 'git log -p' (git's diff.lockfix.textconv, which
'lockfix git setup' writes): one line per config field by name, the
package count, then one line per package in the file's order:

   package NAME@VERSION RESOLVED INTEGRITY

The text is the one 'lockfix diff' compares, deterministic (the same
content gives the same bytes whatever the file's name; a file migrated to
another version differs in its config.version line only), and made in one
pass. It never fails a diff: a damaged file is printed as far
as it can be read, its problems first on lines that start with '#', and
a file that cannot be read at all gives one such line. The exit code is
0 but for bad arguments (16). "-" reads stdin.`,
		Action: runTextconv,
	}
}

func runTextconv(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("textconv: want one FILE, got %d arguments (usage: lockfix textconv FILE)", c.NArg())
	}
	w := bufio.NewWriterSize(stdout(c), 64<<10)
	defer w.Flush()
	b, err := envOf(c).readFile(c.Args().First())
	if err != nil {
		fmt.Fprintf(w, "# lockfix textconv: cannot read the file: %v\n", err)
		return nil
	}
	l, problems := textconvContent(b)
	if problems != nil {
		fmt.Fprintf(w, "# lockfix textconv: not a valid lockfile (%s); what could be read follows\n", countOf(len(problems), "problem"))
		for i, p := range problems {
			if i == maxShown {
				fmt.Fprintf(w, "# ... and %d more\n", len(problems)-maxShown)
				break
			}
			fmt.Fprintf(w, "# %s\n", p)
		}
	}
	if l == nil {
		fmt.Fprintln(w, "# nothing could be read")
		return nil
	}
	// A write error (git closed the pipe) is not the diff's failure.
	_ = render.WriteText(w, l)
	return nil
}

// textconvContent decodes b strictly, or, for a damaged file, reads what
// recovery finds in it as found (nothing guessed, the records that
// survived in file order) and returns the problems by name. The lockfile
// is nil when nothing could be read.
func textconvContent(b []byte) (*schema.Lockfile, []string) {
	l, errs := decodeStrict(b)
	if errs == nil {
		return l, nil
	}
	problems := make([]string, len(errs))
	for i, e := range errs {
		problems[i] = e.Error()
	}
	rep := recovery.Recover(b, recovery.Options{Mode: recovery.Yes})
	if rep.Version < 0 {
		return nil, problems
	}
	return rep.Found(), problems
}
