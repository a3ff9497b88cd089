package cli

import "github.com/lockfix/lockfix/internal/lockload"

// loaded is a lockfile read for a command (lockload.Parsed).
type loaded = lockload.Parsed

// load reads, sniffs, checks and decodes a lockfile, tracing each step.
// The error is for reading only; format problems are in Problems.
func (e *env) load(path string) (*loaded, error) {
	b, err := e.readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, b), nil
}

// parse sniffs, checks and decodes bytes already read.
func parse(path string, b []byte) *loaded { return lockload.Parse(path, b) }
