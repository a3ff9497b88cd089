package cli

import (
	"io"
	"strings"
)

// runWith runs lockfix in this process with args (the command first) on
// its own streams, as a test or benchmark does: each run has its own, so
// runs may go on in parallel.
func runWith(stdout, stderr io.Writer, args ...string) int {
	app := New(Commands(), Streams{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr})
	return Run(app, append([]string{"lockfix"}, args...))
}

// quietEnv returns the state of a run that writes nowhere, for calling a
// command's per-file work directly.
func quietEnv() *env {
	return New(Commands(), Streams{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}).Metadata["env"].(*env)
}
