package migrate_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// TestVerifyExpect covers each part of an Expect: the version (or any),
// the writer, and an edit of an old file, which may change the header
// only where it wrote and never the records.
func TestVerifyExpect(t *testing.T) {
	b := gen(t, 2, 0, 5)
	s, _ := schema.Sniff(b)
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ok := func(e migrate.Expect, nb []byte) error { return migrate.Verify(e)(nb) }
	if err := ok(migrate.Expect{Version: -1}, b); err != nil {
		t.Errorf("any version: %v", err)
	}
	if err := ok(migrate.Expect{Version: 1}, b); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("version 1 of a v2 file: %v, want ErrMismatch", err)
	}
	w := l.Writer
	if err := ok(migrate.Expect{Version: 2, Writer: &w}, b); err != nil {
		t.Errorf("its own writer: %v", err)
	}
	other := w + "x"
	if err := ok(migrate.Expect{Version: 2, Writer: &other}, b); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("another writer: %v, want ErrMismatch", err)
	}
	// An edit of rows that resealed the header.
	cfg := l.Config
	cfg.Rows++
	edit := bytes.Clone(b)
	edit[schema.OffRows] = cfg.Rows
	s.Seal(edit)
	e := migrate.Expect{Version: 2, Config: &cfg, Old: b, Edited: func(off int) bool {
		f := s.FieldOf(schema.KindHeaderChecksum)
		return off == schema.OffRows || (off >= f.Offset && off < f.End())
	}}
	if err := ok(e, edit); err != nil {
		t.Errorf("a header edit: %v", err)
	}
	moved := bytes.Clone(edit)
	moved[len(moved)-1] ^= 1
	if err := ok(e, moved); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("an edit that changed a record: %v, want ErrMismatch", err)
	}
	e.Edited = func(int) bool { return false }
	if err := ok(e, edit); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("an edit outside the fields edited: %v, want ErrMismatch", err)
	}
	// Verify runs again with fresh state: a failed run leaves nothing.
	v := migrate.Verify(migrate.Content(l))
	if err := v(gen(t, 2, 0, 6)); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("other packages: %v, want ErrMismatch", err)
	}
	if err := v(b); err != nil {
		t.Errorf("the same check again on the right bytes: %v", err)
	}
}
