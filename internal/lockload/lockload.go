// Package lockload is the one way lockfix reads the bytes of a lockfile
// for a command: sniff the version, check the header and its checksum,
// check the whole file strictly, decode it, and time each step for
// --trace. The codecs in schema never trace; this is where they are
// timed.
package lockload

import (
	"fmt"
	"time"

	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// Parsed is a lockfile read for a command: its bytes, its version's
// description when the magic and version were recognised, every problem
// found (each a *schema.CorruptionError with its Path set), and the decoded content when there
// were none.
type Parsed struct {
	Path     string
	Bytes    []byte
	Schema   *schema.Schema
	Problems []error
	Lockfile *schema.Lockfile
}

// Sniff returns the description of the version of b, timed as
// header.decode.
func Sniff(b []byte) (*schema.Schema, error) {
	start := time.Now()
	s, err := schema.Sniff(b)
	if err != nil {
		trace.Line("header.decode", time.Since(start), "")
		return nil, err
	}
	trace.Line("header.decode", time.Since(start), fmt.Sprintf("schema/v%d", s.Version))
	return s, nil
}

// Parse sniffs, checks and decodes b, the bytes of the file at path.
func Parse(path string, b []byte) *Parsed {
	p := &Parsed{Path: path, Bytes: b}
	s, err := Sniff(b)
	if err != nil {
		p.Problems = []error{schema.AsProblem(err, path)}
		return p
	}
	ver := fmt.Sprintf("schema/v%d", s.Version)
	p.Schema = s
	start := time.Now()
	s.HeaderValid(b)
	trace.Line("checksum", time.Since(start), ver+" header")
	start = time.Now()
	errs := s.Check(b)
	trace.Line("validate", time.Since(start), ver)
	if len(errs) > 0 {
		for _, e := range errs {
			p.Problems = append(p.Problems, schema.AsProblem(e, path))
		}
		return p
	}
	start = time.Now()
	l, err := s.Decode(b)
	trace.Line("decode", time.Since(start), ver)
	if err != nil {
		p.Problems = []error{schema.AsProblem(err, path)}
		return p
	}
	p.Lockfile = l
	return p
}
