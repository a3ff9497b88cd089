package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/merge"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// exitConflict is merge-driver's exit code for a merge with conflicts:
// git takes any non-zero code as "conflicted".
const exitConflict = 1

func mergeDriverCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "merge-driver",
		Usage:     "git's merge driver for lockfiles: a three-way merge of their decoded content",
		ArgsUsage: "BASE OURS THEIRS [PATH]",
		Description: `merge-driver is what git runs to merge a lockfile when .gitattributes says
merge=lockfix and the git config has (lockfix git setup writes both)

   merge.lockfix.driver = lockfix merge-driver %O %A %B %P

BASE (%O), OURS (%A) and THEIRS (%B) are the three versions; PATH (%P) is
the lockfile's path in the repository, for messages. The merge is of the
decoded content, package name by package name and config field by field
(each feature flag on its own): a change on one side only is taken, the
same change on both sides is taken once, and a name or field changed
differently on both sides is a conflict. A bump (one version of a name
replaced by another) is one change of that name. The result's config
version is the higher of the two sides', the other side migrated to it
as 'lockfix migrate' would.

Exit 0: the merged lockfile was written to OURS through the safe write
path (validated before the rename); git commits it. Exit 1: a conflict;
every conflicting package and field is printed with its base, ours and
theirs values, and OURS is left as it was, a valid lockfile, never a file
with conflict markers. A side that is not a valid lockfile is a conflict
too (its problems are printed). An empty BASE (both branches added the
file) merges with no common ancestor: only what both sides agree on merges.
16 for bad arguments.`,
		Action: runMergeDriver,
	}
}

// mergeJSON is merge-driver --json's output.
type mergeJSON struct {
	Path      string                    `json:"path"`
	Merged    bool                      `json:"merged"`
	Version   int                       `json:"version,omitempty"`
	Migrated  string                    `json:"migrated,omitempty"`
	Conflicts []merge.Conflict          `json:"conflicts"`
	Problems  []*schema.CorruptionError `json:"problems,omitempty"`
	// role names the side of each path ("base", "ours", "theirs") for
	// the lines on stderr: git's temp files have no telling names.
	role map[string]string
	// merging: the problems are the merge's own (the sides are valid but
	// cannot be merged, or the result cannot be written), not a side's.
	merging bool
}

func runMergeDriver(c *ucli.Context) error {
	if c.NArg() < 3 || c.NArg() > 4 {
		return usage("merge-driver: want BASE OURS THEIRS [PATH] (git's %%O %%A %%B %%P), got %d arguments", c.NArg())
	}
	base, ours, theirs := c.Args().Get(0), c.Args().Get(1), c.Args().Get(2)
	name := ours
	if c.NArg() == 4 {
		name = c.Args().Get(3)
	}
	out := mergeJSON{Path: name, Conflicts: []merge.Conflict{}}
	// OURS is opened (and locked) first: it is read once, and replaced
	// through the same handle.
	h, err := atomicfile.Open(ours, atomicfile.Options{})
	if err != nil {
		return exit(ExitOperational, "merge-driver: %s: %s (ours)", name, namePath(ours, err))
	}
	defer h.Close()
	var data [3][]byte
	for i, p := range []string{base, "", theirs} {
		if i == 1 {
			data[i] = h.Data()
			continue
		}
		if data[i], err = envOf(c).readFile(p); err != nil {
			return exit(ExitOperational, "merge-driver: %s: %s (%s)", name, namePath(p, err), [3]string{"base", "ours", "theirs"}[i])
		}
	}
	paths := [3]string{base, name, theirs}
	out.role = map[string]string{base: "base", name: "ours", theirs: "theirs"}
	sides, problems := decodeSides(data, paths)
	if out.Problems = problems; len(problems) > 0 {
		return reportMerge(c, &out, "a side is not a valid lockfile, so it is not merged; repair it with 'lockfix recover' and merge again")
	}
	res, err := merge.Merge(sides[0], sides[1], sides[2])
	if err != nil {
		out.Problems, out.merging = []*schema.CorruptionError{schema.AsProblem(err, name)}, true
		return reportMerge(c, &out, "the sides cannot be brought to one version")
	}
	out.Version, out.Migrated, out.Conflicts = res.Version, res.Migrated, append(out.Conflicts, res.Conflicts...)
	if !res.Clean() {
		return reportMerge(c, &out, "")
	}
	target, ok := schema.Lookup(res.Version)
	if !ok {
		out.Problems, out.merging = []*schema.CorruptionError{schema.AsProblem(fmt.Errorf("%w: version %d is not registered", schema.ErrUnsupportedVersion, res.Version), name)}, true
		return reportMerge(c, &out, "nothing was written")
	}
	// Every package comes from a strict decode, so the packages' rules
	// need no second check here: the new bytes are decoded strictly and
	// compared with the merged content before the rename (migrate.Verify).
	b, err := target.EncodeTrusted(res.Lockfile, schema.EncodeOptions{Writer: writerName})
	if err != nil {
		out.Problems, out.merging = []*schema.CorruptionError{schema.AsProblem(fmt.Errorf("the merged content cannot be written: %w", err), name)}, true
		return reportMerge(c, &out, "nothing was written")
	}
	if err := h.Replace(b, migrate.Verify(migrate.Content(res.Lockfile))); err != nil {
		if errors.Is(err, atomicfile.ErrVerify) {
			out.Problems, out.merging = []*schema.CorruptionError{schema.AsProblem(err, name)}, true
			return reportMerge(c, &out, "the merged lockfile does not verify; nothing was written")
		}
		return exit(ExitOperational, "merge-driver: %s; nothing was written", namePath(ours, err))
	}
	out.Merged = true
	if global(c, "json") {
		return printJSON(stdout(c), out)
	}
	if !global(c, "quiet") {
		migrated := ""
		if res.Migrated != "" {
			migrated = ", " + strings.Replace(res.Migrated, "->", "migrated to", 1)
		}
		fmt.Fprintf(stdout(c), "lockfix: %s merged (v%d, %s; package names changed: %d by ours, %d by theirs%s)\n",
			name, res.Version, countOf(len(res.Lockfile.Packages), "package"), res.FromOurs, res.FromTheirs, migrated)
	}
	return nil
}

// decodeSides decodes base, ours and theirs strictly, at the same time
// (they are independent). An empty base is nil: no common ancestor. It
// returns every problem of the sides that are not valid, each named by
// its side.
func decodeSides(data [3][]byte, paths [3]string) ([3]*schema.Lockfile, []*schema.CorruptionError) {
	var sides [3]*schema.Lockfile
	var probs [3][]*schema.CorruptionError
	var wg sync.WaitGroup
	for i := range data {
		if i == 0 && len(data[i]) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, errs := decodeStrict(data[i])
			probs[i] = schema.AsProblems(errs, paths[i])
			sides[i] = l
		}()
	}
	wg.Wait()
	return sides, slices.Concat(probs[:]...)
}

// decodeStrict decodes b strictly; for an invalid file it returns every
// problem the strict check finds instead. A strict decode fails on any
// problem the check finds, so a valid file is read once.
func decodeStrict(b []byte) (*schema.Lockfile, []error) {
	s, err := schema.Sniff(b)
	if err != nil {
		return nil, []error{err}
	}
	l, err := s.Decode(b)
	if err == nil {
		return l, nil
	}
	if errs := s.Check(b); len(errs) > 0 {
		return nil, errs
	}
	return nil, []error{err}
}

// reportMerge prints a merge that did not happen (conflicts or invalid
// sides) and returns exit 1: ours is left as it was.
func reportMerge(c *ucli.Context, out *mergeJSON, why string) error {
	if global(c, "json") {
		if err := printJSON(stdout(c), out); err != nil {
			return err
		}
		return exitCode(exitConflict)
	}
	fmt.Fprintf(stderr(c), "lockfix: %s: merge conflict, the work tree keeps ours (a valid lockfile)\n", out.Path)
	for _, p := range out.Problems {
		if out.merging {
			fmt.Fprintf(stderr(c), "  merge: %s\n", strings.TrimPrefix(withoutPath(p), "merge: "))
			continue
		}
		fmt.Fprintf(stderr(c), "  %s: %s\n", out.role[p.Path], withoutPath(p))
	}
	for _, cf := range out.Conflicts {
		fmt.Fprintf(stderr(c), "  %s\n", cf)
	}
	if why != "" {
		fmt.Fprintf(stderr(c), "  %s\n", why)
	}
	if len(out.Conflicts) > 0 {
		fmt.Fprintf(stderr(c), "  resolve: set the versions you want (e.g. run your package manager), then 'git add %s'\n", out.Path)
	}
	return exitCode(exitConflict)
}
