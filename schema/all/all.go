// Package all registers every config version lockfix knows. Programs
// import it for its side effect; library packages never do.
package all

import (
	_ "github.com/lockfix/lockfix/schema/v0" // config version 0
	_ "github.com/lockfix/lockfix/schema/v1" // config version 1
	_ "github.com/lockfix/lockfix/schema/v2" // config version 2
)
