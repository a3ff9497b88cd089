package recovery

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lockfix/lockfix/schema"
)

// Status is the outcome of a recovery.
type Status string

// The outcomes.
const (
	// StatusClean: the file is valid; nothing to do.
	StatusClean Status = "clean"
	// StatusRepaired: Output holds the repaired file.
	StatusRepaired Status = "repaired"
	// StatusRepairable: a repair is ready but was not written (the
	// caller sets it: a dry run, a write that failed).
	StatusRepairable Status = "repairable"
	// StatusRefused: the repair would lose packages or guess values, which
	// needs Mode Yes; Plan holds what Yes would write.
	StatusRefused Status = "refused"
	// StatusUnrepairable: not even Mode Yes can produce a valid file
	// (Reason says why).
	StatusUnrepairable Status = "unrepairable"
)

// Damage is one problem found: schema's one problem type, so that a
// report's damage prints, and marshals to JSON, as every check's problems
// do (error, offset, record, field, rule, message).
type Damage = *schema.CorruptionError

// Repair is one change made (or planned).
type Repair struct {
	// Kind is one of: correct (a bit flipped back from a checksum),
	// solve (bits solved from the header CRC-64, a burst among them),
	// confirm (a peer's value the header CRC-64 confirms), copy (records
	// or a header taken from copies), majority (bytes taken from the
	// byte-wise majority of copies), restore (a field with a fixed
	// value), derive (a field computed from the packages), sort, dedupe,
	// cut, resync, drop, fill.
	Kind   string `json:"kind"`
	Offset int    `json:"offset"`
	Detail string `json:"detail"`
	// NeedsYes is set for repairs that lose a package or guess a value.
	NeedsYes bool `json:"needsYes,omitempty"`
}

// Lost is a package that did not survive, named where its name did.
type Lost struct {
	// Record is its index in the damaged array, -1 when unknown.
	Record  int    `json:"record"`
	Offset  int    `json:"offset"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// NameMayBeDamaged: the name and version are as found in a record
	// that is itself the damaged part.
	NameMayBeDamaged bool   `json:"nameMayBeDamaged,omitempty"`
	Why              string `json:"why"`
}

// String returns "name@version (record N at 0xNN): why".
func (l Lost) String() string {
	id := l.Name
	if id == "" {
		id = "(name lost)"
	}
	if l.Version != "" {
		id += "@" + l.Version
	}
	if l.Record >= 0 {
		return fmt.Sprintf("%s (record %d at offset 0x%x): %s", id, l.Record, l.Offset, l.Why)
	}
	return fmt.Sprintf("%s (at offset 0x%x): %s", id, l.Offset, l.Why)
}

// Guess is a field whose value could not be recovered from the file.
type Guess struct {
	Field  string `json:"field"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Report is what Recover found and did for one file.
type Report struct {
	// Version is the config version the file was recognised as (-1 when
	// it was not recognised as a lockfile).
	Version int `json:"version"`
	// VersionFrom says how the version was recognised.
	VersionFrom string   `json:"versionFrom"`
	Status      Status   `json:"status"`
	Damage      []Damage `json:"damage"`
	Repairs     []Repair `json:"repairs"`
	// Kept is the number of packages in the repaired file.
	Kept int `json:"kept"`
	// Expected is the packageCount of a verified header, -1 when unknown.
	Expected int    `json:"expected"`
	Lost     []Lost `json:"lost"`
	// Unnamed is how many more packages were lost without a trace of
	// their names.
	Unnamed int     `json:"unnamedLost"`
	Guessed []Guess `json:"guessed"`
	// Needs is the flag that would apply a refused repair.
	Needs string `json:"needs,omitempty"`
	// Reason says why a file is unrepairable.
	Reason   string        `json:"reason,omitempty"`
	Duration time.Duration `json:"durationNs"`

	// Output is the repaired file (StatusRepaired only).
	Output []byte `json:"-"`
	// Plan is what Mode Yes would write, for a refused repair.
	Plan []byte `json:"-"`

	found func() *schema.Lockfile
}

// Found returns the file's content as it was read, leniently: the config
// block as found, the records that survived in file order, and the lost
// records as far as their names and versions survived. It is the "before"
// of a diff against the repair; nil for an unrecognised file.
func (r *Report) Found() *schema.Lockfile {
	if r.found == nil {
		return nil
	}
	return r.found()
}

// LostCount returns every package lost, named or not.
func (r *Report) LostCount() int { return len(r.Lost) + r.Unnamed }

// WriteText writes the report for people, indented under a first line
// naming path. With dryRun, it says what would be done.
func (r *Report) WriteText(w io.Writer, path string, dryRun bool) {
	if r.Status == StatusClean {
		fmt.Fprintf(w, "%s: v%d, clean (%s)\n", path, r.Version, r.Duration.Round(time.Microsecond))
		return
	}
	ver := "not a recognisable lockfile"
	if r.Version >= 0 {
		ver = fmt.Sprintf("v%d (%s)", r.Version, r.VersionFrom)
	}
	status := string(r.Status)
	if dryRun && (r.Status == StatusRepaired || r.Status == StatusRepairable) {
		status = "repairable (dry run: nothing written)"
	}
	fmt.Fprintf(w, "%s: %s, %s\n", path, ver, status)
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  damage: %s\n", d.Problem())
	}
	for _, rp := range r.Repairs {
		tag := "repair"
		if rp.NeedsYes {
			tag = "repair (--yes)"
		}
		fmt.Fprintf(w, "  %s: %s\n", tag, rp.Detail)
	}
	if r.Status != StatusClean && r.Version >= 0 {
		exp := ""
		if r.Expected >= 0 {
			exp = fmt.Sprintf(" of %d", r.Expected)
		}
		fmt.Fprintf(w, "  packages: %d kept%s, %d lost\n", r.Kept, exp, r.LostCount())
	}
	for _, l := range r.Lost {
		fmt.Fprintf(w, "  lost: %s\n", l)
	}
	switch {
	case r.Unnamed == 1:
		fmt.Fprintf(w, "  lost: 1 more package whose name did not survive\n")
	case r.Unnamed > 1:
		fmt.Fprintf(w, "  lost: %d more packages whose names did not survive\n", r.Unnamed)
	}
	for _, g := range r.Guessed {
		fmt.Fprintf(w, "  guessed: %s = %s (from %s)\n", g.Field, g.Value, g.Source)
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "  unrepairable: %s\n", r.Reason)
	}
	if r.Status == StatusRefused {
		var why []string
		if n := r.LostCount(); n > 0 {
			why = append(why, plural(n, "package", "loses"))
		}
		if n := len(r.Guessed); n > 0 {
			why = append(why, plural(n, "field", "guesses"))
		}
		fmt.Fprintf(w, "  refused: the repair %s; nothing written; run again with %s to apply it\n", strings.Join(why, " and "), r.Needs)
	}
	fmt.Fprintf(w, "  time: %s\n", r.Duration.Round(time.Microsecond))
}

// plural returns "verb n noun(s)".
func plural(n int, noun, verb string) string {
	if n == 1 {
		return fmt.Sprintf("%s 1 %s", verb, noun)
	}
	return fmt.Sprintf("%s %d %ss", verb, n, noun)
}
