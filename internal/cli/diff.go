package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/render"
)

// exitDiffer is diff's exit code for lockfiles that differ, as diff(1)
// has it.
const exitDiffer = 1

func diffCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "diff",
		Usage:     "show how two lockfiles' decoded content differs",
		ArgsUsage: "A B",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text (a unified diff and a summary), markdown (a pull-request comment) or json (as --json)"},
			&ucli.IntFlag{Name: "max-rows", Value: 200, Usage: "with --format markdown, show at most `N` rows per table (0: all)"},
		},
		Description: `diff decodes both lockfiles and prints a unified diff of their content,
one line per config field by name (version, registry hash and registry,
flags, terminal mode, rows and cols), then one line per package, followed
by a summary: config fields changed, packages added, removed and changed.
Files of different versions compare by content: a v1 file and its v2
migration differ only in config.version. "-" reads one of them from stdin.

Packages are compared by key (name, version) in one ordered pass over the
two sorted package arrays, so files of any size the size limit admits
compare in about the time it takes to read them.

--format markdown prints a pull-request comment instead: a summary line,
then tables of the changed config fields and of the added, removed and
changed packages (old and new versions), sorted by name. --format json
prints what --json prints.

Exit codes follow diff(1): 0 when the content is equal, 1 when it
differs, 8 when a file cannot be read or is not a valid lockfile (the
problem is named), 16 for bad arguments.

Examples:
   lockfix diff bun.lockb.orig bun.lockb
   lockfix diff --quiet a.lockb b.lockb && echo same
   lockfix diff --json old.lockb new.lockb | jq '.added'
   lockfix diff --format markdown base.lockb bun.lockb > comment.md`,
		Action: runDiff,
	}
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
	format := c.String("format")
	switch format {
	case "text", "markdown", "json":
	default:
		return usage("diff: --format %q: want text, markdown or json", format)
	}
	if c.Int("max-rows") < 0 {
		return usage("diff: --max-rows %d: want 0 (all) or more", c.Int("max-rows"))
	}
	if pa == "-" && pb == "-" {
		return usage("diff: only one of A and B can be - (stdin)")
	}
	var loaded [2]*loaded
	for i, p := range []string{pa, pb} {
		ld, err := envOf(c).load(p)
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
			if why := unknownVersion(ld.Problems); why != "" {
				return exit(ExitOperational, "%s\n%s", msg, why)
			}
			return exit(ExitOperational, "%s\nrepair it first: lockfix recover %s", msg, p)
		}
		loaded[i] = ld
	}
	a, b := loaded[0].Lockfile, loaded[1].Lockfile
	d := render.Compute(a, b)
	code := 0
	if !d.Equal() {
		code = exitDiffer
	}
	switch {
	case format == "json" || global(c, "json"):
		if err := printJSON(stdout(c), diffJSON{A: pa, B: pb, Equal: d.Equal(), Changes: d.Changes()}); err != nil {
			return err
		}
	case global(c, "quiet"):
	case format == "markdown":
		if err := d.WriteMarkdown(stdout(c), render.MarkdownOptions{NameA: pa, NameB: pb, MaxRows: c.Int("max-rows")}); err != nil {
			return exit(ExitOperational, "diff: write: %v", err)
		}
	case d.Equal():
	default:
		if err := d.WriteUnified(stdout(c), pa, pb); err != nil {
			return exit(ExitOperational, "diff: write: %v", err)
		}
		ch := d.Changes()
		fmt.Fprintf(stdout(c), "\n%s\n", d.Summary())
		for _, line := range ch.Summary() {
			fmt.Fprintln(stdout(c), line)
		}
	}
	return exitCode(code)
}

// countOf returns "1 thing" or "n things".
func countOf(n int, thing string) string {
	return fmt.Sprintf("%d %s%s", n, thing, plural(n))
}
