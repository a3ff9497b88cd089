package cli

import (
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

// Exit codes, the fsck convention (CLI.md). The numbers never change; they
// add up when a run over many files meets several outcomes.
const (
	// ExitOK: nothing wrong, nothing changed, or the change asked for was
	// made.
	ExitOK = 0
	// ExitRepaired: problems were found and all were repaired (also
	// "different" for diff).
	ExitRepaired = 1
	// ExitProblems: problems remain: a file is invalid, unrepairable, or a
	// migration refused it.
	ExitProblems = 4
	// ExitOperational: I/O, permissions, a lock held by another lockfix.
	ExitOperational = 8
	// ExitUsage: bad flags or arguments.
	ExitUsage = 16
)

// exitError is the error a command returns to end with a code. Its message
// has already been printed when msg is "".
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string  { return e.msg }
func (e *exitError) ExitCode() int  { return e.code }
func (e *exitError) Unwrap() error  { return nil }
func (e *exitError) silent() bool   { return e.msg == "" }
func (e *exitError) String() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }

// exit returns an error that ends the command with code after printing
// "lockfix: " and the message on stderr.
func exit(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// exitCode returns an error that ends the command with code and prints
// nothing more (the command has reported already). Code 0 returns nil.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// usage returns a usage error (exit 16).
func usage(format string, args ...any) error {
	return exit(ExitUsage, format, args...)
}

// codeOf maps an error that reached Main to an exit code.
func codeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ec ucli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	// Errors from urfave/cli's own parsing are usage errors.
	return ExitUsage
}
