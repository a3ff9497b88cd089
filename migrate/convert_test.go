package migrate_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// base are the versions this tree registers; the example test registers
// versions of its own, in a scope of its own.
var base = []int{0, 1, 2}

func gen(t testing.TB, version int, flags schema.Flags, seed uint64) []byte {
	t.Helper()
	return lockgen.Bytes(lockgen.Options{Version: version, Packages: 40, Seed: seed, Flags: flags})
}

func TestPlan(t *testing.T) {
	tests := []struct {
		from, to int
		want     string // "from->to" of each step
		err      string
	}{
		{0, 0, "", ""},
		{0, 1, "0->1", ""},
		{0, 2, "0->1 1->2", ""},
		{1, 2, "1->2", ""},
		{2, 0, "2->1 1->0", ""},
		{2, 1, "2->1", ""},
		{1, 0, "1->0", ""},
		{0, 9, "", "version 9 is not registered"},
		{9, 0, "", "version 9 is not registered"},
	}
	for _, tt := range tests {
		chain, err := migrate.Plan(tt.from, tt.to)
		if tt.err != "" {
			if err == nil || !errors.Is(err, migrate.ErrNoStep) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Plan(%d, %d) error = %v, want ErrNoStep with %q", tt.from, tt.to, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Plan(%d, %d): %v", tt.from, tt.to, err)
		}
		var got []string
		for _, s := range chain {
			got = append(got, fmt.Sprintf("%d->%d", s.From, s.To))
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("Plan(%d, %d) = %q, want %q", tt.from, tt.to, g, tt.want)
		}
	}
	chain, _ := migrate.Plan(2, 0)
	if l := migrate.Lossy(chain); len(l) != 1 || !strings.Contains(l[0], "2 -> 1") || !strings.Contains(l[0], "FROZEN_LOCKFILE") {
		t.Errorf("Lossy(2 -> 0) = %q, want the 2 -> 1 step naming the v2 flags", l)
	}
}

// TestPairs converts between every pair of versions, not just neighbours:
// content survives every conversion that is not lossy and comes back byte
// for byte; lossy ones are refused without AllowLossy and name the flags.
func TestPairs(t *testing.T) {
	portable := schema.FlagDebug | schema.FlagDisableIsolatedLinker
	v2only := schema.FlagFrozenLockfile | schema.FlagOffline
	for _, from := range base {
		for _, to := range base {
			t.Run(fmt.Sprintf("%d->%d", from, to), func(t *testing.T) {
				orig := gen(t, from, portable, uint64(10*from+to+1))
				before, err := schema.Decode(orig)
				if err != nil {
					t.Fatal(err)
				}
				c, err := migrate.Convert(orig, to, schema.StepOptions{})
				if err != nil {
					t.Fatalf("Convert: %v", err)
				}
				if c.From != from || c.To != to || len(c.Dropped) != 0 {
					t.Fatalf("Convert = %d -> %d dropped %q", c.From, c.To, c.Dropped)
				}
				if from == to {
					if c.Data != nil {
						t.Fatalf("identity conversion produced %d bytes", len(c.Data))
					}
					return
				}
				if err := migrate.Verify(migrate.Content(c.After))(c.Data); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if errs := schema.Check(c.Data); errs != nil {
					t.Fatalf("converted file fails the checks: %v", errs)
				}
				after, err := schema.Decode(c.Data)
				if err != nil {
					t.Fatal(err)
				}
				want := before.Clone()
				want.Config.Version = to
				if err := migrate.SameContent(want, after); err != nil {
					t.Fatalf("content changed: %v", err)
				}
				back, err := migrate.Convert(c.Data, from, schema.StepOptions{})
				if err != nil {
					t.Fatalf("Convert back: %v", err)
				}
				if !bytes.Equal(back.Data, orig) {
					t.Errorf("%d -> %d -> %d is not byte-identical (%d vs %d bytes)", from, to, from, len(back.Data), len(orig))
				}
			})
			if from != 2 || to == 2 {
				continue
			}
			t.Run(fmt.Sprintf("%d->%d/lossy", from, to), func(t *testing.T) {
				orig := gen(t, from, schema.FlagDebug|v2only, 99)
				_, err := migrate.Convert(orig, to, schema.StepOptions{})
				if !errors.Is(err, schema.ErrLossy) {
					t.Fatalf("Convert without AllowLossy: %v, want ErrLossy", err)
				}
				if st, reason := migrate.Classify(err); st != migrate.StatusRefused || reason != migrate.ReasonLossy {
					t.Errorf("Classify = %s %s, want refused lossy", st, reason)
				}
				for _, name := range []string{"FROZEN_LOCKFILE", "OFFLINE"} {
					if !strings.Contains(err.Error(), name) {
						t.Errorf("refusal %q does not name %s", err, name)
					}
				}
				c, err := migrate.Convert(orig, to, schema.StepOptions{AllowLossy: true})
				if err != nil {
					t.Fatalf("Convert with AllowLossy: %v", err)
				}
				if want := []string{"flag FROZEN_LOCKFILE", "flag OFFLINE"}; !slices.Equal(c.Dropped, want) {
					t.Errorf("Dropped = %q, want %q", c.Dropped, want)
				}
				if err := migrate.Verify(migrate.Content(c.After))(c.Data); err != nil {
					t.Fatal(err)
				}
				got, _ := schema.Decode(c.Data)
				if got.Config.Flags != schema.FlagDebug || got.Config.Version != to {
					t.Errorf("after lossy %d -> %d: version %d flags %s", from, to, got.Config.Version, got.Config.Flags)
				}
				orig2, _ := schema.Decode(orig)
				if !slices.Equal(got.Packages, orig2.Packages) {
					t.Error("packages changed in a lossy downgrade")
				}
			})
		}
	}
}

// TestConvertInvalid refuses damaged files with every problem and the
// advice to recover.
func TestConvertInvalid(t *testing.T) {
	good := gen(t, 1, 0, 5)
	tests := []struct {
		name string
		mess func(b []byte) []byte
		want error
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, schema.ErrCorruptedHeader},
		{"unknown version", func(b []byte) []byte { b[4] = 77; return b }, schema.ErrUnsupportedVersion},
		{"header bit", func(b []byte) []byte { b[0x06] ^= 0x10; return b }, schema.ErrChecksumMismatch},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, schema.ErrTruncated},
		{"empty", func(b []byte) []byte { return b[:0] }, schema.ErrTruncated},
		{"trailing", func(b []byte) []byte { return append(b, 0) }, schema.ErrTrailingData},
	}
	for _, tt := range tests {
		b := tt.mess(bytes.Clone(good))
		_, err := migrate.Convert(b, 2, schema.StepOptions{})
		var inv *migrate.InvalidError
		if !errors.As(err, &inv) || !errors.Is(err, migrate.ErrInvalid) || !errors.Is(err, tt.want) {
			t.Errorf("%s: Convert error = %v, want an InvalidError with %v", tt.name, err, tt.want)
			continue
		}
		// A file of an unknown version is not damage: recover refuses
		// it too, so the error sends the user to a lockfix that knows it.
		advice := "lockfix recover"
		if tt.want == schema.ErrUnsupportedVersion {
			advice = "a lockfix that knows its version"
		}
		if !strings.Contains(err.Error(), advice) {
			t.Errorf("%s: %q does not suggest %s", tt.name, err, advice)
		}
		if st, reason := migrate.Classify(err); st != migrate.StatusRefused || reason != migrate.ReasonInvalid {
			t.Errorf("%s: Classify = %s %s", tt.name, st, reason)
		}
	}
}

// TestVerify refuses bytes that are valid but not the converted content,
// or not at the target version.
func TestVerify(t *testing.T) {
	c, err := migrate.Convert(gen(t, 0, 0, 3), 2, schema.StepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := gen(t, 2, 0, 4)
	if err := migrate.Verify(migrate.Content(c.After))(other); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("Verify of another file = %v, want ErrMismatch", err)
	}
	if err := migrate.Verify(migrate.Content(c.After))(gen(t, 1, 0, 3)); !errors.Is(err, migrate.ErrMismatch) {
		t.Errorf("Verify of the right content at the wrong version = %v, want ErrMismatch", err)
	}
	bad := bytes.Clone(c.Data)
	bad[len(bad)-1] ^= 1
	if err := migrate.Verify(migrate.Content(c.After))(bad); !errors.Is(err, schema.ErrRecordChecksumMismatch) {
		t.Errorf("Verify of damaged bytes = %v, want RecordChecksumMismatch", err)
	}
}

// FuzzConvert feeds arbitrary bytes to Convert: it never panics, and what
// it converts passes Verify.
func FuzzConvert(f *testing.F) {
	for _, v := range base {
		f.Add(lockgen.Bytes(lockgen.Options{Version: v, Packages: 3, Seed: 1}), uint8(2))
	}
	f.Add(lockgen.Bytes(lockgen.Options{Version: 2, Packages: 2, Seed: 2, Flags: schema.FlagOffline | schema.FlagDebug}), uint8(0))
	f.Add(lockgen.Bytes(lockgen.Options{Version: 2, Packages: 2, Seed: 2, Flags: schema.FlagOffline}), uint8(0x81))
	f.Add([]byte("BUN1"), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, to uint8) {
		target := int(to % 4)
		c, err := migrate.Convert(b, target, schema.StepOptions{AllowLossy: to&0x80 != 0})
		if err != nil {
			return
		}
		if c.From == c.To {
			if c.Data != nil {
				t.Fatal("identity with data")
			}
			return
		}
		if err := migrate.Verify(migrate.Content(c.After))(c.Data); err != nil {
			t.Fatalf("converted %d -> %d fails Verify: %v", c.From, c.To, err)
		}
	})
}
