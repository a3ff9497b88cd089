package migrate

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/lockfix/lockfix/schema"
)

// ErrBadTarget is returned by ParseTarget for a target that names no
// single registered config version.
var ErrBadTarget = errors.New("bad migration target")

// Target is a resolved --to.
type Target struct {
	// Version is the config version to migrate to.
	Version int
	// Spec is the target as given ("2", "v2", "bun@1.4.2").
	Spec string
	// Why says how a bun release or constraint was resolved, for people;
	// "" for a plain config version.
	Why string
}

// Range is the range of bun releases that write a config version
// (docs/format.md section 2), from the registered schema.Schema.Bun.
type Range struct {
	Version int
	// Bun is the constraint as registered (">= 1.3.5, < 1.4.0").
	Bun         string
	constraints version.Constraints
}

// Ranges returns the bun release range of every registered version that
// declares one, in version order, each with its constraint parsed.
// schema.Register holds every Since to a release, so each Bun parses; one
// that did not would be left out.
func Ranges() []Range {
	out := registeredRanges()
	n := 0
	for _, r := range out {
		c, err := version.NewConstraint(r.Bun)
		if err != nil {
			continue
		}
		r.constraints = c
		out[n] = r
		n++
	}
	return out[:n]
}

// registeredRanges returns the ranges as registered, their constraints
// not parsed: what the help lists needs no parse (go-version's first
// compiles its expressions, a tenth of a millisecond of every start).
func registeredRanges() []Range {
	var out []Range
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		if s == nil || strings.TrimSpace(s.Bun()) == "" {
			continue
		}
		out = append(out, Range{Version: v, Bun: s.Bun()})
	}
	return out
}

// RangesText lists the ranges, one "v1  bun >= 1.3.5, < 1.4.0" line each,
// for error messages and help.
func RangesText() string {
	var b strings.Builder
	for _, r := range registeredRanges() {
		fmt.Fprintf(&b, "  v%d  bun %s\n", r.Version, r.Bun)
	}
	return b.String()
}

// ParseTarget resolves a --to value to a registered config version. It
// takes:
//
//   - a config version: "2" or "v2";
//   - a bun release: "bun@1.4.2" (or "1.4.2"), the version whose range
//     (Ranges) holds it;
//   - a bun constraint: `bun@">=1.3.5, <1.4"`, which must fall within the
//     range of exactly one config version; a release without its patch
//     number ("bun@1.3") means the whole series ("~> 1.3.0").
//
// Errors wrap ErrBadTarget and, for bun targets, list the ranges.
func ParseTarget(spec string) (Target, error) {
	t := Target{Spec: spec}
	s := strings.TrimSpace(spec)
	if len(s) >= 4 && strings.EqualFold(s[:4], "bun@") {
		return parseBun(t, strings.TrimSpace(s[4:]))
	}
	if strings.Count(s, ".") == 2 && !strings.ContainsAny(s, "<>=!~, ") {
		// A dotted release (1.4.2) is a bun release: config versions are
		// whole numbers.
		return parseBun(t, s)
	}
	n := strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	v, err := strconv.Atoi(n)
	if err != nil || n == "" || n[0] == '+' || n[0] == '-' {
		return t, fmt.Errorf("%w %q: want a config version (%s), a bun release (bun@1.4.2) or a bun constraint (bun@\">=1.3.5, <1.4\")",
			ErrBadTarget, spec, versionList())
	}
	if _, ok := schema.Lookup(v); !ok {
		return t, fmt.Errorf("%w %q: config version %d is not known to this build (known: %s)", ErrBadTarget, spec, v, versionList())
	}
	t.Version = v
	return t, nil
}

func versionList() string {
	var parts []string
	for _, v := range schema.Versions() {
		parts = append(parts, strconv.Itoa(v))
	}
	return strings.Join(parts, ", ")
}

// opRe splits one element of a constraint into its operator and version.
var opRe = regexp.MustCompile(`^\s*(<=|>=|!=|~>|<|>|=)?\s*(\S.*?)\s*$`)

func parseBun(t Target, s string) (Target, error) {
	s = strings.TrimSpace(strings.Trim(s, `"'`))
	ranges := Ranges()
	bad := func(format string, args ...any) (Target, error) {
		msg := fmt.Sprintf(format, args...)
		return t, fmt.Errorf("%w %q: %s; the config versions and the bun releases that write them:\n%s",
			ErrBadTarget, t.Spec, msg, strings.TrimRight(RangesText(), "\n"))
	}
	if s == "" {
		return bad("no bun release or constraint after bun@")
	}
	if len(ranges) == 0 {
		return bad("no registered config version declares its bun releases")
	}
	// A bare release: the range that holds it.
	if !strings.ContainsAny(s, "<>=!~,") {
		v, err := version.NewVersion(s)
		if err != nil {
			return bad("%q is not a bun release: %v", s, err)
		}
		if v.Prerelease() != "" {
			return bad("%s is a pre-release; give the release it leads to (bun@%s)", s, v.Core())
		}
		if segs := len(strings.Split(strings.SplitN(s, "+", 2)[0], ".")); segs < 3 {
			// "1.3" is the series 1.3.x.
			series := "~> " + strings.SplitN(s, "+", 2)[0] + ".0"
			if segs == 1 {
				series = "~> " + s + ".0"
			}
			c, err := version.NewConstraint(series)
			if err != nil {
				return bad("%q: %v", s, err)
			}
			return resolveConstraint(t, s+".x", c, ranges, bad)
		}
		var hit []Range
		for _, r := range ranges {
			if r.constraints.Check(v) {
				hit = append(hit, r)
			}
		}
		switch len(hit) {
		case 0:
			return bad("bun %s is in no range", s)
		case 1:
			t.Version = hit[0].Version
			t.Why = fmt.Sprintf("bun %s writes config version %d (bun %s)", v, hit[0].Version, hit[0].Bun)
			return t, nil
		default:
			return bad("bun %s is in the ranges of versions %s, which overlap", s, rangeVersions(hit))
		}
	}
	c, err := version.NewConstraint(s)
	if err != nil {
		return bad("%q is not a bun release or constraint: %v", s, err)
	}
	return resolveConstraint(t, s, c, ranges, bad)
}

// resolveConstraint finds the one range the constraint c falls within.
//
// Each constraint element (">= 1.3.5", "~> 1.3") changes its truth only at
// its version or, for "~>", at the next minor or major release, so the
// releases between two neighbouring such boundaries all agree on every
// constraint at once. Testing every boundary and, for each, the release
// right after it (the patch after; when it is still below the next
// boundary it stands for the whole open interval between them), plus
// 0.0.0, tests every distinct region of the release line.
func resolveConstraint(t Target, given string, c version.Constraints, ranges []Range,
	bad func(string, ...any) (Target, error)) (Target, error) {
	var bounds [][3]int64
	add := func(s string) {
		for _, part := range strings.Split(s, ",") {
			m := opRe.FindStringSubmatch(part)
			if m == nil {
				continue
			}
			v, err := version.NewVersion(m[2])
			if err != nil {
				continue
			}
			seg := v.Segments64()
			var b [3]int64
			copy(b[:], seg)
			bounds = append(bounds, b, [3]int64{b[0], b[1] + 1, 0}, [3]int64{b[0] + 1, 0, 0})
		}
	}
	add(c.String())
	for _, r := range ranges {
		add(r.Bun)
	}
	bounds = append(bounds, [3]int64{0, 0, 0})
	var samples [][3]int64
	for _, b := range bounds {
		samples = append(samples, b, [3]int64{b[0], b[1], b[2] + 1})
	}
	slices.SortFunc(samples, func(a, b [3]int64) int { return slices.Compare(a[:], b[:]) })
	samples = slices.Compact(samples)

	hit := map[int]bool{}
	matched := false
	for _, smp := range samples {
		v, err := version.NewVersion(fmt.Sprintf("%d.%d.%d", smp[0], smp[1], smp[2]))
		if err != nil || !c.Check(v) {
			continue
		}
		matched = true
		for _, r := range ranges {
			if r.constraints.Check(v) {
				hit[r.Version] = true
			}
		}
	}
	var vs []Range
	for _, r := range ranges {
		if hit[r.Version] {
			vs = append(vs, r)
		}
	}
	switch {
	case !matched:
		return bad("bun %s matches no release", given)
	case len(vs) == 0:
		return bad("bun %s matches no config version's range", given)
	case len(vs) > 1:
		return bad("bun %s spans config versions %s; narrow it to one range", given, rangeVersions(vs))
	}
	t.Version = vs[0].Version
	t.Why = fmt.Sprintf("bun %s lies within config version %d (bun %s)", given, vs[0].Version, vs[0].Bun)
	return t, nil
}

func rangeVersions(rs []Range) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, strconv.Itoa(r.Version))
	}
	if len(parts) <= 2 {
		return strings.Join(parts, " and ")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
