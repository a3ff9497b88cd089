package cli

import (
	"fmt"
	"time"

	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// loaded is a lockfile read for a command: its bytes, its schema when the
// magic and version were recognised, every problem found, and the decoded
// content when there were none.
type loaded struct {
	Path     string
	Bytes    []byte
	Schema   *schema.Schema
	Problems []error
	Lockfile *schema.Lockfile
}

// load reads, sniffs, checks and decodes a lockfile, tracing each step.
// The error is for reading only; format problems are in Problems.
func load(path string) (*loaded, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, b), nil
}

// parse sniffs, checks and decodes bytes already read.
func parse(path string, b []byte) *loaded {
	ld := &loaded{Path: path, Bytes: b}
	s, err := sniffHeader(b)
	if err != nil {
		ld.Problems = []error{fmt.Errorf("%s: %w", path, err)}
		return ld
	}
	ver := fmt.Sprintf("schema/v%d", s.Version)
	ld.Schema = s
	start := time.Now()
	errs := s.Check(b)
	trace.Line("validate", time.Since(start), ver)
	if len(errs) > 0 {
		for _, e := range errs {
			ld.Problems = append(ld.Problems, fmt.Errorf("%s: %w", path, e))
		}
		return ld
	}
	start = time.Now()
	l, err := s.Decode(b)
	trace.Line("decode", time.Since(start), ver)
	if err != nil {
		ld.Problems = []error{fmt.Errorf("%s: %w", path, err)}
		return ld
	}
	ld.Lockfile = l
	return ld
}
