// Package lockload is the one way lockfix reads the bytes of a lockfile
// for a command: sniff the version, check the header and its checksum,
// then check the whole file strictly and decode it in one parse, and time
// each step for --trace. The codecs in schema never trace; this is where they are
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

// Parse sniffs b, the bytes of the file at path, then checks and decodes
// it in one parse (Schema.Load).
func Parse(path string, b []byte) *Parsed {
	p := &Parsed{Path: path, Bytes: b}
	s, err := Sniff(b)
	if err != nil {
		p.Problems = []error{schema.AsProblem(err, path)}
		return p
	}
	ver := fmt.Sprintf("schema/v%d", s.Version)
	p.Schema = s
	if trace.Enabled() {
		// Load checks the header again; this pass only times it.
		start := time.Now()
		s.HeaderValid(b)
		trace.Line("checksum", time.Since(start), ver+" header")
	}
	start := time.Now()
	l, errs := s.Load(b)
	trace.Line("decode", time.Since(start), ver+" checked and decoded in one parse")
	for _, e := range errs {
		p.Problems = append(p.Problems, schema.AsProblem(e, path))
	}
	p.Lockfile = l
	return p
}
