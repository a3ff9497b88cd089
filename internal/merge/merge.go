// Package merge is the three-way merge of lockfiles' decoded content, as
// git's merge driver for bun.lockb files needs it ('lockfix merge-driver').
//
// The unit of a package is its name: the records of one name (its
// versions, with their resolved URLs and integrity) are one value, so a
// bump (one version replaced by another) is one change. For each name, and
// for each config field (registryHash, terminal mode, rows, cols, and each
// feature flag on its own), the rule is the usual one:
//
//   - changed on one side only (added, removed or changed): that side's
//     value is taken;
//   - changed the same way on both sides: taken once;
//   - changed differently on both sides: a conflict, reported with the
//     base's, ours' and theirs' values.
//
// The result's config version is the higher of the two sides'; the other
// side is converted to it first with the migration chain of package
// migrate (the steps the schemas register), as 'lockfix migrate' would.
// Merge only computes: it reads and writes no file.
package merge

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// Absent is how a conflict shows a value that one side does not have.
const Absent = "(absent)"

// Conflict is one package name or config field changed differently on
// both sides.
type Conflict struct {
	// Kind is "package" or "config".
	Kind string `json:"kind"`
	// Name is the package name or the config field ("config.terminal.rows",
	// "config.registryHash").
	Name   string `json:"name"`
	Base   string `json:"base"`
	Ours   string `json:"ours"`
	Theirs string `json:"theirs"`
}

// String returns "package left-pad: base 1.0.0, ours 1.1.0, theirs 1.2.0".
func (c Conflict) String() string {
	return fmt.Sprintf("%s %s: base %s, ours %s, theirs %s", c.Kind, c.Name, c.Base, c.Ours, c.Theirs)
}

// Result is a merge's outcome.
type Result struct {
	// Lockfile is the merged content at Version; where there are
	// conflicts it holds ours' value for each of them.
	Lockfile *schema.Lockfile
	// Version is the result's config version.
	Version int
	// Conflicts are the names and fields changed differently on both
	// sides, config fields first, then packages by name.
	Conflicts []Conflict
	// FromOurs and FromTheirs count the package names whose records were
	// taken from one side's change (the names changed on both sides the
	// same way count in neither).
	FromOurs, FromTheirs int
	// Migrated names the side converted to Version ("ours 1 -> 2"), or "".
	Migrated string
}

// Clean reports whether the merge has no conflict.
func (r *Result) Clean() bool { return len(r.Conflicts) == 0 }

// Merge merges the changes from base to ours and from base to theirs.
// base may be nil when the two have no common ancestor (both added the
// file): every name and field they do not agree on is then a conflict.
// The inputs are valid lockfiles (their package arrays sorted); they are
// not modified. An error is returned only when a side cannot be converted
// to the result's version (a migration step fails, or is missing).
func Merge(base, ours, theirs *schema.Lockfile) (*Result, error) {
	if ours == nil || theirs == nil {
		return nil, errors.New("merge: ours and theirs are required")
	}
	to := max(ours.Config.Version, theirs.Config.Version)
	res := &Result{Version: to}
	var err error
	if ours.Config.Version < to {
		res.Migrated = fmt.Sprintf("ours %d -> %d", ours.Config.Version, to)
		if ours, err = convert(ours, to); err != nil {
			return nil, fmt.Errorf("merge: convert ours: %w", err)
		}
	}
	if theirs.Config.Version < to {
		res.Migrated = fmt.Sprintf("theirs %d -> %d", theirs.Config.Version, to)
		if theirs, err = convert(theirs, to); err != nil {
			return nil, fmt.Errorf("merge: convert theirs: %w", err)
		}
	}
	noBase := base == nil
	if noBase {
		base = &schema.Lockfile{}
	}
	out := &schema.Lockfile{Config: mergeConfig(base, ours, theirs, noBase, res)}
	out.Config.Version = to
	out.Packages = mergePackages(base.Packages, ours.Packages, theirs.Packages, noBase, res)
	res.Lockfile = out
	return res, nil
}

// convert runs the migration chain from l's version up to to.
func convert(l *schema.Lockfile, to int) (*schema.Lockfile, error) {
	chain, err := migrate.Plan(l.Config.Version, to)
	if err != nil {
		return nil, err
	}
	cur := l
	for _, step := range chain {
		next, _, err := step.Apply(cur, schema.StepOptions{})
		if err != nil {
			return nil, fmt.Errorf("step %d -> %d: %w", step.From, step.To, err)
		}
		cur = next
	}
	return cur, nil
}

// pick is the three-way rule for one value: it returns the merged value
// and whether the sides conflict (then ours' value).
func pick[T any](base, ours, theirs T, eq func(a, b T) bool) (T, bool) {
	switch {
	case eq(ours, theirs):
		return ours, false
	case eq(base, ours):
		return theirs, false
	case eq(base, theirs):
		return ours, false
	}
	return ours, true
}

func same[T comparable](a, b T) bool { return a == b }

// mergeConfig merges the config fields one by one, each feature flag on
// its own. Without a base, the fields must agree.
func mergeConfig(base, ours, theirs *schema.Lockfile, noBase bool, res *Result) schema.Config {
	b, o, t := base.Config, ours.Config, theirs.Config
	if noBase {
		b = o // a field the sides agree on is taken, any other conflicts
		b.RegistryHash, b.TerminalMode, b.Rows, b.Cols, b.Flags = 0, 0xff, 0, 0, 0
	}
	c := o
	conflict := func(field, bs, os, ts string) {
		if noBase {
			bs = Absent
		}
		res.Conflicts = append(res.Conflicts, Conflict{Kind: "config", Name: field, Base: bs, Ours: os, Theirs: ts})
	}
	reg := func(l *schema.Lockfile, h uint32) string {
		if u := schema.RegistryFor(l.Packages, h); u != "" {
			return fmt.Sprintf("0x%08x (%s)", h, u)
		}
		return fmt.Sprintf("0x%08x", h)
	}
	var bad bool
	if c.RegistryHash, bad = pick(b.RegistryHash, o.RegistryHash, t.RegistryHash, same); bad {
		conflict("config.registryHash", reg(base, b.RegistryHash), reg(ours, o.RegistryHash), reg(theirs, t.RegistryHash))
	}
	if c.TerminalMode, bad = pick(b.TerminalMode, o.TerminalMode, t.TerminalMode, same); bad {
		conflict("config.terminal.mode", b.TerminalMode.String(), o.TerminalMode.String(), t.TerminalMode.String())
	}
	if c.Rows, bad = pick(b.Rows, o.Rows, t.Rows, same); bad {
		conflict("config.terminal.rows", fmt.Sprint(b.Rows), fmt.Sprint(o.Rows), fmt.Sprint(t.Rows))
	}
	if c.Cols, bad = pick(b.Cols, o.Cols, t.Cols, same); bad {
		conflict("config.terminal.cols", fmt.Sprint(b.Cols), fmt.Sprint(o.Cols), fmt.Sprint(t.Cols))
	}
	// Each flag is a field of its own: one side enabling DEBUG and the
	// other OFFLINE gives both. A flag is on or off, so with a base it
	// never conflicts; without one, the sides must agree.
	c.Flags = 0
	onOff := map[bool]string{true: "on", false: "off"}
	for bit := schema.Flags(1); bit != 0; bit <<= 1 {
		bb, ob, tb := b.Flags&bit != 0, o.Flags&bit != 0, t.Flags&bit != 0
		v, bad := pick(bb, ob, tb, same)
		if noBase && ob != tb {
			v, bad = ob, true
		}
		if bad {
			conflict("config.flags."+bit.String(), onOff[bb], onOff[ob], onOff[tb])
		}
		if v {
			c.Flags |= bit
		}
	}
	c.Reserved = 0
	return c
}

// mergePackages merges the package arrays name by name in one ordered
// pass over the three sorted arrays.
func mergePackages(b, o, t []schema.Package, noBase bool, res *Result) []schema.Package {
	out := make([]schema.Package, 0, max(len(o), len(t)))
	var ib, io, it int
	group := func(ps []schema.Package, i *int, name string) []schema.Package {
		j := *i
		for j < len(ps) && ps[j].Name == name {
			j++
		}
		g := ps[*i:j:j]
		*i = j
		return g
	}
	for ib < len(b) || io < len(o) || it < len(t) {
		name := ""
		for _, x := range []struct {
			ps []schema.Package
			i  int
		}{{b, ib}, {o, io}, {t, it}} {
			if x.i < len(x.ps) && (name == "" || x.ps[x.i].Name < name) {
				name = x.ps[x.i].Name
			}
		}
		gb, gO, gt := group(b, &ib, name), group(o, &io, name), group(t, &it, name)
		eq := func(x, y []schema.Package) bool { return slices.Equal(x, y) }
		g, bad := pick(gb, gO, gt, eq)
		switch {
		case bad:
			res.Conflicts = append(res.Conflicts, conflictOf(name, gb, gO, gt, noBase))
		case eq(gO, gt):
		case eq(gb, gO):
			res.FromTheirs++
		default:
			res.FromOurs++
		}
		out = append(out, g...)
	}
	return out
}

// conflictOf describes a package name's conflict: the versions of each
// side, or the whole records when the versions alone would show two
// sides the same (an integrity or URL changed).
func conflictOf(name string, b, o, t []schema.Package, noBase bool) Conflict {
	versions := func(ps []schema.Package) string {
		if len(ps) == 0 {
			return Absent
		}
		vs := make([]string, len(ps))
		for i := range ps {
			vs[i] = ps[i].Version
		}
		return strings.Join(vs, ", ")
	}
	c := Conflict{Kind: "package", Name: name, Base: versions(b), Ours: versions(o), Theirs: versions(t)}
	if c.Ours == c.Theirs || c.Base == c.Ours || c.Base == c.Theirs {
		records := func(ps []schema.Package) string {
			if len(ps) == 0 {
				return Absent
			}
			rs := make([]string, len(ps))
			for i, p := range ps {
				rs[i] = strings.TrimSpace(p.Version + " " + p.Resolved + " " + p.Integrity)
			}
			return strings.Join(rs, ", ")
		}
		c.Base, c.Ours, c.Theirs = records(b), records(o), records(t)
	}
	if noBase {
		c.Base = Absent
	}
	return c
}
