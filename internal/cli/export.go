package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func init() {
	register(&ucli.Command{
		Name:      "export",
		Usage:     "write a lockfile's content as JSON on stdout",
		ArgsUsage: "FILE",
		Description: `export decodes a lockfile strictly and writes its content as indented JSON:
"config" (version, registry when the packages reveal it, registryHash,
flags by name, terminal mode, rows and cols) and "packages" (name, version,
resolved, integrity, sorted). 'lockfix pack' reads the same shape back, so
export and pack round-trip: packing the export at the file's version gives
the same bytes (for v2, pass the file's writer with --writer).

FILE "-" reads the lockfile from stdin. An invalid file is refused: the
problems go to stderr (and, with --json, a problems object to stdout).

Exit 0 on success, 4 when the file is invalid, 8 when it cannot be read.

Examples:
   lockfix export bun.lockb > bun.lockb.json
   lockfix export bun.lockb | jq -r '.packages[] | .name + "@" + .version'
   lockfix export old/bun.lockb | lockfix pack --to 2 -o new/bun.lockb -`,
		Action: runExport,
	})
}

func runExport(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("export: want exactly one FILE, got %d (usage: lockfix export FILE)", c.NArg())
	}
	path := c.Args().First()
	ld, err := load(path)
	if err != nil {
		return exit(ioCode(err), "%v", err)
	}
	if ld.Lockfile == nil {
		if global(c, "json") {
			if err := printJSON(map[string]any{"path": path, "valid": false, "problems": toProblems(ld.Problems)}); err != nil {
				return err
			}
		}
		fmt.Fprintf(Stderr, "lockfix: %s: invalid, not exported (%d problem%s; 'lockfix recover' repairs it):\n", path, len(ld.Problems), plural(len(ld.Problems)))
		for _, p := range ld.Problems {
			fmt.Fprintf(Stderr, "  %v\n", p)
		}
		return exitCode(ExitProblems)
	}
	return printJSON(schema.ToContent(ld.Lockfile))
}
