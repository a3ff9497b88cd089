package cli

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// writeFlags are the flags of every command that rewrites a lockfile in
// place through rewrite.
func writeFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the diff of what would change and write nothing"},
		&ucli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` (e.g. 10s) for another lockfix that holds the file's lock; 0 fails at once with exit 8"},
		&ucli.BoolFlag{Name: "break-links", Aliases: []string{"force"}, Usage: "replace a lockfile that has more than one hard link (its other names keep the old content)"},
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

// edit changes a lockfile's config block: it gets a copy to modify. An
// error it returns ends the command as it is (use exit or usage).
type edit func(c *schema.Config) error

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

// rewrite is the write path of the commands that edit one lockfile's
// config in place (set, feature): it opens and locks path (--wait),
// checks it strictly, applies change to its config block, and replaces
// the file through atomicfile with the header rebuilt and the package
// records copied as they are (editHeader), after checking the new bytes
// (verifyHeaderEdit: the header strictly, the records unchanged). Its
// cost is close to validate's and its memory near two copies of the
// file; the packages are decoded only for the diff of --dry-run. With
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
		return exitPath(ExitOperational, path, err)
	}
	defer h.Close()
	b := h.Data()
	s, old, problems, err := checkForEdit(path, b)
	if err != nil {
		return err
	}
	next := old
	if err := change(&next); err != nil {
		return err
	}
	next.Version = s.Version
	res := rewriteResult{Path: path, Version: s.Version, DryRun: dry,
		Changes: render.Compare(&schema.Lockfile{Config: old}, &schema.Lockfile{Config: next})}
	if next == old {
		if len(problems) > 0 {
			return refuseProblems(path, problems, "this edit changes nothing and leaves the file's problems in place")
		}
		return reportRewrite(c, &res, "nothing to change")
	}
	res.Changed = true
	if probs := schema.CheckConfig(next, s.Flags); len(probs) > 0 {
		return refuseProblems(path, probs, "this edit leaves problems of the file in place")
	}
	span := trace.Start("header.encode")
	nb, edited := editHeader(s, b, next)
	span.End(fmt.Sprintf("schema/v%d", s.Version))
	check := verifyHeaderEdit(s, b, edited, next)
	res.Bytes = len(nb)
	if dry {
		// The whole pipeline runs but the rename: what a dry run says
		// would be written would be.
		if err := check(nb); err != nil {
			return exit(ExitProblems, "%s: the new content does not verify, nothing would be written: %v", path, err)
		}
		after, err := s.Decode(nb)
		if err != nil {
			return exit(ExitProblems, "%s: the new content does not decode, nothing would be written: %v", path, err)
		}
		before := *after
		before.Config = old
		res.Diff = render.Unified(path, path+" (new)", &before, after)
		return reportRewrite(c, &res, "dry run, nothing written")
	}
	if beforeReplace != nil {
		beforeReplace(h.Target())
	}
	if err := h.Replace(nb, check); err != nil {
		if errors.Is(err, atomicfile.ErrVerify) {
			return exit(ExitProblems, "%s; nothing was written", namePath(path, err))
		}
		return exit(ExitOperational, "%s; nothing was written", namePath(path, err))
	}
	res.Written = true
	return reportRewrite(c, &res, fmt.Sprintf("written (v%d, %d bytes)", s.Version, len(nb)))
}

// headerEdit is where editHeader changed a header: the config block, the
// writer field and the header checksums, each as [start, end).
type headerEdit [][2]int

// contains reports whether offset i is in a changed range.
func (e headerEdit) contains(i int) bool {
	for _, r := range e {
		if i >= r[0] && i < r[1] {
			return true
		}
	}
	return false
}

// editHeader returns a copy of b, a file of schema s that passed the
// strict check (or whose only problems are the config fields cfg
// replaces), with its config block set to cfg: the header is rebuilt and
// the package records are copied byte for byte. Rebuilding the header
// writes cfg, names lockfix in the writer field (the versions that have
// one) and recomputes the header checksums; the fields come from the
// schema's header table, so a version registered from outside works too.
// It returns the new bytes and where the header changed.
func editHeader(s *schema.Schema, b []byte, cfg schema.Config) ([]byte, headerEdit) {
	hs := s.HeaderSize
	out := make([]byte, len(b))
	copy(out, b)
	schema.PutConfig(out[schema.OffConfigVersion:], cfg)
	edited := headerEdit{{schema.OffConfigVersion, schema.PrefixSize}}
	for i := range s.Header {
		f := &s.Header[i]
		if f.Kind == schema.KindWriter {
			v := out[f.Offset:f.End()]
			clear(v)
			copy(v, writerName)
			edited = append(edited, [2]int{f.Offset, f.End()})
		}
	}
	for i := range s.Header {
		if f := &s.Header[i]; f.Kind == schema.KindHeaderChecksum {
			schema.PutUint(out[f.Offset:f.End()], schema.HeaderCRC(out[:hs], f.Offset))
			edited = append(edited, [2]int{f.Offset, f.End()})
		}
	}
	return out, edited
}

// verifyHeaderEdit returns the check of the bytes editHeader made from
// old (migrate.Verify of an edit): the header keeps every rule of its
// version (the strict header check) and holds the config want, and
// differs from old's only where the edit wrote; the package records are
// old's, byte for byte, which the strict check of old has passed, and so
// are the fields that describe them (count, array size and checksum).
func verifyHeaderEdit(s *schema.Schema, old []byte, edited headerEdit, want schema.Config) func([]byte) error {
	return migrate.Verify(migrate.Expect{Version: s.Version, Config: &want, Old: old, Edited: edited.contains})
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
		return printJSON(stdout(c), res)
	}
	if global(c, "quiet") {
		return nil
	}
	if res.Diff != "" {
		fmt.Fprint(stdout(c), res.Diff)
	}
	for _, line := range res.Changes.Summary() {
		fmt.Fprintf(stdout(c), "%s: %s\n", displayPath(res.Path), line)
	}
	fmt.Fprintf(stdout(c), "%s: %s\n", displayPath(res.Path), status)
	return nil
}

// configProblems are the problems an edit of the config block can
// repair: the field is invalid, the rest of the file sound.
var configProblems = []error{
	schema.ErrInvalidRegistryHash, schema.ErrInvalidTerminalMode,
	schema.ErrInvalidTerminalSize, schema.ErrInvalidFeatureFlags,
}

// checkForEdit checks a lockfile strictly for an edit of its config and
// returns its schema, its config block, and the problems of a file edited
// despite them. A valid file has none. A file whose only problems are
// invalid config fields (a zero registry hash, a bad terminal mode or
// size, an undefined flag) may be edited too: the edit may replace them,
// and a result that keeps one is refused. Any other problem refuses the
// file with exit 4. Nothing is decoded but the config block.
func checkForEdit(path string, b []byte) (*schema.Schema, schema.Config, []error, error) {
	s, err := sniffHeader(b)
	if err != nil {
		return nil, schema.Config{}, nil, refuseProblems(path, []error{schema.AsProblem(err, path)}, "")
	}
	start := time.Now()
	errs := s.Check(b)
	trace.Line("validate", time.Since(start), fmt.Sprintf("schema/v%d", s.Version))
	if len(errs) == 0 {
		return s, schema.DecodeConfig(b[schema.OffConfigVersion:]), nil, nil
	}
	problems := make([]error, len(errs))
	for i, e := range errs {
		problems[i] = schema.AsProblem(e, path)
	}
	if onlyConfigDamaged(s, b, problems) {
		return s, schema.DecodeConfig(b[schema.OffConfigVersion:]), problems, nil
	}
	return nil, schema.Config{}, nil, refuseProblems(path, problems, "")
}

// onlyConfigDamaged reports whether the problems of b are all in
// configProblems and b is valid once its config block holds valid
// stand-ins (with the header checksum that goes with them, at the offset
// the checksum mismatch names): a copy is made and checked strictly.
func onlyConfigDamaged(s *schema.Schema, b []byte, problems []error) bool {
	for _, p := range problems {
		ok := false
		for _, e := range configProblems {
			ok = ok || errors.Is(p, e)
		}
		if !ok {
			return false
		}
	}
	if len(b) < s.HeaderSize || s.HeaderSize < schema.PrefixSize {
		return false
	}
	stand := schema.DecodeConfig(b[schema.OffConfigVersion:])
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
	return len(errs) == 0
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
	if why := unknownVersion(problems); why != "" {
		fmt.Fprintf(&sb, "\n%s", why)
	} else {
		fmt.Fprintf(&sb, "\nrepair it first: lockfix recover %s", path)
	}
	e := &exitError{code: ExitProblems, msg: sb.String(), path: path}
	if len(problems) > 0 {
		e.cause = problems[0]
	}
	return e
}
