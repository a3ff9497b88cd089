package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
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
	// ExitNotDurable is added (with ExitOperational) when a migrated file
	// holds its new content but its sync failed: a rerun syncs it (exit
	// 10 in all).
	ExitNotDurable = 2
)

// migrateExit is the exit code of a migrate run (CLI.md): 4 when any file
// was refused, plus 8 when any failed or the run was interrupted, plus 2
// (with 8) when a file is migrated but not known to be durable.
func migrateExit(s migrate.Summary) int {
	code := ExitOK
	if s.Refused > 0 {
		code |= ExitProblems
	}
	if s.Failed > 0 || s.Interrupted {
		code |= ExitOperational
	}
	if s.NotDurable > 0 {
		code |= ExitOperational | ExitNotDurable
	}
	return code
}

// exitError is the error a command returns to end with a code. Its message
// has already been printed when msg is "".
type exitError struct {
	code int
	msg  string
	// path is the file the error is about, when the command knows it.
	path string
	// cause is the first error among exit's arguments: --json names the
	// error by it (a FORMAT.md error name when it wraps one).
	cause error
}

func (e *exitError) Error() string  { return e.msg }
func (e *exitError) ExitCode() int  { return e.code }
func (e *exitError) Unwrap() error  { return nil }
func (e *exitError) silent() bool   { return e.msg == "" }
func (e *exitError) String() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }

// exit returns an error that ends the command with code after printing
// "lockfix: " and the message on stderr.
func exit(code int, format string, args ...any) error {
	e := &exitError{code: code, msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.cause = err
			break
		}
	}
	return e
}

// exitPath is exit for an error about the file path: --json names it.
func exitPath(code int, path string, err error) error {
	return &exitError{code: code, msg: namePath(path, err), path: path, cause: err}
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

// failureJSON is what --json prints on stdout when a command fails
// without having written anything there: a usage error, a file that
// cannot be read, a refused edit. Every failing run with --json so
// answers with one JSON object.
type failureJSON struct {
	// Error names the error: a FORMAT.md error name (e.g.
	// "ChecksumMismatch") when the failure is one, else "UsageError"
	// (16), "IOError" (8, a file that cannot be read or written),
	// "OperationalError" (8, anything else), "InvalidLockfile" (4).
	Error   string `json:"error"`
	Message string `json:"message"`
	// Command is the command that failed ("feature enable"), "" when none
	// was recognised.
	Command string `json:"command"`
	// Path is the file the failure is about, null when it is about none.
	Path *string `json:"path"`
	Exit int     `json:"exit"`
}

// newFailure describes the failure err, ending with code, of command cmd
// run with the positional arguments args.
func newFailure(cmd string, args []string, code int, err error) failureJSON {
	f := failureJSON{Message: strings.TrimSuffix(err.Error(), "\n"), Command: cmd, Exit: code}
	var ee *exitError
	var cause error = err
	if errors.As(err, &ee) {
		if ee.cause != nil {
			cause = ee.cause
		}
		if ee.path != "" {
			p := ee.path
			f.Path = &p
		}
	}
	if f.Path == nil {
		f.Path = pathIn(f.Message, args, code&ExitUsage == 0)
	}
	f.Error = schema.ErrorName(cause)
	if f.Error == "" {
		var pe *fs.PathError
		switch {
		case code&ExitUsage != 0:
			f.Error = "UsageError"
		case errors.As(cause, &pe) || errors.Is(cause, fs.ErrNotExist) || errors.Is(cause, errNoLockfile) ||
			errors.Is(cause, errDanglingLink) || errors.Is(cause, errOutsideRoot):
			f.Error = "IOError"
		case code&ExitOperational != 0:
			f.Error = "OperationalError"
		default:
			f.Error = "InvalidLockfile"
		}
	}
	return f
}

// pathIn returns the argument that msg is about: the one it names first
// as "PATH:" (the way every lockfix message names its file), else the
// only argument when only is set, else nil.
func pathIn(msg string, args []string, only bool) *string {
	best, at := "", -1
	for _, a := range args {
		if a == "" {
			continue
		}
		i := strings.Index(msg, a+":")
		if i >= 0 && (at < 0 || i < at || i == at && len(a) > len(best)) {
			best, at = a, i
		}
	}
	if at < 0 && only && len(args) == 1 {
		best, at = args[0], 0
	}
	if at < 0 {
		return nil
	}
	return &best
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WritePlain passes bytes known to need no escaping on (plainWriter).
func (c *countingWriter) WritePlain(p []byte) (int, error) {
	n, err := writePlain(c.w, p)
	c.n += int64(n)
	return n, err
}

// jsonRequested reports whether --json is among the flags of args (before
// a "--").
func jsonRequested(args []string) bool {
	for _, a := range args[min(1, len(args)):] {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

// commandLine returns the command that args name ("feature enable"), and
// their positional arguments.
func commandLine(cmds []*ucli.Command, args []string) (string, []string) {
	var cmd *ucli.Command
	var names, positional []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if cmd != nil {
				if f, ok := lookupFlag(cmd, name); ok && takesValue(f) && !hasValue {
					i++
				}
			}
			continue
		}
		if c := findCommand(cmds, a); c != nil && len(positional) == 0 {
			names = append(names, c.Name)
			cmd, cmds = c, c.Subcommands
			continue
		}
		positional = append(positional, a)
	}
	return strings.Join(names, " "), positional
}

// unknownVersion returns, for the problems of an invalid file, what to
// say instead of "repair it first" when the file is of a config version
// this build does not know (recover refuses those too); "" otherwise.
func unknownVersion(problems []error) string {
	for _, p := range problems {
		if errors.Is(p, schema.ErrUnsupportedVersion) {
			return fmt.Sprintf("it is of a config version this build does not know (it knows %v): use a lockfix that knows it", schema.Versions())
		}
	}
	return ""
}
