// Command lockfix inspects, validates, repairs and migrates bun.lockb
// lockfiles. Run 'lockfix --help' for the commands.
package main

import (
	"os"

	"github.com/lockfix/lockfix/cli"
	_ "github.com/lockfix/lockfix/schema/all" // every config version
)

func main() { os.Exit(cli.Main(os.Args)) }
