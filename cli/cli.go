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
// examples/v3 builds one with a config version of its own.
package cli

import icli "github.com/lockfix/lockfix/internal/cli"

// Version is lockfix's version, as --version prints it.
const Version = icli.Version

// Main runs lockfix with args (os.Args: the program name first) and
// returns the exit code (0, 1, 4, 8 or 16, added up over many files;
// see 'lockfix --help'). It uses every config version registered in the
// program.
func Main(args []string) int { return icli.Main(args) }
