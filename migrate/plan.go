// Package migrate converts lockfiles between config versions, one file in
// memory or a fleet of tens of thousands on disk.
//
// A migration is a chain of the steps that the registered schemas declare
// (schema.Schema.Up and Down, docs/format.md section 7): 0 -> 1 -> 2 going up,
// 2 -> 1 -> 0 going down. Plan builds the chain from the registry alone, so
// a version registered by another package is reachable with no
// change here. Convert runs a chain in memory: it decodes the file
// strictly (a file that fails docs/format.md section 6 is refused: it must be
// repaired first), applies each step, and encodes the result at the
// target. Verify is the check the new bytes pass before they replace a
// file: decoded again, valid at the target version, and holding exactly
// the converted content.
//
// Run migrates files on disk through the shared write path
// (internal/atomicfile): each file is locked, read, converted, verified and
// replaced whole, with its fsyncs one after the other (SyncFile) or with
// a batch's temp file fsyncs in flight together before their renames and
// its directory fsyncs together after them (SyncBatch). Each file's version byte is its
// state: a rerun skips the files already at the target, so a rerun is the
// resume of an interrupted run.
//
// This package imports no schema version; programs import schema/all.
package migrate

import (
	"errors"
	"fmt"

	"github.com/lockfix/lockfix/schema"
)

// ErrNoStep is returned by Plan when the registry has no step for a link
// of the chain, or one of the two versions is not registered.
var ErrNoStep = errors.New("no migration step")

// Plan returns the chain of registered steps that converts a lockfile from
// config version from to version to: the Up steps of from+1 ... to going
// up, the Down steps of from ... to+1 going down, and nil when from equals
// to. A version that is not registered, or a schema without the step a
// link needs, is an error wrapping ErrNoStep that names the missing step.
func Plan(from, to int) ([]*schema.Step, error) {
	for _, v := range []int{from, to} {
		if _, ok := schema.Lookup(v); !ok {
			return nil, fmt.Errorf("%w from version %d to %d: version %d is not registered (known: %v)", ErrNoStep, from, to, v, schema.Versions())
		}
	}
	var chain []*schema.Step
	switch {
	case from < to:
		for v := from + 1; v <= to; v++ {
			s, ok := schema.Lookup(v)
			if !ok {
				return nil, fmt.Errorf("%w %d -> %d: version %d is not registered (known: %v)", ErrNoStep, v-1, v, v, schema.Versions())
			}
			if err := checkStep(s.Up, v-1, v, "Up"); err != nil {
				return nil, err
			}
			chain = append(chain, s.Up)
		}
	case from > to:
		for v := from; v > to; v-- {
			s, ok := schema.Lookup(v)
			if !ok {
				return nil, fmt.Errorf("%w %d -> %d: version %d is not registered (known: %v)", ErrNoStep, v, v-1, v, schema.Versions())
			}
			if err := checkStep(s.Down, v, v-1, "Down"); err != nil {
				return nil, err
			}
			chain = append(chain, s.Down)
		}
	}
	return chain, nil
}

// checkStep checks that step is the from -> to step a schema declares.
func checkStep(step *schema.Step, from, to int, field string) error {
	owner := max(from, to)
	switch {
	case step == nil:
		return fmt.Errorf("%w %d -> %d: version %d declares no %s step", ErrNoStep, from, to, owner, field)
	case step.Apply == nil:
		return fmt.Errorf("%w %d -> %d: the %s step of version %d has no Apply", ErrNoStep, from, to, field, owner)
	case step.From != from || step.To != to:
		return fmt.Errorf("%w %d -> %d: the %s step of version %d goes %d -> %d", ErrNoStep, from, to, field, owner, step.From, step.To)
	}
	return nil
}

// Lossy returns, for a chain, the sentences of the steps that may lose
// data (schema.Step.Lossy), each prefixed by its step: for 'lockfix
// migrate --help' and plans shown to people.
func Lossy(chain []*schema.Step) []string {
	var out []string
	for _, s := range chain {
		if s.Lossy != "" {
			out = append(out, fmt.Sprintf("%d -> %d: lossy %s", s.From, s.To, s.Lossy))
		}
	}
	return out
}
