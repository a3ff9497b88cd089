package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

func schemaCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "schema",
		Usage: "list the lockfile versions this build knows and the migrations between them",
		Description: `schema lists every registered config version: the bun releases that write
it, its header size, the feature flags it defines, what it looks like, and
the migration steps between neighbouring versions, with when a step loses
data. 'lockfix migrate' chains these steps.

--bun VERSION answers "which config version does this bun release write?"
(for example, what a fleet must be on for bun 1.4.2).

Exit 0; 16 for a --bun that is not a version or that no schema covers.

Examples:
   lockfix schema
   lockfix schema --bun 1.4.2
   lockfix schema --json | jq '.versions[] | {version, headerSize}'`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "bun", Usage: "print the config version bun release `VERSION` writes"},
		},
		Action: runSchema,
	}
}

type flagJSON struct {
	Name  string `json:"name"`
	Mask  string `json:"mask"`
	Since int    `json:"since"`
}

type stepJSON struct {
	From  int    `json:"from"`
	To    int    `json:"to"`
	Lossy string `json:"lossy,omitempty"`
}

type versionJSON struct {
	Version     int        `json:"version"`
	Bun         string     `json:"bun"`
	HeaderSize  int        `json:"headerSize"`
	Description string     `json:"description"`
	Flags       []flagJSON `json:"flags"`
}

// schemaFlags returns the flags a schema defines, by name, each with the
// first version that defines it.
func schemaFlags(s *schema.Schema) []flagJSON {
	out := []flagJSON{}
	known := schema.KnownFlags()
	for _, f := range s.Defines {
		since := s.Version
		for _, k := range known {
			if k.Mask == f.Mask {
				since = k.Since
			}
		}
		out = append(out, flagJSON{Name: f.Name, Mask: fmt.Sprintf("0x%02x", uint32(f.Mask)), Since: since})
	}
	return out
}

// steps returns every registered migration step, up steps first.
func steps() []stepJSON {
	var up, down []stepJSON
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		if s.Up != nil {
			up = append(up, stepJSON{s.Up.From, s.Up.To, s.Up.Lossy})
		}
		if s.Down != nil {
			down = append(down, stepJSON{s.Down.From, s.Down.To, s.Down.Lossy})
		}
	}
	for i := len(down) - 1; i >= 0; i-- {
		up = append(up, down[i])
	}
	return up
}

// bunVersion returns the schema that bun release (or constraint) writes,
// with migrate's target parser.
func bunVersion(release string) (*schema.Schema, error) {
	if !strings.HasPrefix(release, "bun@") {
		release = "bun@" + release
	}
	t, err := migrate.ParseTarget(release)
	if err != nil {
		return nil, err
	}
	s, _ := schema.Lookup(t.Version)
	return s, nil
}

func runSchema(c *ucli.Context) error {
	if c.NArg() > 0 {
		return usage("schema: takes no arguments, got %q (usage: lockfix schema [--bun VERSION])", c.Args().First())
	}
	asJSON := global(c, "json")
	if rel := c.String("bun"); rel != "" {
		s, err := bunVersion(rel)
		if err != nil {
			return usage("schema --bun: %v", err)
		}
		if asJSON {
			return printJSON(stdout(c), map[string]any{"bun": rel, "version": s.Version, "range": s.Bun()})
		}
		fmt.Fprintf(stdout(c), "bun %s writes config version %d (bun %s)\n", strings.TrimPrefix(rel, "bun@"), s.Version, s.Bun())
		return nil
	}
	var vs []versionJSON
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		vs = append(vs, versionJSON{s.Version, s.Bun(), s.HeaderSize, s.Description, schemaFlags(s)})
	}
	st := steps()
	if asJSON {
		if vs == nil {
			vs = []versionJSON{}
		}
		if st == nil {
			st = []stepJSON{}
		}
		return printJSON(stdout(c), map[string]any{"versions": vs, "latest": schema.Latest(), "steps": st})
	}
	tw := tabwriter.NewWriter(stdout(c), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "version\tbun\theader\tflags")
	for _, v := range vs {
		var names []string
		for _, f := range v.Flags {
			names = append(names, f.Name)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d bytes\t%s\n", v.Version, v.Bun, v.HeaderSize, strings.Join(names, ", "))
	}
	tw.Flush()
	fmt.Fprintln(stdout(c))
	for _, v := range vs {
		fmt.Fprintf(stdout(c), "v%d: %s\n", v.Version, v.Description)
	}
	fmt.Fprintln(stdout(c), "\nmigration steps:")
	for _, s := range st {
		lossy := "lossless"
		if s.Lossy != "" {
			lossy = "lossy " + s.Lossy + " (refused unless --allow-lossy)"
		}
		fmt.Fprintf(stdout(c), "  %d -> %d  %s\n", s.From, s.To, lossy)
	}
	return nil
}
