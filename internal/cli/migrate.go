package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

func migrateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "migrate",
		Usage:     "convert lockfiles to another config version, one file or a fleet",
		ArgsUsage: "--to N FILE|DIR...",
		Description: fmt.Sprintf(`migrate converts each lockfile to the config version given by --to, up or
down, by chaining the registered steps (0 -> 1 -> 2, 2 -> 1 -> 0). Each file
is read under a lock, decoded strictly, converted in memory, encoded,
decoded again and validated, and only then replaced whole (temp file,
fsync, rename, directory fsync). A file that fails the format's checks is
refused and left byte for byte as it was: repair it with 'lockfix recover'.

--to takes a config version (2, v2), a bun release (bun@1.4.2: the version
that release writes) or a bun constraint (bun@">=1.3.5, <1.4"), which must
fall within the releases of exactly one config version:
%s
Without --to, the target is read from the LOCKFIX_TARGET environment
variable, in the same forms (a DaemonSet sets it from a ConfigMap).

Directories are walked for files named bun.lockb (--name to change);
symbolic links to directories met in the walk are not followed (a DIR
given as one is). Files already at the
target are skipped and counted, so running migrate again is how an
interrupted or partly failed run resumes. One bad file never stops the
run unless --fail-fast.

A downgrade from 2 refuses a file with the FROZEN_LOCKFILE,
VERIFY_INTEGRITY or OFFLINE flag set (versions 0 and 1 cannot hold them),
naming the flags; --allow-lossy drops them and reports what was dropped.

--jobs: files are migrated by N workers (default %d here: eight per
processor, between 8 and 16). Each file needs as much waiting for the
filesystem (syncs, creating and moving temp files) as processor time, so
more workers than processors keep the processors and the disk busy and let
the filesystem commit many syncs together.

--sync=file makes each file durable on its own (fsync of the file and of
its directory). --sync=batch writes a batch of up to %d temp files, syncs
them, renames each over its lockfile (each checked unchanged before and
after its rename) and syncs the renames with the next batch: one syncfs
of the filesystem while other programs have little data waiting to be
written, else fsyncs of lockfix's own files and directories only, all at
once, so a run does not wait for other programs' writes. The replaced
originals that no program has open become later files' temp files,
saving the filesystem an inode freed and one allocated per file.
Every file is still either old or new after a crash at any moment.

The default (auto) is batch for runs of more than %d files and file
otherwise. Batches fit the limit of open files: with too few descriptors
left, migrate syncs each file on its own. Temp files left by a killed run
are removed by the next run.

Output: a line per file migrated, refused or failed (and skipped, for a
single file), then a summary with the counts, the time and files per
second. With --json, stdout carries one JSON object per file (path, from,
to, status, reason, duration in seconds, error, dropped, problems) and the
summary goes to stderr. --report FILE writes the same objects to FILE, one
per line. A progress bar is drawn on stderr when it is a terminal.
Statuses: migrated, would-migrate (--dry-run), skipped, refused (invalid,
lossy, no-step, verify), failed (io, locked, changed, linked: more than
one hard link and no --break-links, memory: the file would not fit in the
memory left under GOMEMLIMIT or ulimit -v/-d; the file is as it was),
not-durable (sync: the new content is in place, but the fsync after its
rename failed, so it may not survive a crash; run migrate again),
synced (already at the target; a previous run had left it not durable, and
this run synced it).

--dry-run does everything but the rename: what it says would succeed does.
For a single file it also prints the diff of the content.

Exit 0 when every file is at the target, 4 when any file was refused, 8
when any failed (I/O, a lock, a change underneath) or the run was
interrupted, 10 (8 + 2) when any is not-durable; the codes add up. 16 for
a usage error, such as a --to that names no single version. --exit-zero
exits 0 whatever happened to the files (usage errors still exit 16): for
an init container that must not keep its pod from starting; the --report
file says what happened.

Examples:
   lockfix migrate --to 2 bun.lockb
   lockfix migrate --to bun@1.4.2 --dry-run bun.lockb
   lockfix migrate --to 'bun@">=1.3.5, <1.4"' services/
   lockfix migrate --to 2 --jobs 16 --report migrate.jsonl /srv/fleet
   lockfix migrate --to 1 --allow-lossy bun.lockb
   LOCKFIX_TARGET=2 lockfix migrate --exit-zero --report /run/lockfix/migrate.jsonl /srv/app
   lockfix migrate --json --to v2 /srv/fleet | jq -r 'select(.status=="refused") | .path'`,
			strings.TrimRight(migrate.RangesText(), "\n"), migrate.DefaultJobs(), migrate.DefaultBatchSize, migrate.BatchThreshold),
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "to", Usage: "target: config `VERSION` (2, v2), bun release (bun@1.4.2) or bun constraint (bun@\">=1.3.5, <1.4\")"},
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
			&ucli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: fmt.Sprintf("`N` files at once (0: %d, eight per processor between 8 and 16)", migrate.DefaultJobs())},
			&ucli.BoolFlag{Name: "fail-fast", Usage: "stop at the first file refused or failed"},
			&ucli.StringFlag{Name: "report", Usage: "write one JSON object per file to `FILE`"},
			&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "do everything but the rename; say what would happen"},
			&ucli.BoolFlag{Name: "allow-lossy", Usage: "let a downgrade drop the flags the target cannot hold"},
			&ucli.StringFlag{Name: "sync", Value: string(migrate.SyncAuto), Usage: fmt.Sprintf("`MODE`: file (fsync each), batch (fsyncs of a batch at once) or auto (batch above %d files)", migrate.BatchThreshold)},
			&ucli.BoolFlag{Name: "exit-zero", Usage: "exit 0 whatever happened to the files (an init container that must not hold its pod back); --report keeps what did"},
			&ucli.DurationFlag{Name: "wait", Usage: "how long to wait for a file locked by another lockfix (`DURATION`, e.g. 5s)"},
			&ucli.BoolFlag{Name: "break-links", Aliases: []string{"force"}, Usage: "replace lockfiles that have more than one hard link (their other names keep the old content)"},
			&ucli.BoolFlag{Name: "no-reuse", Usage: "remove each replaced original instead of reusing it as a later file's temp file (for a fleet that NFS clients read by file handle)"},
		},
		Action: runMigrate,
	}
}

// TargetEnv names the environment variable migrate reads its target from
// when --to is absent (a DaemonSet sets it from the fleet's ConfigMap).
const TargetEnv = "LOCKFIX_TARGET"

// migrateRecord is one file's object in --json and --report.
type migrateRecord struct {
	Path     string                    `json:"path"`
	From     *int                      `json:"from"`
	To       int                       `json:"to"`
	Status   string                    `json:"status"`
	Reason   string                    `json:"reason,omitempty"`
	Duration float64                   `json:"duration"`
	Error    string                    `json:"error"`
	Dropped  []string                  `json:"dropped"`
	Problems []*schema.CorruptionError `json:"problems,omitempty"`
	Diff     string                    `json:"diff,omitempty"`
}

func runMigrate(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("migrate: no FILE or DIR given (usage: lockfix migrate --to N FILE|DIR...)")
	}
	to, toName := c.String("to"), "--to"
	if !c.IsSet("to") {
		to, toName = os.Getenv(TargetEnv), TargetEnv
	}
	if to == "" {
		return usage("migrate: --to is required (or %s): a config version (2, v2), a bun release (bun@1.4.2) or a bun constraint (bun@\">=1.3.5, <1.4\")", TargetEnv)
	}
	target, err := migrate.ParseTarget(to)
	if err != nil {
		return usage("migrate: %s %s", toName, strings.TrimPrefix(err.Error(), migrate.ErrBadTarget.Error()+" "))
	}
	mode, err := migrate.ParseSync(c.String("sync"))
	if err != nil {
		return usage("migrate: %v", err)
	}
	jobs := c.Int("jobs")
	if jobs < 0 {
		return usage("migrate: --jobs %d: want a positive number of workers, or 0 for the default", jobs)
	}
	if c.Duration("wait") < 0 {
		return usage("migrate: --wait %s: want a duration of 0 or more", c.Duration("wait"))
	}
	files, err := envOf(c).expandPaths(c.Args().Slice(), c.String("name"))
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return exit(ExitOperational, "migrate: %v", err)
	}
	asJSON, quiet, dry := global(c, "json"), global(c, "quiet"), c.Bool("dry-run")
	single := len(files) == 1

	// Human text goes to stdout, or to stderr when stdout carries JSON.
	human := stdout(c)
	if asJSON {
		human = stderr(c)
	}
	var report *bufio.Writer
	if name := c.String("report"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return exit(ExitOperational, "migrate: --report: %v", err)
		}
		defer f.Close()
		report = bufio.NewWriter(f)
	}
	if target.Why != "" && !quiet {
		fmt.Fprintf(human, "target: %s\n", target.Why)
	}

	bar := newBar(stderr(c), len(files), quiet)
	var outMu sync.Mutex
	say := func(w io.Writer, format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		if bar != nil {
			bar.Clear()
		}
		fmt.Fprintf(w, format, args...)
	}
	var reportErr error
	onResult := func(r *migrate.Result) {
		rec := toRecord(r, single && dry)
		if asJSON || report != nil {
			line, err := marshalLine(rec)
			if err != nil {
				reportErr = err
			}
			if asJSON {
				say(stdout(c), "%s\n", line)
			}
			if report != nil {
				if _, err := report.Write(append(line, '\n')); err != nil && reportErr == nil {
					reportErr = err
				}
			}
		}
		if !asJSON {
			if text := describe(r, single, quiet); text != "" {
				say(stdout(c), "%s", text)
			}
			if single && dry && r.Status == migrate.StatusWouldMigrate && !quiet {
				say(stdout(c), "%s", render.Unified(fmt.Sprintf("%s (v%d)", r.Path, r.From), fmt.Sprintf("%s (v%d, dry run)", r.Path, r.To), r.Before, r.After))
			}
		}
		if bar != nil {
			bar.Add(1)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// What the walk found wrong fails here, as a file that cannot be
	// read fails in Run; the rest is migrated.
	var walked []string
	var walkFailed int
	for _, f := range files {
		if e := envOf(c).walkProblem(f); e != nil {
			walkFailed++
			onResult(&migrate.Result{Path: f, From: -1, To: target.Version, Status: migrate.StatusFailed, Reason: migrate.ReasonIO, Err: e})
			continue
		}
		walked = append(walked, f)
	}
	sum := migrate.Run(ctx, walked, migrate.Options{
		To:          target.Version,
		AllowLossy:  c.Bool("allow-lossy"),
		Writer:      writerName,
		DryRun:      dry,
		FailFast:    c.Bool("fail-fast"),
		Jobs:        jobs,
		Sync:        mode,
		Wait:        c.Duration("wait"),
		Links:       c.Bool("break-links"),
		NoReuse:     c.Bool("no-reuse"),
		KeepContent: single && dry,
		OnResult:    onResult,
	})
	if bar != nil {
		bar.Finish()
	}
	if walkFailed > 0 {
		sum.Files += walkFailed
		sum.Failed += walkFailed
		if sum.Reasons == nil {
			sum.Reasons = map[migrate.Reason]int{}
		}
		sum.Reasons[migrate.ReasonIO] += walkFailed
	}
	code := migrateExit(sum)
	if c.Bool("exit-zero") {
		code = ExitOK // what happened is in the report and on stderr
	}
	if report != nil {
		if err := report.Flush(); err != nil && reportErr == nil {
			reportErr = err
		}
	}
	if reportErr != nil {
		fmt.Fprintf(stderr(c), "lockfix: migrate: --report %s: %v\n", c.String("report"), reportErr)
		code |= ExitOperational
	}
	if !quiet {
		fmt.Fprint(human, summaryText(sum, target.Version, dry))
	}
	return exitCode(code)
}

// newBar returns a progress bar on stderr when stderr is a terminal, or
// nil.
func newBar(w io.Writer, n int, quiet bool) *progressbar.ProgressBar {
	f, ok := rawWriter(w).(*os.File)
	if quiet || n < 2 || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("migrating"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func toRecord(r *migrate.Result, diff bool) migrateRecord {
	rec := migrateRecord{
		Path: r.Path, To: r.To, Status: string(r.Status), Reason: string(r.Reason),
		Duration: r.Duration.Round(time.Microsecond).Seconds(),
		Error:    r.Message(), Dropped: r.Dropped,
	}
	if rec.Dropped == nil {
		rec.Dropped = []string{}
	}
	if r.From >= 0 {
		from := r.From
		rec.From = &from
	}
	for _, p := range r.Problems {
		rec.Problems = append(rec.Problems, schema.AsProblem(p, r.Path))
	}
	if diff && r.Before != nil && r.After != nil {
		rec.Diff = render.Unified(fmt.Sprintf("%s (v%d)", r.Path, r.From), fmt.Sprintf("%s (v%d, dry run)", r.Path, r.To), r.Before, r.After)
	}
	return rec
}

// describe is a file's lines for people: every file but the skipped ones
// (shown for a single file only); with --quiet, only problems.
func describe(r *migrate.Result, single, quiet bool) string {
	var b strings.Builder
	path := displayPath(r.Path)
	switch r.Status {
	case migrate.StatusMigrated, migrate.StatusWouldMigrate:
		if quiet {
			return ""
		}
		verb := "migrated"
		if r.Status == migrate.StatusWouldMigrate {
			verb = "would migrate"
		}
		fmt.Fprintf(&b, "%s: %s v%d -> v%d", path, verb, r.From, r.To)
		if len(r.Dropped) > 0 {
			dropWord := "dropped"
			if r.Status == migrate.StatusWouldMigrate {
				dropWord = "would drop"
			}
			fmt.Fprintf(&b, " (%s %s)", dropWord, strings.Join(r.Dropped, ", "))
		}
		b.WriteString("\n")
	case migrate.StatusSkipped:
		if quiet || !single {
			return ""
		}
		fmt.Fprintf(&b, "%s: already at v%d, nothing to do\n", path, r.To)
	case migrate.StatusRefused:
		if r.Reason == migrate.ReasonInvalid {
			ver := ""
			if r.From >= 0 {
				ver = fmt.Sprintf("v%d ", r.From)
			}
			n := len(r.Problems)
			todo := fmt.Sprintf("repair it first with 'lockfix recover %s'", shellQuote(r.Path))
			if why := unknownVersion(r.Problems); why != "" {
				todo = why
			}
			fmt.Fprintf(&b, "%s: refused: invalid %sfile (%s); %s\n", path, ver, countOf(n, "problem"), todo)
			for i, p := range r.Problems {
				if i == maxShown {
					fmt.Fprintf(&b, "  ... and %d more (use --json for all)\n", n-maxShown)
					break
				}
				fmt.Fprintf(&b, "  %v\n", p)
			}
			break
		}
		fmt.Fprintf(&b, "%s: refused: %s\n", path, r.Message())
	case migrate.StatusFailed:
		fmt.Fprintf(&b, "%s: failed: %s\n", path, r.Message())
	case migrate.StatusNotDurable:
		fmt.Fprintf(&b, "%s: not durable: %s\n", path, r.Message())
	case migrate.StatusSynced:
		if !quiet {
			fmt.Fprintf(&b, "%s: synced: already at v%d, made durable (a previous run had not)\n", path, r.To)
		}
	}
	return b.String()
}

// summaryText is the run's summary for people.
func summaryText(s migrate.Summary, to int, dry bool) string {
	verb := "migrated"
	if dry {
		verb = "would migrate"
	}
	files := "files"
	if s.Files == 1 {
		files = "file"
	}
	var b strings.Builder
	how := fmt.Sprintf("%d jobs, sync %s", s.Jobs, s.Sync)
	if dry {
		how = fmt.Sprintf("%d jobs, dry run", s.Jobs)
	}
	fmt.Fprintf(&b, "migrate to v%d: %d %s in %s (%.0f files/s, %s): %d %s, %d skipped, %d refused, %d failed",
		to, s.Files, files, roundDuration(s.Elapsed), s.FilesPerSecond(), how, s.Migrated, verb, s.Skipped, s.Refused, s.Failed)
	if s.NotDurable > 0 {
		fmt.Fprintf(&b, ", %d not durable", s.NotDurable)
	}
	if s.Synced > 0 {
		fmt.Fprintf(&b, ", %d synced", s.Synced)
	}
	if len(s.Reasons) > 0 {
		var parts []string
		for _, r := range []migrate.Reason{migrate.ReasonInvalid, migrate.ReasonLossy, migrate.ReasonNoStep, migrate.ReasonVerify,
			migrate.ReasonIO, migrate.ReasonLocked, migrate.ReasonChanged, migrate.ReasonSync, migrate.ReasonLinked, migrate.ReasonMemory} {
			if n := s.Reasons[r]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, r))
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	switch {
	case s.Interrupted:
		fmt.Fprintf(&b, "interrupted: %d files not processed; run the same command again to resume\n", s.NotRun)
	case s.Stopped:
		fmt.Fprintf(&b, "stopped at the first problem (--fail-fast): %d files not processed\n", s.NotRun)
	}
	if s.Reasons[migrate.ReasonLossy] > 0 {
		b.WriteString("a lossy downgrade was refused: --allow-lossy drops what the target cannot hold\n")
	}
	return b.String()
}

// roundDuration rounds d to three significant figures or so.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// marshalLine is v as one line of JSON, without HTML escaping ("->" stays
// readable).
func marshalLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
