package cli

import (
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// permuteArgs puts a command's flags before its arguments, so that flags may
// be typed before, between or after the paths (as git and kubectl users
// type them): urfave/cli, like Go's flag package, stops at the first
// argument, and would otherwise take every later flag for a path.
//
// args is os.Args: the program name, the global flags, the command name
// and its arguments. For the command (or subcommand) that runs, the result
// is its flags with their values, then "--", then its arguments in their
// order. A "--" typed by the user ends the flags: everything after it is an
// argument even if it starts with '-'. An argument that looks like a flag
// but is none of the command's is a usage error, returned before anything
// runs. Arguments that name no command are left for urfave/cli to report.
func permuteArgs(cmds []*ucli.Command, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	out := []string{args[0]}
	rest := args[1:]
	// The global flags before the command name are all booleans.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "-" && rest[0] != "--" {
		out = append(out, rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return out, nil
	}
	cmd := findCommand(cmds, rest[0])
	if cmd == nil {
		return append(out, rest...), nil
	}
	out = append(out, rest[0])
	tail, err := permuteCommand(cmd, cmd.Name, rest[1:])
	if err != nil {
		return nil, err
	}
	return append(out, tail...), nil
}

// permuteCommand reorders the arguments of one command, descending into a
// subcommand when the first argument names one.
// full is the command's name as typed after lockfix ("feature enable").
func permuteCommand(cmd *ucli.Command, full string, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if len(positional) == 0 && len(cmd.Subcommands) > 0 {
				if sub := findCommand(cmd.Subcommands, a); sub != nil {
					tail, err := permuteCommand(sub, full+" "+sub.Name, args[i+1:])
					if err != nil {
						return nil, err
					}
					return append(append(flags, a), tail...), nil
				}
			}
			positional = append(positional, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := lookupFlag(cmd, name)
		if !ok {
			// The wording is Go's flag package's, as urfave/cli reports a
			// flag it does not know before the arguments.
			return nil, usage("%s: flag provided but not defined: -%s%s (see 'lockfix %s --help'; put '--' before a path that starts with '-')",
				full, name, suggestFlag(cmd, name), full)
		}
		flags = append(flags, a)
		if takesValue(f) && !hasValue {
			if i+1 >= len(args) {
				return nil, usage("%s: flag needs an argument: %s (see 'lockfix %s --help')", full, a, full)
			}
			i++
			flags = append(flags, args[i])
		}
	}
	if len(cmd.Subcommands) > 0 && len(positional) == 0 {
		return flags, nil
	}
	return append(append(flags, "--"), positional...), nil
}

// findCommand returns the command of cmds named name or one of its aliases.
func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		for _, n := range c.Names() {
			if n == name {
				return c
			}
		}
	}
	return nil
}

// lookupFlag returns the flag of cmd that has name among its names; help
// (-h, --help) is every command's.
func lookupFlag(cmd *ucli.Command, name string) (ucli.Flag, bool) {
	if name == "" {
		return nil, false
	}
	if !cmd.HideHelp && ucli.HelpFlag != nil {
		for _, n := range ucli.HelpFlag.Names() {
			if n == name {
				return ucli.HelpFlag, true
			}
		}
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f, true
			}
		}
	}
	return nil, false
}

// takesValue reports whether a flag reads the next argument as its value
// (every flag but a boolean).
func takesValue(f ucli.Flag) bool {
	if d, ok := f.(ucli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return false
}
