package cli

import (
	"errors"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func featureCommand() *ucli.Command {
	cmd := &ucli.Command{
		Name:      "feature",
		Usage:     "list, enable or disable the feature flags of a lockfile",
		ArgsUsage: "list|enable|disable FILE [FLAG...]",
		Description: `feature shows and changes the feature flags (docs/format.md section 3) by name;
names are matched case-insensitively. Each config version defines its own
flags: FROZEN_LOCKFILE, VERIFY_INTEGRITY and OFFLINE need version 2.
Enabling a flag that the file's version cannot hold is refused (exit 4)
with the version that can and the command that gets there; the file is
left untouched. Disabling such a flag is already true and changes
nothing.

Examples:
   lockfix feature list bun.lockb
   lockfix feature enable bun.lockb debug frozen_lockfile
   lockfix feature disable --dry-run bun.lockb DEBUG
   lockfix feature list --json bun.lockb | jq '.flags[] | select(.on)'`,
		Subcommands: []*ucli.Command{
			{
				Name:      "list",
				Usage:     "show every flag with on or off",
				ArgsUsage: "FILE",
				Description: `list shows every flag the file's config version defines, on or off, and
the flags it does not define with the version that does.

Exit 0 for a valid file, 4 for an invalid one (its flags are still
listed when the header can be read), 8 when it cannot be read.

Examples:
   lockfix feature list bun.lockb
   lockfix feature list --json bun.lockb`,
				Flags:  globalFlags(),
				Action: runFeatureList,
			},
			{
				Name:      "enable",
				Usage:     "turn flags on",
				ArgsUsage: "FILE FLAG...",
				Description: `enable turns the named flags on, all or none.

` + writeHelp + `

Examples:
   lockfix feature enable bun.lockb DEBUG
   lockfix feature enable --wait 10s bun.lockb offline verify_integrity`,
				Flags:  append(writeFlags(), globalFlags()...),
				Action: func(c *ucli.Context) error { return runFeatureSet(c, true) },
			},
			{
				Name:      "disable",
				Usage:     "turn flags off",
				ArgsUsage: "FILE FLAG...",
				Description: `disable turns the named flags off, all or none.

` + writeHelp + `

Examples:
   lockfix feature disable bun.lockb DEBUG
   lockfix feature disable --dry-run bun.lockb disable_isolated_linker`,
				Flags:  append(writeFlags(), globalFlags()...),
				Action: func(c *ucli.Context) error { return runFeatureSet(c, false) },
			},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return usage("feature: want a subcommand: list, enable or disable (see 'lockfix feature --help')")
			}
			return usage("feature: no subcommand %q: want list, enable or disable%s (see 'lockfix feature --help')", c.Args().First(), suggestCommand(c.Command.Subcommands, c.Args().First()))
		},
	}
	for _, sub := range cmd.Subcommands {
		name := sub.Name
		sub.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
			return usage("feature %s: %v (see 'lockfix feature %s --help')", name, err, name)
		}
	}
	return cmd
}

// featureJSON is one flag in feature list --json.
type featureJSON struct {
	Name string `json:"name"`
	Mask string `json:"mask"`
	// Defined says whether the file's version defines the flag.
	Defined bool `json:"defined"`
	On      bool `json:"on"`
	// Since is the first config version that defines the flag.
	Since int `json:"since"`
}

// featureListJSON is feature list --json's output.
type featureListJSON struct {
	Path     string                    `json:"path"`
	Version  int                       `json:"version"`
	Valid    bool                      `json:"valid"`
	Flags    []featureJSON             `json:"flags"`
	Problems []*schema.CorruptionError `json:"problems"`
}

func runFeatureList(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("feature list: want one FILE, got %d arguments (usage: lockfix feature list FILE)", c.NArg())
	}
	path := c.Args().First()
	ld, err := envOf(c).load(path)
	if err != nil {
		return exitPath(ExitOperational, path, err)
	}
	if ld.Schema == nil || len(ld.Bytes) < schema.PrefixSize {
		return refuseProblems(path, ld.Problems, "its header cannot be read")
	}
	s := ld.Schema
	cfg := schema.DecodeConfig(ld.Bytes[schema.OffConfigVersion:])
	var flags []featureJSON
	for _, f := range schema.KnownFlags() {
		flags = append(flags, featureJSON{Name: f.Name, Mask: fmt.Sprintf("0x%02x", uint32(f.Mask)),
			Defined: s.Flags&f.Mask != 0, On: cfg.Flags&f.Mask != 0, Since: f.Since})
	}
	code := 0
	if len(ld.Problems) > 0 {
		code = ExitProblems
	}
	if global(c, "json") {
		if err := printJSON(stdout(c), featureListJSON{Path: path, Version: s.Version, Valid: code == 0,
			Flags: flags, Problems: toProblems(ld.Problems)}); err != nil {
			return err
		}
		return exitCode(code)
	}
	fmt.Fprintf(stdout(c), "%s: config version %d, flags %s\n", displayPath(path), s.Version, cfg.Flags)
	for _, f := range flags {
		state := "off"
		switch {
		case f.Defined && f.On:
			state = "on"
		case !f.Defined && f.On:
			state = fmt.Sprintf("ON, but version %d does not define it (InvalidFeatureFlags)", s.Version)
		case !f.Defined:
			state = "-   " + needsVersion(path, s.Version, f.Name)
		}
		fmt.Fprintf(stdout(c), "  %-24s %s\n", f.Name, state)
	}
	if code != 0 {
		fmt.Fprintf(stdout(c), "%s: the file has %d problems (lockfix validate %s)\n", path, len(ld.Problems), path)
	}
	return exitCode(code)
}

// needsVersion says which version holds the flag and how to get there.
func needsVersion(path string, have int, name string) string {
	v := holdingVersion(have, name)
	if v < 0 {
		return "(no registered config version defines it)"
	}
	return fmt.Sprintf("(needs config version %d: lockfix migrate --to %d %s)", v, v, path)
}

// holdingVersion returns the registered version nearest above have whose
// schema defines the flag, else the highest below, else -1.
func holdingVersion(have int, name string) int {
	fi, err := schema.ParseFlag(name)
	if err != nil {
		return -1
	}
	best := -1
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		if s.Flags&fi.Mask == 0 {
			continue
		}
		if v > have {
			return v
		}
		best = v
	}
	return best
}

func runFeatureSet(c *ucli.Context, on bool) error {
	verb := "disable"
	if on {
		verb = "enable"
	}
	if c.NArg() < 2 {
		return usage("feature %s: want FILE FLAG..., got %d arguments (usage: lockfix feature %s [--dry-run] [--wait D] FILE FLAG...)", verb, c.NArg(), verb)
	}
	path := c.Args().First()
	var infos []schema.FlagInfo
	for _, name := range c.Args().Slice()[1:] {
		fi, err := schema.ParseFlag(name)
		if err != nil {
			return usage("feature %s: %v", verb, err)
		}
		infos = append(infos, fi)
	}
	return rewrite(c, path, func(cfg *schema.Config) error {
		s, ok := schema.Lookup(cfg.Version)
		if !ok {
			return errors.New("unregistered version")
		}
		var refused []string
		for _, fi := range infos {
			if on && s.Flags&fi.Mask == 0 {
				v := holdingVersion(cfg.Version, fi.Name)
				msg := fmt.Sprintf("%s cannot be stored in a config version %d file", fi.Name, cfg.Version)
				if v >= 0 {
					msg += fmt.Sprintf(": config version %d defines it (migrate first: lockfix migrate --to %d %s)", v, v, path)
				}
				refused = append(refused, msg)
				continue
			}
			if on {
				cfg.Flags |= fi.Mask
			} else {
				cfg.Flags &^= fi.Mask
			}
		}
		if len(refused) > 0 {
			return exit(ExitProblems, "%s: %s; the file is unchanged", path, strings.Join(refused, "; "))
		}
		return nil
	})
}
