package merge

import (
	"slices"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

func pkg(name, version string) schema.Package {
	return schema.Package{Name: name, Version: version}
}

func lock(version int, pkgs ...schema.Package) *schema.Lockfile {
	l := &schema.Lockfile{Config: schema.Config{Version: version, RegistryHash: 0x52e06bbe, Flags: schema.FlagDebug,
		TerminalMode: schema.ModeCooked, Rows: 24, Cols: 80}}
	l.Packages = append(l.Packages, pkgs...)
	schema.SortPackages(l.Packages)
	return l
}

func names(l *schema.Lockfile) string {
	var s []string
	for _, p := range l.Packages {
		s = append(s, p.Name+"@"+p.Version)
	}
	return strings.Join(s, " ")
}

func TestMerge(t *testing.T) {
	a1, b1, c1 := pkg("a", "1.0.0"), pkg("b", "1.0.0"), pkg("c", "1.0.0")
	base := lock(2, a1, b1)
	for _, tc := range []struct {
		name         string
		base         *schema.Lockfile
		ours, theirs *schema.Lockfile
		want         string // packages of the result
		conflicts    []string
	}{
		{"unchanged", base, lock(2, a1, b1), lock(2, a1, b1), "a@1.0.0 b@1.0.0", nil},
		{"different additions", base, lock(2, a1, b1, c1), lock(2, pkg("0", "1.0.0"), a1, b1), "0@1.0.0 a@1.0.0 b@1.0.0 c@1.0.0", nil},
		{"removed on one side, added on the other", base, lock(2, b1), lock(2, a1, b1, c1), "b@1.0.0 c@1.0.0", nil},
		{"removed on both sides", base, lock(2, b1), lock(2, b1), "b@1.0.0", nil},
		{"same bump on both", base, lock(2, pkg("a", "1.1.0"), b1), lock(2, pkg("a", "1.1.0"), b1, c1), "a@1.1.0 b@1.0.0 c@1.0.0", nil},
		{"bump on one side", base, lock(2, pkg("a", "1.1.0"), b1), lock(2, a1, b1, c1), "a@1.1.0 b@1.0.0 c@1.0.0", nil},
		{"different bumps", base, lock(2, pkg("a", "1.1.0"), b1), lock(2, pkg("a", "1.2.0"), b1),
			"a@1.1.0 b@1.0.0", []string{"package a: base 1.0.0, ours 1.1.0, theirs 1.2.0"}},
		{"bump against removal", base, lock(2, pkg("a", "1.1.0"), b1), lock(2, b1),
			"a@1.1.0 b@1.0.0", []string{"package a: base 1.0.0, ours 1.1.0, theirs (absent)"}},
		{"no base, same additions", nil, lock(2, a1), lock(2, a1, c1), "a@1.0.0 c@1.0.0", nil},
		{"no base, different versions", nil, lock(2, a1), lock(2, pkg("a", "2.0.0")),
			"a@1.0.0", []string{"package a: base (absent), ours 1.0.0, theirs 2.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Merge(tc.base, tc.ours, tc.theirs)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(r.Lockfile); got != tc.want {
				t.Errorf("packages %q, want %q", got, tc.want)
			}
			var got []string
			for _, c := range r.Conflicts {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tc.conflicts) {
				t.Errorf("conflicts %q, want %q", got, tc.conflicts)
			}
			if _, err := schema.Encode(r.Lockfile); err != nil {
				t.Errorf("the result does not encode: %v", err)
			}
		})
	}
}

func TestMergeIntegrityConflict(t *testing.T) {
	base := lock(2, pkg("a", "1.0.0"))
	o, th := base.Clone(), base.Clone()
	o.Packages[0].Integrity = "sha1-" + strings.Repeat("A", 27) + "="
	th.Packages[0].Integrity = "sha1-" + strings.Repeat("B", 27) + "="
	r, _ := Merge(base, o, th)
	if len(r.Conflicts) != 1 || !strings.Contains(r.Conflicts[0].Ours, "sha1-AAA") || !strings.Contains(r.Conflicts[0].Theirs, "sha1-BBB") || r.Conflicts[0].Base != "1.0.0" {
		t.Errorf("conflicts %+v", r.Conflicts)
	}
}

func TestMergeConfig(t *testing.T) {
	base := lock(2)
	o, th := base.Clone(), base.Clone()
	o.Config.Rows, o.Config.Flags = 50, schema.FlagDebug|schema.FlagOffline
	th.Config.Cols, th.Config.Flags = 120, 0 // DEBUG off
	r, _ := Merge(base, o, th)
	c := r.Lockfile.Config
	if !r.Clean() || c.Rows != 50 || c.Cols != 120 || c.Flags != schema.FlagOffline {
		t.Errorf("config %+v, conflicts %v", c, r.Conflicts)
	}
	th.Config.Rows = 40
	th.Config.TerminalMode = schema.ModeRaw
	o.Config.TerminalMode = schema.ModeCbreak
	r, _ = Merge(base, o, th)
	var got []string
	for _, c := range r.Conflicts {
		got = append(got, c.String())
	}
	want := []string{"config config.terminal.mode: base cooked, ours cbreak, theirs raw",
		"config config.terminal.rows: base 24, ours 50, theirs 40"}
	if !slices.Equal(got, want) {
		t.Errorf("conflicts %q, want %q", got, want)
	}
}

// TestMergeVersions checks that a v1 side and a v2 side give a v2 result.
func TestMergeVersions(t *testing.T) {
	base := lock(1, pkg("a", "1.0.0"))
	o := lock(1, pkg("a", "1.0.0"), pkg("b", "1.0.0"))
	th := lock(2, pkg("a", "1.0.0"), pkg("c", "1.0.0"))
	th.Config.Flags |= schema.FlagFrozenLockfile
	r, err := Merge(base, o, th)
	if err != nil || !r.Clean() || r.Version != 2 || r.Lockfile.Config.Version != 2 || r.Migrated != "ours 1 -> 2" {
		t.Fatalf("%+v, %v", r, err)
	}
	if got := names(r.Lockfile); got != "a@1.0.0 b@1.0.0 c@1.0.0" || r.Lockfile.Config.Flags != schema.FlagDebug|schema.FlagFrozenLockfile {
		t.Errorf("packages %q flags %v", got, r.Lockfile.Config.Flags)
	}
	if _, err := schema.Encode(r.Lockfile); err != nil {
		t.Error(err)
	}
}

// BenchmarkMerge merges three 100,000-package lockfiles: each side adds,
// removes and bumps packages of its own.
func BenchmarkMerge(b *testing.B) {
	base := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 100_000, Seed: 1})
	o, th := base.Clone(), base.Clone()
	for i := 0; i < len(o.Packages); i += 100 {
		o.Packages[i].Integrity = ""
		th.Packages[i+50].Integrity = ""
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := Merge(base, o, th)
		if err != nil || !r.Clean() {
			b.Fatal(err, r.Conflicts)
		}
	}
}
