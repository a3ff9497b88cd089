package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrLossy is returned by a migration step that would drop data the
// target version cannot hold, when it was not allowed to.
var ErrLossy = errors.New("lossy migration refused")

// SortPackages sorts records by name, then version, comparing bytes, as
// writers must.
func SortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, func(a, b Package) int { return ComparePackages(&a, &b) })
}

// CheckLockfile checks that l can be written at a version defining the
// flags in defined: a valid config, valid packages, sorted and unique. It
// returns every problem, with Record set for package problems and Offset
// left at 0 (the model has no offsets).
func CheckLockfile(l *Lockfile, defined Flags) []error {
	errs := CheckConfig(l.Config, defined)
	for i := range l.Packages {
		p := &l.Packages[i]
		if field, rule := CheckPackage(p); rule != "" {
			errs = append(errs, &CorruptionError{Record: i, Field: field, Rule: rule, Err: ErrInvalidPackage})
		}
		if i == 0 {
			continue
		}
		switch c := ComparePackages(&l.Packages[i-1], p); {
		case c == 0:
			errs = append(errs, &CorruptionError{Record: i, Field: "name", Err: ErrDuplicatePackage,
				Rule: fmt.Sprintf("%s@%s appears twice", p.Name, p.Version)})
		case c > 0:
			errs = append(errs, &CorruptionError{Record: i, Field: "name", Err: ErrUnsortedPackages,
				Rule: fmt.Sprintf("%s@%s sorts before %s@%s", p.Name, p.Version, l.Packages[i-1].Name, l.Packages[i-1].Version)})
		}
	}
	return errs
}

// CheckEncode is the check an encoder at version makes before it writes
// l: it returns l's config at that version and its problems, those of
// CheckLockfile, or with trusted those of the config alone (see
// Schema.EncodeTrusted).
func CheckEncode(l *Lockfile, version int, defined Flags, trusted bool) (Config, []error) {
	cfg := l.Config
	cfg.Version = version
	if trusted {
		return cfg, CheckConfig(cfg, defined)
	}
	probe := *l
	probe.Config = cfg
	return cfg, CheckLockfile(&probe, defined)
}

// EncodeError is returned by encoders for a lockfile that cannot be
// written; it carries every problem.
type EncodeError struct {
	Version  int
	Problems []error
}

func (e *EncodeError) Error() string {
	msg := fmt.Sprintf("cannot encode at version %d: %v", e.Version, e.Problems[0])
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	return msg
}

// Unwrap returns the problems, so that errors.Is finds their sentinels.
func (e *EncodeError) Unwrap() []error { return e.Problems }

// MinPlainRecord is the smallest plain record: four lengths, a one-byte
// name and the version "0.0.0". Decoders bound preallocation with it.
const MinPlainRecord = 8 + 1 + 5

// FlagsStep returns the up step from version from-1 to from, which only
// changes the version, and the down step back, which refuses (or with
// AllowLossy drops) the flags that the lower version does not define.
// lower and upper are the flags the two versions define. Version packages
// use it for steps that change nothing else in the model.
func FlagsStep(from int, lowerFlags, upperFlags []FlagInfo) (up, down *Step) {
	var lower, upper Flags
	for _, f := range lowerFlags {
		lower |= f.Mask
	}
	var lost []string
	for _, f := range upperFlags {
		upper |= f.Mask
		if lower&f.Mask == 0 {
			lost = append(lost, f.Name)
		}
	}
	// The steps share l's packages, which they do not change: a copy
	// would cost a slice as large as a third of the file.
	up = &Step{From: from - 1, To: from, Apply: func(l *Lockfile, _ StepOptions) (*Lockfile, []string, error) {
		out := *l
		out.Config.Version = from
		return &out, nil, nil
	}}
	down = &Step{From: from, To: from - 1, Apply: func(l *Lockfile, opts StepOptions) (*Lockfile, []string, error) {
		out := *l
		out.Config.Version = from - 1
		extra := l.Config.Flags &^ lower
		if extra == 0 {
			return &out, nil, nil
		}
		if !opts.AllowLossy {
			return nil, nil, fmt.Errorf("%w: version %d cannot hold the flags %s (use --allow-lossy to drop them)", ErrLossy, from-1, extra)
		}
		out.Config.Flags &^= extra
		var dropped []string
		for _, f := range upperFlags {
			if extra&f.Mask != 0 {
				dropped = append(dropped, "flag "+f.Name)
			}
		}
		return &out, dropped, nil
	}}
	if len(lost) > 0 {
		set, them := " is set: version %d cannot hold it", ""
		if len(lost) > 1 {
			set, them = " is set: version %d cannot hold them", "any of "
		}
		down.Lossy = "when " + them + strings.Join(lost, ", ") + fmt.Sprintf(set, from-1)
	}
	return up, down
}
