// Package schema is the version-independent model of a bun.lockb lockfile
// and the registry of the config versions that lockfix can read and write.
//
// The format is described in docs/format.md: every file starts with
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
	"maps"
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
	// Writer names the program writing the result, for a step into a
	// version that records its writer ("lockfix 0.1.0").
	Writer string
}

// Step converts a lockfile from one version to a neighbouring one.
type Step struct {
	From, To int
	// Lossy says when the step may lose data, for people ("" when never).
	Lossy string
	// Apply converts l (already valid at From) to a lockfile at To. It
	// returns what it dropped, one sentence each; without
	// opts.AllowLossy it refuses instead of dropping, with an error that
	// wraps ErrLossy. It must not change l; out may share l's Packages
	// slice, and then neither is changed afterwards.
	Apply func(l *Lockfile, opts StepOptions) (out *Lockfile, dropped []string, err error)
}

// Schema is the description of one config version, and everything the
// rest of lockfix knows of it: its header as a table of fields, the way
// its package array stores records, the flags it defines, the bun
// releases that write it and its migration steps. The codec (Decode,
// Check, Encode, Fields) is this package's, driven by the description;
// recovery, inspect, dump and validate read the same table.
type Schema struct {
	// Version is the configVersion byte.
	Version int
	// Since is the first bun release that writes this version ("1.4.0", a
	// semantic version: Register refuses anything else); "" for the first
	// version. The version's range of releases ends
	// where the next registered version's begins (see Bun).
	Since string
	// Description is one line for 'lockfix schema'.
	Description string
	// HeaderSize is the size of the header in bytes.
	HeaderSize int
	// Header is the header's fields in file order, starting with Prefix.
	// Together they cover the header exactly.
	Header []HeaderField
	// Framing describes framed records; nil for plain ones.
	Framing *Framing
	// Defines are the feature flags the version defines, by name and
	// mask.
	Defines []FlagInfo

	// Up is the step from Version-1 to Version (nil for the first version).
	Up *Step
	// Down is the step from Version to Version-1 (nil for the first version).
	Down *Step

	// Flags is the mask of Defines, set by Register.
	Flags Flags
	// order is the order of the header checks, and plan the table
	// compiled for the fast path, set by Register.
	order []int
	plan  headerPlan
}

// EncodeOptions tune an encoder.
type EncodeOptions struct {
	// Writer names the program writing the file, for versions that record
	// it, when the lockfile names none (Lockfile.Writer). Empty: "lockfix".
	Writer string
}

// Decode decodes b strictly: it returns the lockfile, or nil and the
// first problem found.
func (s *Schema) Decode(b []byte) (*Lockfile, error) {
	l, errs := s.parse(b, true, false, nil, hooks{})
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return l, nil
}

// Load checks and decodes b in one parse: the lockfile when b is valid,
// else nil and every problem, as Check reports them.
func (s *Schema) Load(b []byte) (*Lockfile, []error) { return s.parse(b, true, false, nil, hooks{}) }

// DecodeInPlace decodes b strictly without copying it: it returns the
// lockfile, whose package strings are substrings of b, or nil and every
// problem found (those of Check). b must not change while the lockfile is
// used. When ready is not nil, b is still being read, as for
// CheckArriving: the caller throws the answer away when the read ended
// early and decodes what was read.
func (s *Schema) DecodeInPlace(b []byte, ready func(n int) int) (*Lockfile, []error) {
	return s.parse(b, true, true, ready, hooks{})
}

// Check reports every problem of docs/format.md section 6 in b, in file order;
// nil when b is valid.
func (s *Schema) Check(b []byte) []error {
	_, errs := s.parse(b, false, false, nil, hooks{})
	return errs
}

// Known vouches for records in a check (Schema.CheckKnown): it reports
// whether record i's strings are byte for byte those of a package that
// has passed the rules of docs/format.md section 5 (a package of a strict
// decode, or one an encoder checked). It may be called from several
// goroutines at once, at most once per record, in no particular order,
// and must not keep r.
type Known func(i int, r *RawPackage) bool

// CheckKnown is Check for bytes whose records the caller can vouch for,
// such as the new bytes of a migration, which must hold the packages of a
// file that passed Check: a record that known vouches for does not have
// its strings' rules checked again, since they are the strings of a
// package that passed them, and the rules of section 5 depend on a
// string alone. Everything else is checked as Check does: the header, the
// frames, every checksum, the sizes and counts, the order of the records
// and what follows the last one. A record known does not vouch for is
// checked in full. CheckKnown returns the same problems as Check.
func (s *Schema) CheckKnown(b []byte, known Known) []error {
	_, errs := s.parse(b, false, false, nil, hooks{known: known})
	return errs
}

// CheckArriving is Check for a b still being read in order: it calls
// ready(n) before it reads b[n-1], and ready returns how many bytes are in
// once there are n or more (or fewer when the read has ended early: the
// caller then throws the answer away and checks what was read). It lets
// the check of a large file run while the file is read; a version with
// plain records hops over their lengths as the bytes arrive, and checks
// them in chunks behind it (on one goroutine, or for a small file, it
// waits for the whole file).
func (s *Schema) CheckArriving(b []byte, ready func(n int) int) []error {
	_, errs := s.parse(b, false, false, ready, hooks{})
	return errs
}

// Visitor is shown the records of a check (Schema.CheckVisit). The check
// calls it once for each run of records it checks, with the number of the
// run's first record, on the goroutine that checks the run; the function
// it returns is then called with each record of the run whose four
// strings could be read, valid or not, in order, on that goroutine. Runs
// are checked on several goroutines at once: the Visitor must be safe for
// that, a run's function need not be. Neither may keep r, whose strings
// alias b.
type Visitor func(first int) func(i int, r *RawPackage)

// CheckVisit is Check (CheckArriving when ready is not nil) that shows
// visit the records as it checks them: a command that needs something of
// every record of a valid file, such as inspect's registries, takes it in
// the check's own pass instead of a second one. It returns the problems
// Check returns.
func (s *Schema) CheckVisit(b []byte, ready func(n int) int, visit Visitor) []error {
	_, errs := s.parse(b, false, false, ready, hooks{visit: visit})
	return errs
}

// Encode encodes l at this version. It fails when l cannot be represented
// (an invalid field, unsorted or duplicate packages, a flag the version
// does not define).
func (s *Schema) Encode(l *Lockfile) ([]byte, error) { return s.encode(l, EncodeOptions{}, false) }

// EncodeWith is Encode with options.
func (s *Schema) EncodeWith(l *Lockfile, o EncodeOptions) ([]byte, error) {
	return s.encode(l, o, false)
}

// EncodeTrusted is EncodeWith for a lockfile whose packages came from a
// strict decode: it checks the config, not the packages' rules, order and
// uniqueness, which are a third of the work of converting a file. Its
// result must be checked before it is used (migrate decodes the new bytes
// strictly and compares them with the lockfile), so a package that is not
// valid after all is caught there.
func (s *Schema) EncodeTrusted(l *Lockfile, o EncodeOptions) ([]byte, error) {
	return s.encode(l, o, true)
}

// Bun returns the range of bun releases that write this version, as a
// hashicorp/go-version constraint: from Since to the next registered
// version's Since (">= 1.3.5, < 1.4.0"; "< 1.3.5" for the first; ">= 1.4.0"
// for the last).
func (s *Schema) Bun() string {
	next := ""
	for _, v := range Versions() {
		if o, _ := Lookup(v); v > s.Version && o.Since != "" {
			next = o.Since
			break
		}
	}
	switch {
	case s.Since == "" && next == "":
		return ">= 0.0.0"
	case s.Since == "":
		return "< " + next
	case next == "":
		return ">= " + s.Since
	}
	return ">= " + s.Since + ", < " + next
}

var (
	mu      sync.RWMutex
	schemas = map[int]*Schema{}
)

// Register makes a version available. It panics if s is nil, its version
// is outside 0-255 or already registered, or its description does not
// hold together: a header table that does not start with Prefix, leaves a
// byte of the header undescribed or describes one twice, lacks a count
// field, or a framing without a marker. It is meant to be called from the
// version package's init.
func Register(s *Schema) {
	if s == nil {
		panic("schema: Register of a nil schema")
	}
	if s.Version < 0 || s.Version > 255 {
		panic(fmt.Sprintf("schema: Register of version %d, outside 0-255", s.Version))
	}
	if err := s.validate(); err != nil {
		panic(fmt.Sprintf("schema: Register of version %d: %v", s.Version, err))
	}
	s.Flags = 0
	for _, f := range s.Defines {
		s.Flags |= f.Mask
	}
	s.order = s.checkOrder()
	s.plan = s.compile()
	mu.Lock()
	defer mu.Unlock()
	if _, dup := schemas[s.Version]; dup {
		panic(fmt.Sprintf("schema: Register called twice for version %d", s.Version))
	}
	schemas[s.Version] = s
}

// validate checks that a description holds together.
func (s *Schema) validate() error {
	prefix := Prefix()
	if len(s.Header) < len(prefix) {
		return fmt.Errorf("the header table has %d fields, fewer than the common prefix", len(s.Header))
	}
	for i, f := range prefix {
		if g := s.Header[i]; g.Name != f.Name || g.Offset != f.Offset || g.Size != f.Size || g.Kind != f.Kind {
			return fmt.Errorf("field %d is %q, the common prefix has %q there", i, g.Name, f.Name)
		}
	}
	at, counts := 0, 0
	for _, f := range s.Header {
		switch {
		case f.Size <= 0:
			return fmt.Errorf("field %q has size %d", f.Name, f.Size)
		case f.Offset != at:
			return fmt.Errorf("field %q starts at 0x%x, the previous field ends at 0x%x", f.Name, f.Offset, at)
		case f.Kind == KindFixed && f.Value != nil && len(f.Value) != f.Size:
			return fmt.Errorf("fixed field %q has %d bytes of value for its %d", f.Name, len(f.Value), f.Size)
		case (f.Kind == KindHeaderChecksum || f.Kind == KindArrayChecksum || f.Kind == KindArraySize) && f.Size != 8,
			f.Kind == KindCount && f.Size != 4:
			return fmt.Errorf("field %q of kind %s has size %d", f.Name, f.Kind, f.Size)
		}
		if f.Kind == KindCount {
			counts++
		}
		at = f.End()
	}
	if at != s.HeaderSize {
		return fmt.Errorf("the fields end at 0x%x, the header at 0x%x", at, s.HeaderSize)
	}
	if counts != 1 {
		return fmt.Errorf("the header has %d count fields, want 1", counts)
	}
	if s.Since != "" && semverFault([]byte(s.Since)) != okay {
		// Bun's ranges are built from it, for go-version to read.
		return fmt.Errorf("since %q: want a bun release such as 1.4.0", s.Since)
	}
	if fr := s.Framing; fr != nil && (fr.Marker == "" || fr.MinBody < 8 || fr.MaxBody < fr.MinBody) {
		return fmt.Errorf("framing %+v: want a marker and 8 <= MinBody <= MaxBody", *fr)
	}
	return nil
}

// Scope saves the registry and returns a function that restores it, for
// tests that register versions of their own: they call
// t.Cleanup(schema.Scope()) first, and nothing they register leaks into
// later tests.
func Scope() (restore func()) {
	mu.Lock()
	saved := maps.Clone(schemas)
	mu.Unlock()
	return func() {
		mu.Lock()
		schemas = saved
		mu.Unlock()
	}
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
