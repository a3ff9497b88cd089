package migrate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lockfix/lockfix/schema"
)

// ErrInvalid is returned by Convert for a file that fails the strict
// checks of docs/format.md section 6. Such a file is never migrated: it must be
// repaired first ('lockfix recover').
var ErrInvalid = errors.New("the file fails the format's checks")

// ErrMismatch is returned by the check of Verify when the new bytes are
// valid but do not hold the converted content.
var ErrMismatch = errors.New("the new bytes do not hold the converted content")

// InvalidError is the error of Convert for an invalid file: every problem
// found, each a *schema.CorruptionError naming the offset and the rule.
// errors.Is finds ErrInvalid and the problems' sentinels.
type InvalidError struct {
	// Version is the file's config version, or -1 when the magic or the
	// version itself is the problem.
	Version  int
	Problems []error
}

func (e *InvalidError) Error() string {
	ver := ""
	if e.Version >= 0 {
		ver = fmt.Sprintf("v%d ", e.Version)
	}
	msg := fmt.Sprintf("invalid %sfile: %v", ver, e.Problems[0])
	if n := len(e.Problems) - 1; n == 1 {
		msg += " (and 1 more problem)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	if errors.Is(e, schema.ErrUnsupportedVersion) {
		return msg + "; use a lockfix that knows its version"
	}
	return msg + "; repair it first with 'lockfix recover'"
}

// Unwrap returns ErrInvalid and the problems.
func (e *InvalidError) Unwrap() []error { return append([]error{ErrInvalid}, e.Problems...) }

// Conversion is a lockfile converted in memory.
type Conversion struct {
	// From and To are the config versions before and after.
	From, To int
	// Before is the decoded input; After the content after the chain, at
	// To. When From equals To, After is Before and Data is nil.
	Before, After *schema.Lockfile
	// Data is After encoded at To; Verify(After) is the check it must pass
	// before it replaces the file.
	Data []byte
	// Dropped lists what lossy steps dropped, one item each ("flag
	// OFFLINE"); empty unless StepOptions.AllowLossy.
	Dropped []string

	// What encodes After at To, for a conversion whose Data is encoded
	// in pieces as it is written (ReplaceInPieces): Data is nil then.
	target  *schema.Schema
	trusted bool
	eo      schema.EncodeOptions
	// src is the file converted, whose bytes Before's strings are.
	src []byte
}

// Sniff returns the config version of b, or -1 and the error when the
// magic or the version byte is not one this build reads.
func Sniff(b []byte) (int, error) {
	s, err := schema.Sniff(b)
	if err != nil {
		return -1, err
	}
	return s.Version, nil
}

// Convert decodes b strictly and converts it to config version to with the
// chain of Plan. The errors are: an *InvalidError for a file that fails
// docs/format.md section 6; an error wrapping ErrNoStep when no chain leads to
// to; the error of a step (wrapping schema.ErrLossy when a step refused to
// drop data); and an encoding error when the result cannot be written at
// to. Convert does not check Data; pass it to Verify.
//
// The strings of Before and After are b's own bytes (a file is not
// copied to be decoded): b must not change while they are used.
func Convert(b []byte, to int, opts schema.StepOptions) (*Conversion, error) {
	return ConvertArriving(b, nil, to, opts)
}

// ConvertArriving is Convert for a b still being read in order, as
// atomicfile.Stream reads it: ready(n) waits until the first n bytes are
// in, and returns how many are (fewer when the read ended early: then the
// caller throws the answer away and converts what was read). The strict
// decode runs while the file is read (schema.Schema.DecodeInPlace).
func ConvertArriving(b []byte, ready func(n int) int, to int, opts schema.StepOptions) (*Conversion, error) {
	return convertArriving(b, ready, to, opts, true)
}

// convertArriving is ConvertArriving; without encode, Data is left nil
// for ReplaceInPieces to encode as it writes.
func convertArriving(b []byte, ready func(n int) int, to int, opts schema.StepOptions, encode bool) (*Conversion, error) {
	head := b
	if ready != nil {
		head = b[:min(len(b), ready(min(len(b), schema.OffConfigVersion+1)))]
	}
	s, err := schema.Sniff(head)
	if err != nil {
		return nil, &InvalidError{Version: -1, Problems: []error{err}}
	}
	l, problems := s.DecodeInPlace(b, ready)
	if len(problems) > 0 {
		return nil, &InvalidError{Version: s.Version, Problems: problems}
	}
	c := &Conversion{From: s.Version, To: to, Before: l, After: l, src: b}
	if s.Version == to {
		return c, nil
	}
	chain, err := Plan(s.Version, to)
	if err != nil {
		return nil, err
	}
	cur := l
	for _, step := range chain {
		out, dropped, err := step.Apply(cur, opts)
		if err != nil {
			return nil, fmt.Errorf("step %d -> %d: %w", step.From, step.To, err)
		}
		if out == nil || out.Config.Version != step.To {
			return nil, fmt.Errorf("step %d -> %d: %w: the step did not produce a version %d lockfile", step.From, step.To, ErrNoStep, step.To)
		}
		c.Dropped = append(c.Dropped, dropped...)
		cur = out
	}
	target, _ := schema.Lookup(to) // Plan checked it
	c.target, c.eo = target, schema.EncodeOptions{Writer: opts.Writer}
	if samePackages(cur.Packages, l.Packages) {
		// One slice for both: a step's copy is not kept.
		cur.Packages = l.Packages
		// The packages are those the strict decode checked (the steps
		// shared or copied them unchanged), and Verify checks the new
		// bytes before they are written.
		c.trusted = true
	}
	c.After = cur
	if !encode {
		return c, nil
	}
	enc := target.EncodeWith
	if c.trusted {
		enc = target.EncodeTrusted
	}
	data, err := enc(cur, c.eo)
	if err != nil {
		return nil, fmt.Errorf("encode at version %d: %w", to, err)
	}
	c.Data = data
	return c, nil
}

// samePackages reports whether a and b hold the same packages: at once
// when they are one slice (steps that leave the packages alone share
// them), else by comparing them.
func samePackages(a, b []schema.Package) bool {
	if len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) {
		return true
	}
	return slices.Equal(a, b)
}

// sameStrings reports whether r holds exactly p's four strings.
func sameStrings(r *schema.RawPackage, p *schema.Package) bool {
	return string(r.Name) == p.Name && string(r.Version) == p.Version &&
		string(r.Resolved) == p.Resolved && string(r.Integrity) == p.Integrity
}

// SameContent returns nil when a and b have the same config and packages,
// and otherwise an error wrapping ErrMismatch that says what differs.
func SameContent(a, b *schema.Lockfile) error {
	if a.Config != b.Config {
		return fmt.Errorf("%w: config %+v, want %+v", ErrMismatch, b.Config, a.Config)
	}
	if !slices.Equal(a.Packages, b.Packages) {
		if len(a.Packages) != len(b.Packages) {
			return fmt.Errorf("%w: %d packages, want %d", ErrMismatch, len(b.Packages), len(a.Packages))
		}
		for i := range a.Packages {
			if a.Packages[i] != b.Packages[i] {
				return fmt.Errorf("%w: package %d is %+v, want %+v", ErrMismatch, i, b.Packages[i], a.Packages[i])
			}
		}
	}
	return nil
}
