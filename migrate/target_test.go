package migrate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/migrate"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		spec string
		want int
		err  string // substring of the error; "" for success
	}{
		{"2", 2, ""},
		{"v2", 2, ""},
		{"V1", 1, ""},
		{" 0 ", 0, ""},
		{"9", 0, "config version 9 is not known"},
		{"v", 0, "want a config version"},
		{"-1", 0, "want a config version"},
		{"+1", 0, "want a config version"},
		{"two", 0, "want a config version"},
		{"bun@1.4.2", 2, ""},
		{"bun@1.4.0", 2, ""},
		{"BUN@1.3.9", 1, ""},
		{"bun@1.3.5", 1, ""},
		{"bun@1.3.4", 0, ""},
		{"bun@1.3.3", 0, ""},
		{"bun@0.8.1", 0, ""},
		{"bun@27.0.0", 2, ""},
		{"bun@1.4.2+build.7", 2, ""},
		{"bun@1.4.0-canary.3", 0, "pre-release"},
		{`bun@">=1.3.5, <1.4"`, 1, ""},
		{"bun@>=1.3.5, <1.4", 1, ""},
		{"bun@'>= 1.3.5, < 1.4.0'", 1, ""},
		{"bun@>=1.3.6, <=1.3.9", 1, ""},
		{"bun@>=1.4", 2, ""},
		{"bun@> 1.3.99", 0, "spans config versions 1 and 2"},
		{"bun@> 1.3.99, < 1.4", 1, ""},
		{"bun@~> 1.4.1", 2, ""},
		{"bun@~> 1.2", 0, "spans config versions 0, 1 and 2"},
		{"bun@~> 1.3.0", 0, "spans config versions 0 and 1"},
		{"bun@~> 1.3.6", 1, ""},
		{"bun@<1.3.5", 0, ""},
		{"bun@<=1.3.4", 0, ""},
		{"bun@<=1.3.5", 0, "spans config versions 0 and 1"},
		{"bun@=1.3.5", 1, ""},
		{"bun@>=1.3", 0, "spans config versions 0, 1 and 2"},
		{"bun@>=1.3.4, <1.4", 0, "spans config versions 0 and 1"},
		{"bun@!=1.4.0", 0, "spans"},
		{"bun@>=1.4, <1.3", 0, "matches no release"},
		{"bun@1.4", 2, ""},
		{"bun@1.3", 0, "spans config versions 0 and 1"},
		{"bun@2", 2, ""},
		{"bun@1", 0, "spans config versions 0, 1 and 2"},
		{"bun@", 0, "no bun release or constraint"},
		{"bun@latest", 0, "not a bun release"},
		{"bun@>=x", 0, "not a bun release or constraint"},
	}
	for _, tt := range tests {
		got, err := migrate.ParseTarget(tt.spec)
		if tt.err != "" {
			if err == nil || !errors.Is(err, migrate.ErrBadTarget) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTarget(%q) = %d, %v; want an ErrBadTarget with %q", tt.spec, got.Version, err, tt.err)
			}
			if strings.HasPrefix(strings.ToLower(tt.spec), "bun@") && err != nil && !strings.Contains(err.Error(), "v1  bun >= 1.3.5, < 1.4.0") {
				t.Errorf("ParseTarget(%q) error does not list the ranges: %v", tt.spec, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.spec, err)
			continue
		}
		if got.Version != tt.want {
			t.Errorf("ParseTarget(%q) = %d, want %d (%s)", tt.spec, got.Version, tt.want, got.Why)
		}
		if strings.HasPrefix(strings.ToLower(tt.spec), "bun@") && got.Why == "" {
			t.Errorf("ParseTarget(%q) says nothing about how it was resolved", tt.spec)
		}
	}
}

func TestRanges(t *testing.T) {
	want := "  v0  bun < 1.3.5\n  v1  bun >= 1.3.5, < 1.4.0\n  v2  bun >= 1.4.0\n"
	if got := migrate.RangesText(); got != want {
		t.Errorf("RangesText() =\n%s\nwant\n%s", got, want)
	}
}

// FuzzParseTarget: any string parses or fails cleanly, and a success
// names a registered version.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"2", "v1", "bun@1.4.2", `bun@">=1.3.5, <1.4"`, "bun@~> 1.2", "bun@>=1.3", "bun@1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := migrate.ParseTarget(s)
		if err != nil {
			if !errors.Is(err, migrate.ErrBadTarget) {
				t.Fatalf("ParseTarget(%q) error %v does not wrap ErrBadTarget", s, err)
			}
			return
		}
		if got.Version < 0 || got.Version > 2 {
			t.Fatalf("ParseTarget(%q) = %d", s, got.Version)
		}
	})
}
