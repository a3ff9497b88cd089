package cli

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/schema"
)

// writeFlags are the flags of every command that rewrites a lockfile in
// place through rewrite.
func writeFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the diff of what would change and write nothing"},
		&ucli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` (e.g. 10s) for another lockfix that holds the file's lock; 0 fails at once with exit 8"},
		&ucli.BoolFlag{Name: "break-links", Usage: "replace a lockfile that has more than one hard link (its other names keep the old content)"},
	}
}

// writeHelp is the part of a writing command's --help that describes the
// write path.
const writeHelp = `The file is rewritten safely: the new bytes are checked strictly before
anything is written, then written to a temp file in the same directory,
fsynced and renamed over the original, and the directory is fsynced. The
file keeps its mode and owner; a symlink stays a link and its target is
replaced. Another lockfix writing the same file holds a lock: --wait
waits for it, else exit 8. If another program changed the file since it
was read, nothing is written (exit 8). A lockfile with more than one hard
link is refused (exit 8) unless --break-links: replacing it breaks the link. An invalid file is refused (exit 4)
unless the only problems are config fields this edit replaces; repair it
with 'lockfix recover' first.`

// edit changes a lockfile's content. It gets a copy that it may modify
// and return. An error it returns ends the command as it is (use exit or
// usage).
type edit func(l *schema.Lockfile) (*schema.Lockfile, error)

// rewriteResult is what a writing command reports for a file.
type rewriteResult struct {
	Path    string          `json:"path"`
	Version int             `json:"version"`
	Changed bool            `json:"changed"`
	DryRun  bool            `json:"dryRun"`
	Written bool            `json:"written"`
	Bytes   int             `json:"bytes,omitempty"`
	Changes *render.Changes `json:"changes"`
	Diff    string          `json:"diff,omitempty"`
}

// rewrite is the write path of the commands that edit one lockfile in
// place (set, feature): it opens and locks path (--wait), decodes it
// strictly, applies change, encodes the result at the file's own version,
// and replaces the file through atomicfile after checking the new bytes
// (decode and strict check, and the content is what change made). With
// --dry-run it prints the diff and writes nothing. It prints the result
// (--json, --quiet) and returns the command's exit error.
func rewrite(c *ucli.Context, path string, change edit) error {
	dry := c.Bool("dry-run")
	wait := c.Duration("wait")
	if wait < 0 {
		return usage("%s: --wait %s: want a duration of 0 or more, e.g. --wait 10s", c.Command.Name, wait)
	}
	h, err := atomicfile.Open(path, atomicfile.Options{Wait: wait, ReadOnly: dry, Links: c.Bool("break-links")})
	if err != nil {
		return exit(ExitOperational, "%s", namePath(path, err))
	}
	defer h.Close()
	old, version, problems, err := decodeForEdit(path, h.Data())
	if err != nil {
		return err
	}
	next, err := change(old.Clone())
	if err != nil {
		return err
	}
	next.Config.Version = version
	next.Writer = "" // written by lockfix now (v2 records it)
	res := rewriteResult{Path: path, Version: version, DryRun: dry, Changes: render.Compare(old, next)}
	if sameContent(old, next) {
		if len(problems) > 0 {
			return refuseProblems(path, problems, "this edit changes nothing and leaves the file's problems in place")
		}
		return reportRewrite(c, &res, "nothing to change")
	}
	res.Changed = true
	b, err := schema.Encode(next)
	if err != nil {
		return refuseInvalid(path, next, version, err)
	}
	check := verifyContent(next)
	res.Bytes = len(b)
	if dry {
		// The whole pipeline runs but the rename: what a dry run says
		// would be written would be.
		if err := check(b); err != nil {
			return exit(ExitProblems, "%s: the new content does not verify, nothing would be written: %v", path, err)
		}
		res.Diff = render.Unified(path, path+" (new)", old, next)
		return reportRewrite(c, &res, "dry run, nothing written")
	}
	if beforeReplace != nil {
		beforeReplace(h.Target())
	}
	if err := h.Replace(b, check); err != nil {
		if errors.Is(err, atomicfile.ErrVerify) {
			return exit(ExitProblems, "%s; nothing was written", namePath(path, err))
		}
		return exit(ExitOperational, "%s; nothing was written", namePath(path, err))
	}
	res.Written = true
	return reportRewrite(c, &res, fmt.Sprintf("written (v%d, %d bytes)", version, len(b)))
}

// beforeReplace, when set (by tests), runs between the read and the
// replace of a rewrite: another program changing the file there must be
// caught.
var beforeReplace func(target string)

// namePath makes sure an error message names the file.
func namePath(path string, err error) string {
	if strings.Contains(err.Error(), path) {
		return err.Error()
	}
	return path + ": " + err.Error()
}

// reportRewrite prints a rewrite's result.
func reportRewrite(c *ucli.Context, res *rewriteResult, status string) error {
	if global(c, "json") {
		return printJSON(res)
	}
	if global(c, "quiet") {
		return nil
	}
	if res.Diff != "" {
		fmt.Fprint(Stdout, res.Diff)
	}
	for _, line := range res.Changes.Summary() {
		fmt.Fprintf(Stdout, "%s: %s\n", res.Path, line)
	}
	fmt.Fprintf(Stdout, "%s: %s\n", res.Path, status)
	return nil
}

// sameContent reports whether two lockfiles have the same config and
// packages (the writer aside).
func sameContent(a, b *schema.Lockfile) bool {
	return a.Config == b.Config && slices.Equal(a.Packages, b.Packages)
}

// verifyContent returns the check of new bytes: they pass the strict
// check and decode to the content want.
func verifyContent(want *schema.Lockfile) func([]byte) error {
	return func(b []byte) error {
		if errs := schema.Check(b); len(errs) > 0 {
			return errors.Join(errs...)
		}
		got, err := schema.Decode(b)
		if err != nil {
			return err
		}
		if !sameContent(got, want) {
			return errors.New("the encoded bytes decode to other content than was meant")
		}
		return nil
	}
}

// configProblems are the problems an edit of the config block can
// repair: the field is invalid, the rest of the file sound.
var configProblems = []error{
	schema.ErrInvalidRegistryHash, schema.ErrInvalidTerminalMode,
	schema.ErrInvalidTerminalSize, schema.ErrInvalidFeatureFlags,
}

// decodeForEdit decodes a lockfile for an edit and returns it with its
// version, and the problems of a file decoded despite them. A valid file
// decodes strictly. A file whose only problems are
// invalid config fields (a zero registry hash, a bad terminal mode or
// size, an undefined flag) decodes too, with those fields as they are:
// the edit may replace them, and the result is encoded and checked like
// any other (an edit that leaves them is refused at encoding). Any other
// problem refuses the file with exit 4.
func decodeForEdit(path string, b []byte) (*schema.Lockfile, int, []error, error) {
	ld := parse(path, b)
	if ld.Lockfile != nil {
		return ld.Lockfile, ld.Schema.Version, nil, nil
	}
	if ld.Schema != nil {
		if l := decodeConfigDamaged(ld.Schema, b, ld.Problems); l != nil {
			return l, ld.Schema.Version, ld.Problems, nil
		}
	}
	return nil, 0, nil, refuseProblems(path, ld.Problems, "")
}

// decodeConfigDamaged decodes a file whose problems are all in
// configProblems: it puts valid stand-ins in a copy's config block (and
// the header checksum that goes with them, at the offset the checksum
// mismatch names), checks the copy strictly and decodes its packages. The
// lockfile returned has the file's own config fields. It returns nil when
// the copy is not valid.
func decodeConfigDamaged(s *schema.Schema, b []byte, problems []error) *schema.Lockfile {
	for _, p := range problems {
		ok := false
		for _, e := range configProblems {
			ok = ok || errors.Is(p, e)
		}
		if !ok {
			return nil
		}
	}
	if len(b) < s.HeaderSize || s.HeaderSize < schema.PrefixSize {
		return nil
	}
	raw := schema.DecodeConfig(b[schema.OffConfigVersion:])
	stand := raw
	if stand.RegistryHash == 0 {
		stand.RegistryHash = 1
	}
	if !stand.TerminalMode.Valid() {
		stand.TerminalMode = schema.ModeCooked
	}
	if stand.Rows == 0 {
		stand.Rows = schema.DefaultRows
	}
	if stand.Cols == 0 {
		stand.Cols = schema.DefaultCols
	}
	stand.Flags &= s.Flags
	cp := bytes.Clone(b)
	schema.PutConfig(cp[schema.OffConfigVersion:], stand)
	errs := s.Check(cp)
	if len(errs) == 1 {
		// The header checksum covered the old fields.
		var ce *schema.CorruptionError
		if errors.Is(errs[0], schema.ErrChecksumMismatch) && errors.As(errs[0], &ce) && ce.Offset >= schema.PrefixSize && int(ce.Offset)+8 <= s.HeaderSize {
			off := int(ce.Offset)
			binary.BigEndian.PutUint64(cp[off:], schema.HeaderCRC(cp[:s.HeaderSize], off))
			errs = s.Check(cp)
		}
	}
	if len(errs) > 0 {
		return nil
	}
	l, err := s.Decode(cp)
	if err != nil {
		return nil
	}
	l.Config = raw
	return l
}

// refuseProblems reports a file's problems and returns exit 4.
func refuseProblems(path string, problems []error, why string) error {
	if why == "" {
		why = "it is not a valid lockfile, so it is not edited"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %s (%s):", path, why, countOf(len(problems), "problem"))
	for i, p := range problems {
		if i == maxShown {
			fmt.Fprintf(&sb, "\n  ... and %d more (lockfix validate --json %s lists them all)", len(problems)-maxShown, path)
			break
		}
		fmt.Fprintf(&sb, "\n  %v", p)
	}
	fmt.Fprintf(&sb, "\nrepair it first: lockfix recover %s", path)
	return exit(ExitProblems, "%s", sb.String())
}

// refuseInvalid reports edited content l that cannot be encoded: the
// problems of a damaged file that the edit left in place, or the edit's
// own.
func refuseInvalid(path string, l *schema.Lockfile, version int, err error) error {
	s, _ := schema.Lookup(version)
	var defined schema.Flags
	if s != nil {
		defined = s.Flags
	}
	if probs := schema.CheckConfig(l.Config, defined); len(probs) > 0 {
		return refuseProblems(path, probs, "this edit leaves problems of the file in place")
	}
	return exit(ExitProblems, "%s: the new content cannot be written at version %d: %v; the file is unchanged", path, version, err)
}
