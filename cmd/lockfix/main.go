// Command lockfix inspects, validates, repairs and migrates bun.lockb
// lockfiles. Run 'lockfix --help' for the commands.
package main

import (
	"os"

	"github.com/lockfix/lockfix/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
