package migrate

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/lockfix/lockfix/schema"
)

// Expect is what the new bytes of a write must hold. Every lockfix
// command that writes a lockfile checks its new bytes with Verify before
// they replace anything (atomicfile runs the check on the bytes as
// written): migrate and the merge driver expect a lockfile's content
// (Content), pack a digest of its input's packages, recover a valid file
// of the version it repaired, and set and feature the file they edit,
// changed only where they wrote.
type Expect struct {
	// Version is the config version the bytes must be; -1 for any.
	Version int
	// Config, when not nil, is the config block they must hold.
	Config *schema.Config
	// Writer, when not nil, is the writer field they must hold; a
	// version without one holds "".
	Writer *string
	// Packages, when not nil, says which packages they must hold; nil
	// takes any packages that pass the strict check.
	Packages Packages
	// Old, when not nil, is the file an edit started from, which passed
	// the strict check: the new bytes must be as long, keep its package
	// records byte for byte and differ from its header only at offsets
	// Edited reports; then only their header is checked again.
	Old    []byte
	Edited func(off int) bool
}

// Packages is what the records of new bytes must be, compared in the
// pass of the strict check (schema.CheckKnown).
type Packages interface {
	// Begin is called before each check (a Verify may run more than
	// once).
	Begin()
	// Vouch reports whether record i is the package meant at index i and
	// has passed the rules of docs/format.md section 5 already (it is
	// then not checked against them again). It is called from several
	// goroutines at once, at most once per record, and must not keep r.
	Vouch(i int, r *schema.RawPackage) bool
	// Done is called after a clean check of b, a file of s with n
	// records (or its header alone, when its records were checked in
	// pieces as they were written); it returns an error wrapping
	// ErrMismatch when they were not the packages meant.
	Done(b []byte, s *schema.Schema, n int) error
}

// Content is the Expect of a file that holds exactly l: its version, its
// config and its packages in order. (The writer field, which is
// informational and which encoders fill in, is not compared.) l's
// packages must each have passed the rules of section 5, as those of
// Convert, a merge and a strict decode have.
func Content(l *schema.Lockfile) Expect {
	cfg := l.Config
	return Expect{Version: cfg.Version, Config: &cfg, Packages: PackagesOf(l.Packages)}
}

// Verify returns the check of new bytes against e: lockfix's one verify
// before a write. The bytes are sniffed and must be e's version; every
// check of docs/format.md section 6 passes (of the header alone for an
// edit of e.Old); and they hold e's config, writer and packages. The
// records are compared where they lie, in the pass of the check, with no
// decoded copy of the new file.
func Verify(e Expect) func([]byte) error {
	return func(b []byte) error {
		s, err := e.schemaOf(b)
		if err != nil {
			return err
		}
		if e.Old != nil {
			if err := keepsRecords(b, e.Old, s.HeaderSize, e.Edited); err != nil {
				return err
			}
			if errs, _ := s.CheckHeader(b); len(errs) > 0 {
				return &InvalidError{Version: s.Version, Problems: errs}
			}
		} else if problems := s.CheckKnown(b, e.known()); len(problems) > 0 {
			return &InvalidError{Version: s.Version, Problems: problems}
		}
		return e.holds(s, b)
	}
}

// schemaOf sniffs the new bytes b (or their header) and checks that they
// are e's version.
func (e *Expect) schemaOf(b []byte) (*schema.Schema, error) {
	s, err := schema.Sniff(b)
	if err != nil {
		return nil, err
	}
	if e.Version >= 0 && s.Version != e.Version {
		return nil, fmt.Errorf("%w: the new bytes are version %d, want %d", ErrMismatch, s.Version, e.Version)
	}
	return s, nil
}

// known starts a check of e's packages and returns what vouches for the
// records in it; nil when e takes any packages.
func (e *Expect) known() schema.Known {
	if e.Packages == nil {
		return nil
	}
	e.Packages.Begin()
	return e.Packages.Vouch
}

// holds is the end of a check of new bytes b of s that passed the strict
// check (b may be their header alone, when their records were checked in
// pieces): it returns how they break e's config, writer and packages.
func (e *Expect) holds(s *schema.Schema, b []byte) error {
	if got := schema.DecodeConfig(b[schema.OffConfigVersion:]); e.Config != nil && got != *e.Config {
		return fmt.Errorf("%w: config %+v, want %+v", ErrMismatch, got, *e.Config)
	}
	if e.Writer != nil {
		got := ""
		if wf := s.FieldOf(schema.KindWriter); wf != nil {
			got = schema.WriterString(b[wf.Offset:wf.End()])
		}
		if got != *e.Writer {
			return fmt.Errorf("%w: the writer is %q, want %q", ErrMismatch, got, *e.Writer)
		}
	}
	if e.Packages != nil {
		// The check passed: the count field is the number of records.
		cf := s.FieldOf(schema.KindCount)
		return e.Packages.Done(b, s, int(schema.Uint(b[cf.Offset:cf.End()])))
	}
	return nil
}

// keepsRecords reports how b, an edit of old, breaks Expect.Old: another
// length, records that are not old's, or a header byte changed outside
// the fields edited.
func keepsRecords(b, old []byte, headerSize int, edited func(int) bool) error {
	if len(b) != len(old) || len(b) < headerSize {
		return fmt.Errorf("%w: the new file is %d bytes, the old %d: only the header may change", ErrMismatch, len(b), len(old))
	}
	if !bytes.Equal(b[headerSize:], old[headerSize:]) {
		return fmt.Errorf("%w: the package records are not the file's own", ErrMismatch)
	}
	for i := range headerSize {
		if b[i] != old[i] && (edited == nil || !edited(i)) {
			return fmt.Errorf("%w: the header changed at offset 0x%02x, outside the fields the edit writes", ErrMismatch, i)
		}
	}
	return nil
}

// PackagesOf is the Packages of exactly pkgs, in order.
func PackagesOf(pkgs []schema.Package) Packages {
	p := &packageList{pkgs: pkgs}
	p.Begin()
	return p
}

type packageList struct {
	pkgs []schema.Package
	// bad is the first record that differs from its package (or has
	// none), math.MaxInt64 while none does, and got that record; set
	// from several goroutines, under mu.
	bad atomic.Int64
	mu  sync.Mutex
	got schema.Package
}

func (p *packageList) Begin() { p.bad.Store(math.MaxInt64) }

func (p *packageList) Vouch(i int, r *schema.RawPackage) bool {
	if i < len(p.pkgs) && sameStrings(r, &p.pkgs[i]) {
		return true
	}
	p.mu.Lock()
	if int64(i) < p.bad.Load() {
		p.bad.Store(int64(i))
		p.got = r.Package()
	}
	p.mu.Unlock()
	return false
}

func (p *packageList) Done(_ []byte, _ *schema.Schema, n int) error {
	if n != len(p.pkgs) {
		return fmt.Errorf("%w: %d packages, want %d", ErrMismatch, n, len(p.pkgs))
	}
	if i := p.bad.Load(); i < int64(len(p.pkgs)) {
		p.mu.Lock()
		got := p.got
		p.mu.Unlock()
		return fmt.Errorf("%w: package %d is %+v, want %+v", ErrMismatch, i, got, p.pkgs[i])
	}
	return nil
}
