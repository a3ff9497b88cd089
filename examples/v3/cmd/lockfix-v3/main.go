// Command lockfix-v3 is lockfix with config version 3 (examples/v3)
// added to the versions of the tree. Run 'lockfix-v3 --help'.
package main

import (
	"os"

	"github.com/lockfix/lockfix/cli"
	_ "github.com/lockfix/lockfix/schema/all" // config versions 0, 1 and 2

	v3 "example.org/lockfix-v3"
)

func main() {
	v3.Register()
	os.Exit(cli.Main(os.Args))
}
