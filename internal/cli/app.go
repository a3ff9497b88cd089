// Package cli is the lockfix command line: one file per command, each
// registering itself with register in its init function.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// Version is lockfix's version.
const Version = "0.1.0"

// writerName is what lockfix writes into the writer field of the versions
// that have one, whichever command writes the file.
const writerName = "lockfix " + Version

var commands []*ucli.Command

// register adds a command to the app. Command files call it from init.
func register(c *ucli.Command) {
	if _, walks := lookupFlag(c, "name"); walks {
		c.Flags = append(c.Flags, followOutsideFlag)
	}
	c.Flags = append(c.Flags, globalFlags()...)
	commands = append(commands, c)
}

// globalCategory is the heading of the global flags in a command's help.
const globalCategory = "global (before or after the command)"

// globalFlags are --json, --quiet and --trace, accepted before the command
// and after it, and shown in every command's help.
func globalFlags() []ucli.Flag {
	const cat = globalCategory
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "json", Usage: "machine-readable output on stdout; a failure too is one JSON object (error, message, command, path, exit)", Category: cat},
		&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only problems and errors", Category: cat},
		&ucli.BoolFlag{Name: "trace", Usage: "timed trace lines on stderr for each read, decode, check and write", Category: cat},
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

// versionsText returns the registered config versions for people:
// "0, 1 and 2".
func versionsText() string {
	var parts []string
	for _, v := range schema.Versions() {
		parts = append(parts, strconv.Itoa(v))
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// NewApp returns the lockfix application.
func NewApp() *ucli.App {
	// Each app gets its own copies of the commands, so that wrapping their
	// hooks below does not pile up over repeated in-process runs.
	cmds := make([]*ucli.Command, len(commands))
	for i, c := range commands {
		cmds[i] = withHelp(c)
	}
	slices.SortFunc(cmds, func(a, b *ucli.Command) int { return strings.Compare(a.Name, b.Name) })
	app := &ucli.App{
		Name:    "lockfix",
		Usage:   "inspect, validate, repair and migrate bun.lockb lockfiles",
		Version: Version,
		Description: `lockfix reads the binary bun.lockb lockfile (config versions ` + versionsText() + `),
checks it to the byte, repairs it after corruption, migrates it between
versions, and watches and exports it for monitoring.

Exit codes (the same for every command, fsck's convention; they add up
when a run over many files meets several outcomes):
   0  nothing wrong, nothing changed, or the change asked for was made
   1  problems were found and all were repaired
   4  problems remain: a file is invalid, unrepairable or refused
   8  operational error: I/O, permissions, a lock held by another lockfix
  16  usage error
'lockfix diff' follows diff(1): 0 equal, 1 different, 8 or 16 for trouble.

The format, the byte layout of every version, its rules and its error
names: docs/format.md. Every command: docs/commands.md, and
'lockfix COMMAND --help'. Shell completion: 'lockfix completion bash|zsh|fish';
the manual page: 'lockfix man'.`,
		Flags:                globalFlags(),
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
			if c.Bool("follow-outside") {
				walkState.Lock()
				walkState.followOutside = true
				walkState.Unlock()
			}
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
	return app
}

// Main runs lockfix with args (os.Args) and returns the exit code. With
// --json, a run that fails without writing anything on stdout answers
// there with one JSON object (failureJSON): every command, usage errors
// included.
func Main(args []string) int {
	resetWalk()
	asJSON := jsonRequested(args)
	saved, savedErr := Stdout, Stderr
	out := &countingWriter{w: Stdout}
	if !asJSON {
		out.w = controlEscaper{Stdout}
	}
	Stdout, Stderr = out, controlEscaper{Stderr}
	defer func() { Stdout, Stderr = saved, savedErr }()
	code, err := runApp(args)
	trace.Disable()
	if code != ExitOK && out.n == 0 && asJSON {
		cmd, positional := commandLine(args)
		if err == nil {
			err = fmt.Errorf("exit %d (see stderr)", code)
		}
		if perr := printJSON(newFailure(cmd, positional, code, err)); perr != nil {
			code |= ExitOperational
		}
	}
	return code
}

// runApp runs the app and returns the exit code, and the error it printed on
// stderr (nil when there was none, or when the command printed its own).
func runApp(args []string) (int, error) {
	app := NewApp()
	var notFound error
	app.CommandNotFound = func(c *ucli.Context, name string) {
		notFound = usage("no command %q%s (see 'lockfix --help')", name, suggestCommand(app.Commands, name))
	}
	var err error
	if n := len(args); n > 0 && args[n-1] == "--generate-bash-completion" {
		// A completion script asks what may come next: urfave/cli
		// answers from the words typed so far, flags and all ("--"
		// being typed asks for the long flags).
		if n > 1 && args[n-2] == "--" {
			args = append(slices.Clone(args[:n-2]), "-", args[n-1])
		}
		err = app.Run(args)
	} else if args, err = permuteArgs(app.Commands, args); err == nil {
		err = app.Run(args)
	}
	if notFound != nil {
		err = notFound
	}
	if err == nil {
		return ExitOK, nil
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.silent() {
		return ee.code, nil
	}
	fmt.Fprintf(Stderr, "lockfix: %v\n", err)
	return codeOf(err), err
}
