package merge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

// fromBytes makes a small valid lockfile from fuzz bytes: each byte picks
// a name (of 6), a version (of 4) and whether it has an integrity hash,
// and the config takes the first bytes.
func fromBytes(b []byte, version int) *schema.Lockfile {
	l := lock(version)
	if len(b) > 0 {
		l.Config.Rows = 1 + b[0]%3
		l.Config.Flags = schema.Flags(b[0]>>2) & schema.FlagDebug
	}
	seen := map[[2]string]bool{}
	for _, c := range b {
		p := schema.Package{Name: fmt.Sprintf("p%d", c%6), Version: fmt.Sprintf("1.%d.0", (c/6)%4)}
		if c&0x80 != 0 {
			p.Integrity = "sha1-" + "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}
		if k := [2]string{p.Name, p.Version}; !seen[k] {
			seen[k] = true
			l.Packages = append(l.Packages, p)
		}
	}
	schema.SortPackages(l.Packages)
	return l
}

// FuzzMerge merges generated lockfiles: never a panic, the result always
// encodes (sorted, unique, valid), and the rules hold: equal sides give
// that side, an unchanged side gives the other, and nothing conflicts
// without both sides changing.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{1, 2, 3, 4}, []byte{1, 3}, false)
	f.Add([]byte{}, []byte{9, 200}, []byte{9, 201}, true)
	f.Fuzz(func(t *testing.T, bb, ob, tb []byte, v1 bool) {
		ov := 2
		if v1 {
			ov = 1
		}
		base, ours, theirs := fromBytes(bb, 2), fromBytes(ob, ov), fromBytes(tb, 2)
		r, err := Merge(base, ours, theirs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := schema.Encode(r.Lockfile); err != nil {
			t.Fatalf("the result does not encode: %v", err)
		}
		if r.Version != 2 {
			t.Fatalf("version %d", r.Version)
		}
		switch {
		case slices.Equal(ours.Packages, theirs.Packages) && ours.Config.Rows == theirs.Config.Rows && ours.Config.Flags == theirs.Config.Flags:
			if !r.Clean() || !slices.Equal(r.Lockfile.Packages, ours.Packages) {
				t.Fatalf("equal sides: %v", r.Conflicts)
			}
		case slices.Equal(base.Packages, ours.Packages) && base.Config.Rows == ours.Config.Rows && base.Config.Flags == ours.Config.Flags:
			if !r.Clean() || !slices.Equal(r.Lockfile.Packages, theirs.Packages) {
				t.Fatalf("unchanged ours: %v", r.Conflicts)
			}
		}
		for _, c := range r.Conflicts {
			if c.Ours == c.Base || c.Theirs == c.Base || c.Ours == c.Theirs {
				t.Fatalf("a conflict without two different changes: %v", c)
			}
		}
	})
}
