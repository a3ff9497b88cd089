package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The sentinel errors, one per error name of docs/format.md section 6. Each
// error's message is its stable name, so it can be shown and matched as is.
// Problems with a position come back as a *CorruptionError that wraps one of
// these; use errors.Is to branch on the kind and errors.As for the position.
var (
	// ErrCorruptedHeader is returned when the magic is not "BUN1", the
	// padding or the reserved byte is not zero, a v0 file has a non-zero
	// checksum field, or a v2 headerSize is not 104.
	ErrCorruptedHeader = errors.New("CorruptedHeader")
	// ErrUnsupportedVersion is returned when configVersion is above what
	// this build has registered.
	ErrUnsupportedVersion = errors.New("UnsupportedVersion")
	// ErrTruncated is returned when the file ends inside the header or
	// inside a record.
	ErrTruncated = errors.New("Truncated")
	// ErrChecksumMismatch is returned when a header or package-array
	// CRC-64 does not match.
	ErrChecksumMismatch = errors.New("ChecksumMismatch")
	// ErrRecordChecksumMismatch is returned when a v2 record's CRC-32C does
	// not match its body.
	ErrRecordChecksumMismatch = errors.New("RecordChecksumMismatch")
	// ErrInvalidRegistryHash is returned when registryHash is 0.
	ErrInvalidRegistryHash = errors.New("InvalidRegistryHash")
	// ErrInvalidTerminalMode is returned when terminalMode is not 0, 1 or 2.
	ErrInvalidTerminalMode = errors.New("InvalidTerminalMode")
	// ErrInvalidTerminalSize is returned when rows or cols is 0.
	ErrInvalidTerminalSize = errors.New("InvalidTerminalSize")
	// ErrInvalidFeatureFlags is returned when a flag bit is set that the
	// file's version does not define.
	ErrInvalidFeatureFlags = errors.New("InvalidFeatureFlags")
	// ErrPackageCountMismatch is returned when packageCount, packagesSize or
	// the end of the file disagree with the records.
	ErrPackageCountMismatch = errors.New("PackageCountMismatch")
	// ErrInvalidPackage is returned when a record breaks a rule of
	// docs/format.md section 5.
	ErrInvalidPackage = errors.New("InvalidPackage")
	// ErrUnsortedPackages is returned when records are not sorted by name,
	// then version, comparing bytes.
	ErrUnsortedPackages = errors.New("UnsortedPackages")
	// ErrDuplicatePackage is returned when a (name, version) pair appears
	// twice.
	ErrDuplicatePackage = errors.New("DuplicatePackage")
	// ErrTrailingData is returned when bytes follow the last record.
	ErrTrailingData = errors.New("TrailingData")
)

// Sentinels lists every sentinel error in the order of docs/format.md section 6.
var Sentinels = []error{
	ErrCorruptedHeader, ErrUnsupportedVersion, ErrTruncated,
	ErrChecksumMismatch, ErrRecordChecksumMismatch, ErrInvalidRegistryHash,
	ErrInvalidTerminalMode, ErrInvalidTerminalSize, ErrInvalidFeatureFlags,
	ErrPackageCountMismatch, ErrInvalidPackage, ErrUnsortedPackages,
	ErrDuplicatePackage, ErrTrailingData,
}

// ErrorName returns the FORMAT.md error name of err ("ChecksumMismatch"), or
// "" when err wraps none of the sentinels.
func ErrorName(err error) string {
	for _, s := range Sentinels {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return ""
}

// NoRecord is the Record of a CorruptionError that concerns no record.
const NoRecord = -1

// NoOffset is the Offset of a CorruptionError that has no position in
// the file: a file that could not be read at all.
const NoOffset = -1

// CorruptionError is a problem with a file: lockfix's one problem type,
// used by every check, by recovery's report and by every --json. It wraps
// one of the sentinel errors (or, for a file that cannot be read, the
// I/O error); Path is the file (set by whoever read it, "" when the bytes
// came from nowhere in particular), Offset the byte offset of the
// offending field (NoOffset when there is none), Record the index of the
// package record (NoRecord for the header), Field the name of the field
// and Rule a short sentence that says what rule is broken.
//
// In JSON it is an object with the keys error (the FORMAT.md error name,
// or "IOError"), offset, record, field, rule and path (each left out when
// it is unset) and message (what Error returns).
type CorruptionError struct {
	Path   string
	Offset int64
	Record int
	Field  string
	Rule   string
	Err    error
}

// Error returns "path: Name at offset 0xNN (record N, field): rule",
// without "path: " when Path is empty or the problem already names it
// (an I/O error such as "open PATH: permission denied").
func (e *CorruptionError) Error() string {
	p := e.Problem()
	if e.Path == "" || (e.Offset < 0 && strings.Contains(p, e.Path)) {
		return p
	}
	return e.Path + ": " + p
}

// Problem returns the problem without the path: "Name at offset 0xNN
// (record N, field): rule".
func (e *CorruptionError) Problem() string {
	if e.Offset < 0 {
		if e.Rule == "" {
			return e.Err.Error()
		}
		return e.Err.Error() + ": " + e.Rule
	}
	loc := fmt.Sprintf("offset 0x%x", e.Offset)
	switch {
	case e.Record >= 0 && e.Field != "":
		loc += fmt.Sprintf(" (record %d, %s)", e.Record, e.Field)
	case e.Record >= 0:
		loc += fmt.Sprintf(" (record %d)", e.Record)
	case e.Field != "":
		loc += " (" + e.Field + ")"
	}
	if e.Rule == "" {
		return fmt.Sprintf("%v at %s", e.Err, loc)
	}
	return fmt.Sprintf("%v at %s: %s", e.Err, loc, e.Rule)
}

// Name returns the FORMAT.md error name of the problem, or "IOError" when
// it wraps none of the sentinels.
func (e *CorruptionError) Name() string {
	if n := ErrorName(e.Err); n != "" {
		return n
	}
	return "IOError"
}

// Unwrap returns the sentinel error.
func (e *CorruptionError) Unwrap() error { return e.Err }

// problemJSON is the JSON form of a CorruptionError.
type problemJSON struct {
	Error   string `json:"error"`
	Offset  *int64 `json:"offset,omitempty"`
	Record  *int   `json:"record,omitempty"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// MarshalJSON returns the problem as a JSON object (see CorruptionError).
func (e *CorruptionError) MarshalJSON() ([]byte, error) {
	p := problemJSON{Error: e.Name(), Path: e.Path, Field: e.Field, Rule: e.Rule, Message: e.Error()}
	if e.Offset >= 0 {
		p.Offset = &e.Offset
	}
	if e.Record >= 0 {
		p.Record = &e.Record
	}
	return json.Marshal(p)
}

// AsProblem returns err as a CorruptionError of the file at path: a copy
// of the CorruptionError err is or wraps, with Path set, or else (an I/O
// error) one with no position that wraps err. A Path err already has is
// kept.
func AsProblem(err error, path string) *CorruptionError {
	var ce *CorruptionError
	if errors.As(err, &ce) {
		c := *ce
		if c.Path == "" {
			c.Path = path
		}
		return &c
	}
	return &CorruptionError{Path: path, Offset: NoOffset, Record: NoRecord, Err: err}
}

// AsProblems is AsProblem of each of errs.
func AsProblems(errs []error, path string) []*CorruptionError {
	out := make([]*CorruptionError, 0, len(errs))
	for _, e := range errs {
		out = append(out, AsProblem(e, path))
	}
	return out
}

// Corrupt returns a *CorruptionError for a header field.
func Corrupt(err error, off int, field, rule string) *CorruptionError {
	return &CorruptionError{Offset: int64(off), Record: NoRecord, Field: field, Rule: rule, Err: err}
}

// CorruptRecord returns a *CorruptionError for a package record.
func CorruptRecord(err error, off, record int, field, rule string) *CorruptionError {
	return &CorruptionError{Offset: int64(off), Record: record, Field: field, Rule: rule, Err: err}
}
