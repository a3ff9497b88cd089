package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/internal/watch"
	"github.com/lockfix/lockfix/schema"
)

func watchCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "watch",
		Usage:     "print what changes in lockfiles, live, as it happens",
		ArgsUsage: "FILE|DIR...",
		Description: `watch prints the state of each lockfile, then a timestamped diff of its
decoded content every time it changes on disk: config fields by name
("config.version: 1 -> 2"), packages added ("+ left-pad@1.3.0"), removed
("- ...") and changed ("~ left-pad 1.3.0 -> 1.3.1"). It also says when a
file becomes invalid (with each problem's error name), valid again, is
deleted or created.

It watches the directories, so it follows a file replaced by rename (editors,
lockfix's own writes, a Kubernetes ConfigMap's symlink swap) as well as one
written in place. Bursts of events are merged: a file is read once it has
been quiet for --debounce. A directory argument is walked for files named
bun.lockb (--name) at start; when it holds none, its bun.lockb is watched
for creation.

--json streams one JSON object per line: the initial state of each file
(kind "initial"), then one per event (kind "changed", "invalid", "valid",
"deleted" or "created") with its changes and problems.

Runs until interrupted; Ctrl-C or SIGTERM ends it with exit 0. Exit 8 when
a directory cannot be watched, 16 for bad arguments.

Examples:
   lockfix watch bun.lockb
   lockfix watch /srv/fleet
   lockfix watch --json /etc/lockfix/bun.lockb | jq -c 'select(.kind != "changed")'
   lockfix watch --debounce 200ms bun.lockb`,
		Flags: []ucli.Flag{
			&ucli.DurationFlag{Name: "debounce", Value: watch.DefaultDebounce, Usage: "read a file once it has been quiet for `DURATION`"},
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
		},
		Action: runWatch,
	}
}

// timeFormat stamps watch's lines: local time to the millisecond.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// watchPaths expands the arguments of watch and serve: files stay as they
// are, a directory is walked for files matching glob, and a directory with
// none has its DefaultName (or glob, when it is a plain name) watched for
// creation.
func (e *env) watchPaths(args []string, glob string) ([]string, error) {
	var out []string
	for _, a := range args {
		found, problems, err := e.walkPaths([]string{a}, glob, false)
		if err != nil {
			return nil, err
		}
		// A link the walk refuses is reported and not watched.
		var files []string
		for _, f := range found {
			if pe := problems[f]; pe != nil {
				fmt.Fprintf(e.stderr, "lockfix: %s\n", pe)
				continue
			}
			files = append(files, f)
		}
		if len(found) == 0 {
			name := glob
			if name == "" || strings.ContainsAny(name, `*?[\`) {
				name = DefaultName
			}
			files = []string{filepath.Join(a, name)}
		}
		out = append(out, files...)
	}
	return out, nil
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func runWatch(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("watch: no FILE given (usage: lockfix watch FILE|DIR...)")
	}
	if c.Duration("debounce") < 0 {
		return usage("watch: --debounce %s is negative", c.Duration("debounce"))
	}
	files, err := envOf(c).watchPaths(c.Args().Slice(), c.String("name"))
	if err != nil {
		return err
	}
	// Signals are caught before anything is printed, so that whoever
	// reads the first lines may stop us.
	ctx, stop := signalContext(c.Context)
	defer stop()
	w, err := watch.New(files, watch.Options{
		Debounce: c.Duration("debounce"),
		OnError:  func(err error) { fmt.Fprintf(stderr(c), "lockfix: %v\n", err) },
	})
	if err != nil {
		return exit(ExitOperational, "%v", err)
	}
	defer w.Close()
	p := &eventPrinter{out: stdout(c), errOut: stderr(c), json: global(c, "json"), quiet: global(c, "quiet")}
	for _, e := range w.Initial() {
		p.print(e)
	}
	if err := w.Run(ctx, p.print); err != nil {
		return exit(ExitOperational, "%v", err)
	}
	return nil
}

// eventPrinter writes watch events for people or as JSON lines.
type eventPrinter struct {
	out    io.Writer
	errOut io.Writer
	json   bool
	quiet  bool
}

// eventJSON is one line of watch --json.
type eventJSON struct {
	Time     string                    `json:"time"`
	Path     string                    `json:"path"`
	Kind     watch.Kind                `json:"kind"`
	Exists   bool                      `json:"exists"`
	Valid    bool                      `json:"valid"`
	Version  *int                      `json:"version,omitempty"`
	Packages *int                      `json:"packages,omitempty"`
	Changes  *render.Changes           `json:"changes,omitempty"`
	Problems []*schema.CorruptionError `json:"problems"`
}

func (p *eventPrinter) print(e watch.Event) {
	if p.json {
		p.printJSON(e)
		return
	}
	s := e.New
	if p.quiet && s.Valid() {
		return
	}
	stamp := e.Time.Format(timeFormat)
	switch e.Kind {
	case watch.Initial:
		fmt.Fprintf(p.out, "%s watching %s: %s\n", stamp, e.Path, describeState(s))
	case watch.Changed:
		fmt.Fprintf(p.out, "%s %s: changed (%s)\n", stamp, e.Path, describeState(s))
	case watch.Invalid:
		fmt.Fprintf(p.out, "%s %s: %s\n", stamp, e.Path, describeState(s))
	case watch.Valid:
		fmt.Fprintf(p.out, "%s %s: valid again (%s)\n", stamp, e.Path, describeState(s))
	case watch.Deleted:
		fmt.Fprintf(p.out, "%s %s: deleted\n", stamp, e.Path)
	case watch.Created:
		fmt.Fprintf(p.out, "%s %s: created (%s)\n", stamp, e.Path, describeState(s))
	}
	if !s.Valid() && s.Exists {
		for i, pr := range s.Problems {
			if i == maxShown {
				fmt.Fprintf(p.out, "  ... and %d more (lockfix validate %s)\n", len(s.Problems)-maxShown, e.Path)
				break
			}
			fmt.Fprintf(p.out, "  %v\n", pr)
		}
	}
	if e.Changes != nil {
		lines := changeLines(e.Changes, e.From.Lockfile, s.Lockfile)
		if len(lines) == 0 && e.Kind == watch.Changed {
			lines = []string{"(the bytes changed; the decoded content did not)"}
		}
		for _, l := range lines {
			fmt.Fprintf(p.out, "  %s\n", l)
		}
	}
}

func (p *eventPrinter) printJSON(e watch.Event) {
	s := e.New
	j := eventJSON{Time: e.Time.Format(time.RFC3339Nano), Path: e.Path, Kind: e.Kind, Exists: s.Exists,
		Valid: s.Valid(), Changes: e.Changes, Problems: toProblems(s.Problems)}
	if s.Version >= 0 {
		v := s.Version
		j.Version = &v
	}
	if s.Valid() {
		n := len(s.Lockfile.Packages)
		j.Packages = &n
	}
	b, err := json.Marshal(j)
	if err != nil {
		fmt.Fprintf(p.errOut, "lockfix: %v\n", err)
		return
	}
	p.out.Write(append(b, '\n'))
}

// describeState sums up a state: "v2, 4 packages", "missing", "INVALID (v1, 2
// problems: ChecksumMismatch, InvalidTerminalMode)".
func describeState(s *watch.State) string {
	switch {
	case !s.Exists:
		return "missing"
	case s.Valid():
		return fmt.Sprintf("v%d, %d packages", s.Version, len(s.Lockfile.Packages))
	}
	ver := ""
	if s.Version >= 0 {
		ver = fmt.Sprintf("v%d, ", s.Version)
	}
	return fmt.Sprintf("INVALID (%s%s: %s)", ver, countOf(len(s.Problems), "problem"), strings.Join(s.ProblemNames(), ", "))
}

// changeLines renders changes for people: config fields as
// "field: old -> new", packages as "+ name@version", "- name@version" and
// "~ name old -> new" with only what differs.
func changeLines(ch *render.Changes, from, to *schema.Lockfile) []string {
	var out []string
	for _, f := range ch.Config {
		out = append(out, fmt.Sprintf("%s: %s -> %s", f.Field, f.Old, f.New))
	}
	for _, a := range ch.Added {
		nv, _, _ := strings.Cut(a, " ")
		out = append(out, "+ "+nv)
	}
	for _, r := range ch.Removed {
		nv, _, _ := strings.Cut(r, " ")
		out = append(out, "- "+nv)
	}
	for _, c := range ch.Changed {
		out = append(out, packageChange(c, from, to)...)
	}
	return out
}

// packageChange renders one changed package name.
func packageChange(c render.PackageChange, from, to *schema.Lockfile) []string {
	a, b := versionsOf(from, c.Name), versionsOf(to, c.Name)
	if len(a) != 1 || len(b) != 1 {
		if va, vb := joinVersions(a), joinVersions(b); va != vb {
			return []string{fmt.Sprintf("~ %s %s -> %s", c.Name, va, vb)}
		}
		return []string{fmt.Sprintf("~ %s: %s -> %s", c.Name, c.Old, c.New)}
	}
	pa, pb := a[0], b[0]
	if pa.Version != pb.Version {
		return []string{fmt.Sprintf("~ %s %s -> %s", c.Name, pa.Version, pb.Version)}
	}
	var out []string
	if pa.Resolved != pb.Resolved {
		out = append(out, fmt.Sprintf("~ %s@%s resolved: %s -> %s", c.Name, pa.Version, orNone(pa.Resolved), orNone(pb.Resolved)))
	}
	if pa.Integrity != pb.Integrity {
		out = append(out, fmt.Sprintf("~ %s@%s integrity: %s -> %s", c.Name, pa.Version, orNone(pa.Integrity), orNone(pb.Integrity)))
	}
	return out
}

func versionsOf(l *schema.Lockfile, name string) []*schema.Package {
	var out []*schema.Package
	if l == nil {
		return nil
	}
	for i := range l.Packages {
		if l.Packages[i].Name == name {
			out = append(out, &l.Packages[i])
		}
	}
	return out
}

func joinVersions(ps []*schema.Package) string {
	vs := make([]string, len(ps))
	for i, p := range ps {
		vs[i] = p.Version
	}
	if len(vs) == 0 {
		return "(none)"
	}
	return strings.Join(vs, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
