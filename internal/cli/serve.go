package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/metrics"
	"github.com/lockfix/lockfix/internal/watch"
	"github.com/lockfix/lockfix/lint"
	"github.com/lockfix/lockfix/schema"
)

// DefaultListen is where serve listens unless told otherwise: loopback.
const DefaultListen = "127.0.0.1:9090"

func serveCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "serve",
		Usage:     "export the state of lockfiles as Prometheus metrics",
		ArgsUsage: "FILE|DIR...",
		Description: `serve watches lockfiles (as 'lockfix watch' does) and serves their state
over HTTP: GET /metrics in the Prometheus exposition format, GET /healthz
(200 while watching). The state is kept current by the watcher, so a
scrape never rereads a file. serve reads only the paths it is given (a
directory is walked for files named bun.lockb at start, --name to change)
and listens on loopback unless --listen says otherwise.

Metrics, one series per path:
   lockfix_config_info{path,config_fingerprint,config_version,registry_hash,
       feature_flags,terminal_mode,terminal_rows,terminal_cols} 1
   lockfix_config_valid{path}                      1 valid, 0 missing or invalid
   lockfix_feature_enabled{path,flag}              1 or 0 per flag of the version
   lockfix_packages{path}                          package count
   lockfix_config_reads_total{path}                reads (start and each change)
   lockfix_config_read_errors_total{path}          reads finding it missing or invalid
   lockfix_config_last_change_timestamp_seconds{path}
   lockfix_config_read_duration_seconds            histogram
   lockfix_build_info{version,goversion}           1
   lockfix_first_read_done                         1 once every file was read
   lockfix_files_pending_first_read                files not read yet
   lockfix_policy_violations{path,rule}            with --policy: lint findings per rule

config_fingerprint is the 13 config bytes in hex; the other labels are
their fields, so a rule can compare any of them across instances.

--reference FILE compares every other valid file's 13 config bytes with
FILE's (FILE is watched too, and its updates are followed):
   lockfix_config_matches_reference{path}          1 equal, 0 different
   lockfix_config_reference_difference{path,field,value,reference} 1 per field

--migrate-report FILE exports the outcome of a 'lockfix migrate --report
FILE' run (an init container's), reread when it changes:
   lockfix_migrate_last_status{path,status,reason} 1 per file
   lockfix_migrate_report_ok                       1 read whole, 0 missing or torn
   lockfix_migrate_report_timestamp_seconds

serve answers at once: the files are read in the background, and until
every file has been read /metrics shows those read so far
(lockfix_files_pending_first_read counts the others); a line on stderr
says when the first read is done. Each change is logged on stderr (not
with --quiet). Ctrl-C or SIGTERM
stops it with exit 0; exit 8 when it cannot listen or watch.

Examples:
   lockfix serve bun.lockb
   lockfix serve --listen 0.0.0.0:9090 /etc/lockfix/bun.lockb /srv/app
   lockfix serve --reference /etc/lockfix/bun.lockb --migrate-report /run/lockfix/migrate.jsonl /srv/app
   curl -s 127.0.0.1:9090/metrics | grep lockfix_config_info`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "`ADDR` to listen on (host:port; port 0 picks a free one)"},
			&ucli.DurationFlag{Name: "debounce", Value: watch.DefaultDebounce, Usage: "read a file once it has been quiet for `DURATION`"},
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
			&ucli.StringFlag{Name: "reference", Usage: "compare every lockfile's config with the one of `FILE` (watched too)"},
			&ucli.StringFlag{Name: "migrate-report", Usage: "export the outcome of 'lockfix migrate --report `FILE`'"},
			&ucli.StringFlag{Name: "policy", Usage: "export the findings of 'lockfix lint' under the YAML policy `FILE`"},
		},
		Action: runServe,
	}
}

func runServe(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("serve: no FILE given (usage: lockfix serve [--listen ADDR] FILE|DIR...)")
	}
	addr := c.String("listen")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usage("serve: --listen %q: %v (want host:port, e.g. %s)", addr, err, DefaultListen)
	}
	if c.Duration("debounce") < 0 {
		return usage("serve: --debounce %s is negative", c.Duration("debounce"))
	}
	glob := c.String("name")
	if _, err := filepath.Match(glob, ""); err != nil {
		return usage("serve: --name %q is not a valid glob: %v", glob, err)
	}
	ref := c.String("reference")
	// The directories are walked by srv.Run, after serve listens, so
	// that /metrics answers while thousands of files are found and read.
	find := func() ([]string, error) {
		files, err := envOf(c).watchPaths(c.Args().Slice(), glob)
		// The reference is named as the user gave it: a directory walk
		// may have found it under another spelling, so compare cleaned.
		for i, f := range files {
			if ref != "" && filepath.Clean(f) == filepath.Clean(ref) {
				files[i] = ref
			}
		}
		return files, err
	}
	ctx, stop := signalContext(c.Context)
	defer stop()
	quiet := global(c, "quiet")
	var srv *metrics.Server
	opts := metrics.Options{
		Find:          find,
		Debounce:      c.Duration("debounce"),
		Version:       Version,
		OnError:       func(err error) { fmt.Fprintf(stderr(c), "lockfix: %v\n", err) },
		Reference:     ref,
		MigrateReport: c.String("migrate-report"),
		OnScanned: func(n int, d time.Duration) {
			fmt.Fprintf(stderr(c), "lockfix serve: read %d lockfiles in %s (%d valid)\n", n, roundDuration(d), countValid(srv))
		},
	}
	if c.String("policy") != "" {
		var err error
		if opts.Policy, opts.PolicyRules, err = servePolicy(c); err != nil {
			return err
		}
	}
	srv, err := metrics.New(nil, opts)
	if err != nil {
		return exit(ExitOperational, "%v", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return exit(ExitOperational, "serve: %v", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// The files are found and read in the background: /metrics answers
	// at once with those read so far.
	fmt.Fprintf(stderr(c), "lockfix serve: metrics on http://%s/metrics\n", l.Addr())
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	watched := make(chan error, 1)
	go func() {
		watched <- srv.Run(ctx, func(e watch.Event) {
			if !quiet {
				logEvent(stderr(c), e)
			}
		})
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = err
	case err := <-watched:
		runErr = err
	}
	stop()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(shutdown)
	var ee *exitError
	switch {
	case errors.As(runErr, &ee): // from the walk, with its own code
		return runErr
	case runErr != nil && !errors.Is(runErr, http.ErrServerClosed):
		return exit(ExitOperational, "serve: %v", runErr)
	}
	return nil
}

// countValid counts the valid files among srv's.
func countValid(srv *metrics.Server) int {
	n := 0
	for _, s := range srv.States() {
		if s.Valid() {
			n++
		}
	}
	return n
}

// describeSummary is describeState for a summary, whose problems may be
// cut short: it counts them all.
func describeSummary(s *watch.State) string {
	if !s.Exists || s.Valid() {
		return describeState(s)
	}
	ver := ""
	if s.Version >= 0 {
		ver = fmt.Sprintf("v%d, ", s.Version)
	}
	return fmt.Sprintf("INVALID (%s%s: %s)", ver, countOf(max(s.ProblemCount, len(s.Problems)), "problem"), strings.Join(s.ProblemNames(), ", "))
}

// servePolicy compiles --policy for serve's policy metrics.
func servePolicy(c *ucli.Context) (func(*schema.Lockfile) map[string]int, []string, error) {
	p, err := lintPolicy(c)
	if err != nil {
		return nil, nil, err
	}
	checker, err := lint.Compile(p)
	if err != nil {
		return nil, nil, usage("serve: --policy: %v", err)
	}
	return func(l *schema.Lockfile) map[string]int {
		n := map[string]int{}
		for _, f := range lint.Lint(l, nil, checker) {
			n[f.Rule]++
		}
		return n
	}, checker.Rules(), nil
}

// maxLogged is how many changes one log line lists.
const maxLogged = 5

// logEvent writes one line per change on stderr, for container logs.
func logEvent(w io.Writer, e watch.Event) {
	line := fmt.Sprintf("%s %s: %s", e.Time.Format(timeFormat), e.Path, e.Kind)
	switch {
	case e.Kind == watch.Deleted:
	case !e.New.Valid():
		line += " " + describeSummary(e.New)
	case e.Changes != nil && (!e.Changes.Empty() || e.From.Packages != e.New.Packages):
		// serve keeps summaries (watch.Options.Summary): the changes are
		// the config's, and the package count's.
		lines := changeLines(e.Changes, e.From.Lockfile, e.New.Lockfile)
		if e.From.Packages != e.New.Packages {
			lines = append(lines, fmt.Sprintf("packages: %d -> %d", e.From.Packages, e.New.Packages))
		}
		if n := len(lines) - maxLogged; n > 0 {
			lines = append(lines[:maxLogged], fmt.Sprintf("and %d more", n))
		}
		line += " (" + strings.Join(lines, "; ") + ")"
	}
	fmt.Fprintln(w, line)
}
