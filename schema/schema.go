// Package schema is the version-independent model of a bun.lockb lockfile
// and the registry of the config versions that lockfix can read and write.
//
// The format is defined in FORMAT.md (shared/spec): every file starts with
// the magic "BUN1" and a 13-byte config block (configVersion, registryHash,
// featureFlags, terminalMode, rows, cols, reserved), followed by a header
// whose layout depends on the version, and an array of package records
// sorted by name and version. Version 0 has no checksum, version 1 a CRC-64
// of its 64-byte header, version 2 a 104-byte header with CRC-64s of the
// header and of the array and a CRC-32C on every record.
//
// Each version lives in its own package (schema/v0, schema/v1, schema/v2)
// that registers a *Schema in its init function, as image codecs do with
// image.RegisterFormat. Programs get every version by importing schema/all;
// this package never imports a version.
//
// Strict checks report every problem by its stable FORMAT.md name: the
// sentinels ErrCorruptedHeader ... ErrTrailingData, wrapped in a
// *CorruptionError that carries the byte offset, the record index and the
// rule. Decoders never panic, never read past their input and never
// allocate from a count read from the file.
package schema

import (
	"fmt"
	"slices"
	"sync"
)

// Lockfile is the decoded content of a lockfile, independent of its
// version.
type Lockfile struct {
	Config Config
	// Writer is the program that wrote the file, for versions that record
	// it (v2); "" elsewhere.
	Writer   string
	Packages []Package
}

// Clone returns a deep copy of l.
func (l *Lockfile) Clone() *Lockfile {
	c := *l
	c.Packages = slices.Clone(l.Packages)
	return &c
}

// Field is one field of a header, as dump --hex shows it.
type Field struct {
	Offset int
	Size   int
	Name   string
	// Value is the decoded value, for people.
	Value string
	// Err is the problem with this field, or nil.
	Err error
}

// StepOptions tune a migration step.
type StepOptions struct {
	// AllowLossy lets a step drop what the target version cannot hold.
	AllowLossy bool
}

// Step converts a lockfile from one version to a neighbouring one.
type Step struct {
	From, To int
	// Lossy says when the step may lose data, for people ("" when never).
	Lossy string
	// Apply converts l (already valid at From) to a lockfile at To. It
	// returns what it dropped, one sentence each; without
	// opts.AllowLossy it refuses instead of dropping, with an error that
	// wraps ErrLossy.
	Apply func(l *Lockfile, opts StepOptions) (out *Lockfile, dropped []string, err error)
}

// Schema is one config version: its layout, codec and migration steps.
type Schema struct {
	// Version is the configVersion byte.
	Version int
	// Bun is the range of bun releases that write this version, as a
	// hashicorp/go-version constraint (">= 1.3.5, < 1.4.0").
	Bun string
	// HeaderSize is the size of the header in bytes.
	HeaderSize int
	// Flags are the feature flag bits the version defines.
	Flags Flags
	// Description is one line for 'lockfix schema'.
	Description string

	// Decode decodes b strictly: it returns the lockfile, or nil and the
	// first problem found.
	Decode func(b []byte) (*Lockfile, error)
	// Check reports every problem of FORMAT.md section 6 in b, in file
	// order; nil when b is valid.
	Check func(b []byte) []error
	// CheckArriving, when set, is Check for a b still being read in
	// order: it calls ready(n) before it reads b[n-1], and ready returns
	// how many bytes are in once there are n or more (or fewer when the
	// read has ended early: the caller then throws the answer away and
	// checks what was read). It lets the check of a large file run while
	// the file is read. Optional.
	CheckArriving func(b []byte, ready func(n int) int) []error
	// Encode encodes l at this version. It fails when l cannot be
	// represented (an invalid field, unsorted or duplicate packages, a
	// flag the version does not define).
	Encode func(l *Lockfile) ([]byte, error)
	// EncodeTrusted, when set, is Encode for a lockfile whose packages
	// came from a strict decode: it checks the config, not the packages'
	// rules, order and uniqueness, which are a third of the work of
	// converting a file. Its result must be checked before it is used
	// (migrate decodes the new bytes strictly and compares them with the
	// lockfile), so a package that is not valid after all is caught
	// there. Optional.
	EncodeTrusted func(l *Lockfile) ([]byte, error)
	// Fields returns the header fields of b for dump --hex; b may be short
	// or damaged.
	Fields func(b []byte) []Field

	// Up is the step from Version-1 to Version (nil for the first version).
	Up *Step
	// Down is the step from Version to Version-1 (nil for the first version).
	Down *Step
}

var (
	mu      sync.RWMutex
	schemas = map[int]*Schema{}
)

// Register makes a schema available. It panics if s is nil, lacks Decode,
// Check or Encode, has a version outside 0-255, or its version is already
// registered. It is meant to be called from the version package's init.
func Register(s *Schema) {
	if s == nil {
		panic("schema: Register of a nil schema")
	}
	if s.Decode == nil || s.Check == nil || s.Encode == nil {
		panic(fmt.Sprintf("schema: Register of version %d without Decode, Check or Encode", s.Version))
	}
	if s.Version < 0 || s.Version > 255 {
		panic(fmt.Sprintf("schema: Register of version %d, outside 0-255", s.Version))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := schemas[s.Version]; dup {
		panic(fmt.Sprintf("schema: Register called twice for version %d", s.Version))
	}
	schemas[s.Version] = s
}

// Lookup returns the schema of a config version.
func Lookup(version int) (*Schema, bool) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := schemas[version]
	return s, ok
}

// Versions returns the registered config versions in increasing order.
func Versions() []int {
	mu.RLock()
	defer mu.RUnlock()
	vs := make([]int, 0, len(schemas))
	for v := range schemas {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Latest returns the highest registered version, or -1 when none is.
func Latest() int {
	vs := Versions()
	if len(vs) == 0 {
		return -1
	}
	return vs[len(vs)-1]
}

// Sniff returns the schema of the file whose first bytes are b. It returns
// ErrTruncated when b is shorter than the magic and version, a
// CorruptedHeader error when the magic is not "BUN1", and an
// UnsupportedVersion error when the version is not registered.
func Sniff(b []byte) (*Schema, error) {
	if len(b) < OffConfigVersion+1 {
		return nil, Corrupt(ErrTruncated, len(b), "magic", fmt.Sprintf("the file is %d bytes, too short for the magic and configVersion", len(b)))
	}
	if string(b[:4]) != Magic {
		return nil, Corrupt(ErrCorruptedHeader, OffMagic, "magic", fmt.Sprintf("magic is %q, want %q", b[:4], Magic))
	}
	s, ok := Lookup(int(b[OffConfigVersion]))
	if !ok {
		return nil, Corrupt(ErrUnsupportedVersion, OffConfigVersion, "configVersion",
			fmt.Sprintf("configVersion %d is not known to this build (known: %v)", b[OffConfigVersion], Versions()))
	}
	return s, nil
}

// Decode sniffs b and decodes it strictly with its version's schema.
func Decode(b []byte) (*Lockfile, error) {
	s, err := Sniff(b)
	if err != nil {
		return nil, err
	}
	return s.Decode(b)
}

// Check sniffs b and reports every problem; nil when b is valid.
func Check(b []byte) []error {
	s, err := Sniff(b)
	if err != nil {
		return []error{err}
	}
	return s.Check(b)
}

// Encode encodes l at l.Config.Version.
func Encode(l *Lockfile) ([]byte, error) {
	s, ok := Lookup(l.Config.Version)
	if !ok {
		return nil, fmt.Errorf("encode: %w: version %d (known: %v)", ErrUnsupportedVersion, l.Config.Version, Versions())
	}
	return s.Encode(l)
}
