package migrate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lockfix/lockfix/schema"
)

// ErrInvalid is returned by Convert for a file that fails the strict
// checks of FORMAT.md section 6. Such a file is never migrated: it must be
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
// FORMAT.md section 6; an error wrapping ErrNoStep when no chain leads to
// to; the error of a step (wrapping schema.ErrLossy when a step refused to
// drop data); and an encoding error when the result cannot be written at
// to. Convert does not check Data; pass it to Verify.
func Convert(b []byte, to int, opts schema.StepOptions) (*Conversion, error) {
	s, err := schema.Sniff(b)
	if err != nil {
		return nil, &InvalidError{Version: -1, Problems: []error{err}}
	}
	l, err := s.Decode(b)
	if err != nil {
		problems := s.Check(b)
		if len(problems) == 0 {
			problems = []error{err}
		}
		return nil, &InvalidError{Version: s.Version, Problems: problems}
	}
	c := &Conversion{From: s.Version, To: to, Before: l, After: l}
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
	eo := schema.EncodeOptions{Writer: opts.Writer}
	encode := target.EncodeWith
	if slices.Equal(cur.Packages, l.Packages) {
		// The packages are those the strict decode checked (the steps
		// copied them unchanged; equal strings that share their bytes
		// compare in a few instructions), and Verify checks the new
		// bytes before they are written.
		encode = target.EncodeTrusted
	}
	data, err := encode(cur, eo)
	if err != nil {
		return nil, fmt.Errorf("encode at version %d: %w", to, err)
	}
	c.After, c.Data = cur, data
	return c, nil
}

// Verify returns the check that the new bytes of a conversion to want's
// version pass before they replace a file: their version byte is the
// target, every check of FORMAT.md section 6 passes, and decoded again
// they hold exactly want's config and packages. (The writer field, which
// is informational and which encoders fill in, is not compared.)
func Verify(want *schema.Lockfile) func([]byte) error {
	to := want.Config.Version
	return func(b []byte) error {
		s, err := schema.Sniff(b)
		if err != nil {
			return err
		}
		if s.Version != to {
			return fmt.Errorf("%w: the new bytes are version %d, want %d", ErrMismatch, s.Version, to)
		}
		// Decode is the strict check: it fails on any problem Check finds.
		// Check runs only to list them all.
		got, err := s.Decode(b)
		if err != nil {
			problems := s.Check(b)
			if len(problems) == 0 {
				problems = []error{err}
			}
			return &InvalidError{Version: to, Problems: problems}
		}
		return SameContent(want, got)
	}
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
