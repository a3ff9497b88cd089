// Package cli is the lockfix command line: one file per command, each
// registering itself with register in its init function.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/trace"
)

// Version is lockfix's version.
const Version = "0.1.0"

// writerName is what lockfix writes into the writer field of the versions
// that have one, whichever command writes the file.
const writerName = "lockfix " + Version

var commands []*ucli.Command

// register adds a command to the app. Command files call it from init.
func register(c *ucli.Command) {
	c.Flags = append(c.Flags, globalFlags(true)...)
	commands = append(commands, c)
}

// globalFlags are --json, --quiet and --trace, accepted before the command
// and after it.
func globalFlags(hidden bool) []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "json", Usage: "machine-readable output on stdout", Hidden: hidden},
		&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only problems and errors", Hidden: hidden},
		&ucli.BoolFlag{Name: "trace", Usage: "timed trace lines on stderr for each read, decode, check and write", Hidden: hidden},
	}
}

// global reports whether a global flag is set before or after the command.
func global(c *ucli.Context, name string) bool {
	for _, x := range c.Lineage() {
		if x.Bool(name) {
			return true
		}
	}
	return false
}

// Stdout and Stderr are where commands write; tests may replace them.
var (
	Stdout io.Writer = os.Stdout
	Stderr io.Writer = os.Stderr
	Stdin  io.Reader = os.Stdin
)

// NewApp returns the lockfix application.
func NewApp() *ucli.App {
	// Each app gets its own copies of the commands, so that wrapping their
	// hooks below does not pile up over repeated in-process runs.
	cmds := make([]*ucli.Command, len(commands))
	for i, c := range commands {
		cp := *c
		cmds[i] = &cp
	}
	slices.SortFunc(cmds, func(a, b *ucli.Command) int { return strings.Compare(a.Name, b.Name) })
	app := &ucli.App{
		Name:    "lockfix",
		Usage:   "inspect, validate, repair and migrate bun.lockb lockfiles",
		Version: Version,
		Description: `lockfix reads the binary bun.lockb lockfile (config versions 0, 1 and 2),
checks it to the byte, repairs it after corruption, migrates it between
versions, and watches and exports it for monitoring.

Exit codes (the same for every command, fsck's convention; they add up
when a run over many files meets several outcomes):
   0  nothing wrong, nothing changed, or the change asked for was made
   1  problems were found and all were repaired
   4  problems remain: a file is invalid, unrepairable or refused
   8  operational error: I/O, permissions, a lock held by another lockfix
  16  usage error
'lockfix diff' follows diff(1): 0 equal, 1 different, 8 or 16 for trouble.`,
		Flags:                globalFlags(false),
		Commands:             cmds,
		Writer:               Stdout,
		ErrWriter:            Stderr,
		Reader:               Stdin,
		EnableBashCompletion: true,
		HideHelpCommand:      false,
		Before: func(c *ucli.Context) error {
			return nil
		},
		ExitErrHandler: func(*ucli.Context, error) {},
		OnUsageError: func(c *ucli.Context, err error, _ bool) error {
			return usage("%v (see 'lockfix --help')", err)
		},
		CommandNotFound: func(c *ucli.Context, name string) {
			fmt.Fprintf(Stderr, "lockfix: no command %q (see 'lockfix --help')\n", name)
		},
	}
	for _, cmd := range cmds {
		cmd := cmd
		cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
			return usage("%s: %v (see 'lockfix %s --help')", cmd.Name, err, cmd.Name)
		}
		before := cmd.Before
		cmd.Before = func(c *ucli.Context) error {
			if global(c, "trace") {
				trace.Enable(Stderr)
			}
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
	return app
}

// Main runs lockfix with args (os.Args) and returns the exit code.
func Main(args []string) int {
	app := NewApp()
	notFound := false
	app.CommandNotFound = func(c *ucli.Context, name string) {
		notFound = true
		fmt.Fprintf(Stderr, "lockfix: no command %q (see 'lockfix --help')\n", name)
	}
	args, err := permuteArgs(app.Commands, args)
	if err == nil {
		err = app.Run(args)
	}
	trace.Disable()
	if notFound {
		return ExitUsage
	}
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.silent() {
		return ee.code
	}
	fmt.Fprintf(Stderr, "lockfix: %v\n", err)
	return codeOf(err)
}
