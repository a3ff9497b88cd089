//go:build !unix

package recovery

import "testing"

// cpuTime reports nothing where the process's CPU time is not known.
func cpuTime(*testing.B) func() { return func() {} }
