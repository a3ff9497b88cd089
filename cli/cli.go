// Package cli is lockfix's command line as a library: a program that
// registers the config versions it wants (schema/all, and any of its own)
// and calls Main is a lockfix that knows them. cmd/lockfix is such a
// program:
//
//	import (
//		"os"
//
//		"github.com/lockfix/lockfix/cli"
//		_ "github.com/lockfix/lockfix/schema/all"
//	)
//
//	func main() { os.Exit(cli.Main(os.Args)) }
//
// examples/v3 builds one with a config version of its own. A program (or
// a test) that wants lockfix on streams of its own, or with its own list
// of commands, builds it with New and runs it with Run; each app so built
// keeps its own streams and state, so several may run at once.
package cli

import (
	ucli "github.com/urfave/cli/v2"

	icli "github.com/lockfix/lockfix/internal/cli"
)

// Version is lockfix's version, as --version prints it.
const Version = icli.Version

// Streams are what a run of lockfix reads and writes instead of the
// process's standard files.
type Streams = icli.Streams

// Main runs lockfix with args (os.Args: the program name first) on the
// process's standard files and returns the exit code (0, 1, 4, 8 or 16,
// added up over many files; see 'lockfix --help'). It uses every config
// version registered in the program.
func Main(args []string) int { return icli.Main(args) }

// Commands returns lockfix's commands, made anew at each call.
func Commands() []*ucli.Command { return icli.Commands() }

// New returns a lockfix application with the commands cmds (Commands, or
// a selection of them) that reads and writes s.
func New(cmds []*ucli.Command, s Streams) *ucli.App { return icli.New(cmds, s) }

// Run runs app, made by New, once with args (the program name first) and
// returns the exit code, as Main does.
func Run(app *ucli.App, args []string) int { return icli.Run(app, args) }
