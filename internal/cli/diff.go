package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/render"
)

// exitDiffer is diff's exit code for lockfiles that differ, as diff(1)
// has it.
const exitDiffer = 1

func init() {
	register(&ucli.Command{
		Name:      "diff",
		Usage:     "show how two lockfiles' decoded content differs",
		ArgsUsage: "A B",
		Description: `diff decodes both lockfiles and prints a unified diff of their content,
one line per config field by name (version, registry hash and registry,
flags, terminal mode, rows and cols), then one line per package, followed
by a summary: config fields changed, packages added, removed and changed.
Files of different versions compare by content: a v1 file and its v2
migration differ only in config.version. "-" reads one of them from stdin.

Exit codes follow diff(1): 0 when the content is equal, 1 when it
differs, 8 when a file cannot be read or is not a valid lockfile (the
problem is named), 16 for bad arguments.

Examples:
   lockfix diff bun.lockb.orig bun.lockb
   lockfix diff --quiet a.lockb b.lockb && echo same
   lockfix diff --json old.lockb new.lockb | jq '.added'`,
		Action: runDiff,
	})
}

// diffJSON is lockfix diff --json's output.
type diffJSON struct {
	A     string `json:"a"`
	B     string `json:"b"`
	Equal bool   `json:"equal"`
	*render.Changes
}

func runDiff(c *ucli.Context) error {
	if c.NArg() != 2 {
		return usage("diff: want two files A B, got %d arguments (usage: lockfix diff A B)", c.NArg())
	}
	pa, pb := c.Args().Get(0), c.Args().Get(1)
	if pa == "-" && pb == "-" {
		return usage("diff: only one of A and B can be - (stdin)")
	}
	var loaded [2]*loaded
	for i, p := range []string{pa, pb} {
		ld, err := load(p)
		if err != nil {
			return exitPath(ExitOperational, p, err)
		}
		if ld.Lockfile == nil {
			msg := fmt.Sprintf("%s: not a valid lockfile, so it is not compared (%d problems):", p, len(ld.Problems))
			for j, e := range ld.Problems {
				if j == maxShown {
					msg += fmt.Sprintf("\n  ... and %d more", len(ld.Problems)-maxShown)
					break
				}
				msg += "\n  " + e.Error()
			}
			return exit(ExitOperational, "%s\nrepair it first: lockfix recover %s", msg, p)
		}
		loaded[i] = ld
	}
	a, b := loaded[0].Lockfile, loaded[1].Lockfile
	ch := render.Compare(a, b)
	text := render.Unified(pa, pb, a, b)
	equal := text == ""
	code := 0
	if !equal {
		code = exitDiffer
	}
	switch {
	case global(c, "json"):
		if err := printJSON(diffJSON{A: pa, B: pb, Equal: equal, Changes: ch}); err != nil {
			return err
		}
	case global(c, "quiet") || equal:
	default:
		fmt.Fprint(Stdout, text)
		fmt.Fprintf(Stdout, "\n%s changed; packages: %d added, %d removed, %d changed\n",
			countOf(len(ch.Config), "config field"), len(ch.Added), len(ch.Removed), len(ch.Changed))
		for _, line := range ch.Summary() {
			fmt.Fprintln(Stdout, line)
		}
	}
	return exitCode(code)
}

// countOf returns "1 thing" or "n things".
func countOf(n int, thing string) string {
	return fmt.Sprintf("%d %s%s", n, thing, plural(n))
}
