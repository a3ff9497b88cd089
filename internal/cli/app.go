// Package cli is the lockfix command line: one file per command, each
// with a constructor that Commands lists; New builds an app from such a
// list with streams of its own, and Run runs it.
package cli

import (
	"errors"
	"flag"
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

// Commands returns lockfix's commands, made anew: the list New is
// usually given.
func Commands() []*ucli.Command {
	return []*ucli.Command{
		completionCommand(), diffCommand(), dumpCommand(), exportCommand(), featureCommand(),
		gitCommand(), inspectCommand(), lintCommand(), manCommand(), mergeDriverCommand(),
		migrateCommand(), packCommand(), recoverCommand(), schemaCommand(), serveCommand(),
		setCommand(), textconvCommand(), validateCommand(), watchCommand(),
	}
}

// prepare adds the flags every command has to c: the global flags, and
// --follow-outside for the commands that walk directories.
func prepare(c *ucli.Command) *ucli.Command {
	if _, walks := lookupFlag(c, "name"); walks {
		c.Flags = append(c.Flags, followOutsideFlag())
	}
	c.Flags = append(c.Flags, globalFlags()...)
	return c
}

// globalCategory is the heading of the global flags in a command's help.
const globalCategory = "global (before or after the command)"

// globalFlags are --json, --quiet and --trace, accepted before the command
// and after it, and shown in every command's help under globalCategory
// (see headGlobalFlags).
func globalFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "json", Usage: "machine-readable output on stdout; a failure too is one JSON object (error, message, command, path, exit)"},
		&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only problems and errors"},
		&ucli.BoolFlag{Name: "trace", Usage: "timed trace lines on stderr for each read, decode, check and write"},
	}
}

// isGlobal reports whether f is one of the global flags. It is asked
// only for help and the man page.
func isGlobal(f ucli.Flag) bool {
	name := f.Names()[0]
	for _, g := range globalFlags() {
		if g.Names()[0] == name {
			return true
		}
	}
	return false
}

// headGlobalFlags puts the global flags of app and of all its commands
// under their heading in help, when args may show help. urfave/cli
// renders every flag of each command that has a flag under a heading
// when the app is set up, help or not: for lockfix's commands that took
// about 0.4 ms, most of the start of a run after the packages' own.
func headGlobalFlags(app *ucli.App, args []string) {
	asked := false
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if a == "help" || (a != name && (name == "help" || name == "h")) {
			asked = true
			break
		}
	}
	if !asked {
		return
	}
	head := func(flags []ucli.Flag) {
		for _, f := range flags {
			if b, ok := f.(*ucli.BoolFlag); ok && isGlobal(f) {
				b.Category = globalCategory
			}
		}
	}
	head(app.Flags)
	var walk func(cmds []*ucli.Command)
	walk = func(cmds []*ucli.Command) {
		for _, c := range cmds {
			head(c.Flags)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
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

// Streams are what a run of lockfix reads and writes instead of the
// process's standard files.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// env is one run's streams and state, kept in its app's Metadata so that
// runs in one process (tests) share none of them.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// out counts what the run wrote on stdout (a failure with --json
	// answers there only when nothing else did).
	out  *countingWriter
	walk walkState
}

// envOf returns the run that c belongs to.
func envOf(c *ucli.Context) *env { return c.App.Metadata["env"].(*env) }

func stdout(c *ucli.Context) io.Writer { return envOf(c).stdout }
func stderr(c *ucli.Context) io.Writer { return envOf(c).stderr }
func stdin(c *ucli.Context) io.Reader  { return envOf(c).stdin }

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

// New returns a lockfix application with the commands cmds (Commands,
// or a list of one's own), which reads and writes the streams s. Names
// on stdout and stderr have their control characters escaped; --json
// output is left exact (Run).
func New(cmds []*ucli.Command, s Streams) *ucli.App {
	e := &env{stdin: s.Stdin, out: &countingWriter{w: controlEscaper{s.Stdout}}, stderr: controlEscaper{s.Stderr}}
	e.stdout = e.out
	cmds = slices.Clone(cmds)
	for i, c := range cmds {
		cmds[i] = withHelp(prepare(c))
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
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		Reader:               e.stdin,
		Metadata:             map[string]any{"env": e},
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
			fmt.Fprintf(e.stderr, "lockfix: no command %q (see 'lockfix --help')\n", name)
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
				trace.Enable(e.stderr)
			}
			if c.Bool("follow-outside") {
				e.walk.Lock()
				e.walk.followOutside = true
				e.walk.Unlock()
			}
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
	return app
}

// Main runs lockfix with args (os.Args) on the process's standard files
// and returns the exit code.
func Main(args []string) int {
	return Run(New(Commands(), Streams{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}), args)
}

// Run runs app (made by New) once with args and returns the exit code.
// With --json, stdout is written unescaped, and a run that fails without
// writing anything there answers with one JSON object (failureJSON):
// every command, usage errors included.
func Run(app *ucli.App, args []string) int {
	e := app.Metadata["env"].(*env)
	asJSON := jsonRequested(args)
	if esc, ok := e.out.w.(controlEscaper); ok && asJSON {
		e.out.w = esc.w
	}
	code, err := runApp(app, args)
	trace.Disable()
	if code != ExitOK && e.out.n == 0 && asJSON {
		cmd, positional := commandLine(app.Commands, args)
		if err == nil {
			err = fmt.Errorf("exit %d (see stderr)", code)
		}
		if perr := printJSON(e.stdout, newFailure(cmd, positional, code, err)); perr != nil {
			code |= ExitOperational
		}
	}
	return code
}

// runApp runs the app and returns the exit code, and the error it printed on
// stderr (nil when there was none, or when the command printed its own).
func runApp(app *ucli.App, args []string) (int, error) {
	e := app.Metadata["env"].(*env)
	var notFound error
	app.CommandNotFound = func(c *ucli.Context, name string) {
		notFound = usage("no command %q%s (see 'lockfix --help')", name, suggestCommand(app.Commands, name))
	}
	headGlobalFlags(app, args)
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
	fmt.Fprintf(e.stderr, "lockfix: %v\n", err)
	return codeOf(err), err
}

// sharedFlag is a flag that urfave/cli keeps in a package variable
// (--help, --version) and so puts into every app. It parses with a copy
// of itself, so that apps running at once never write to the one flag.
type sharedFlag struct{ *ucli.BoolFlag }

// Apply defines a copy of the flag in set.
func (f sharedFlag) Apply(set *flag.FlagSet) error {
	c := *f.BoolFlag
	return c.Apply(set)
}

func init() {
	if f, ok := ucli.HelpFlag.(*ucli.BoolFlag); ok {
		ucli.HelpFlag = sharedFlag{f}
	}
	if f, ok := ucli.VersionFlag.(*ucli.BoolFlag); ok {
		ucli.VersionFlag = sharedFlag{f}
	}
}
