package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/lint"
	"github.com/lockfix/lockfix/schema"
)

func lintCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "lint",
		Usage:     "check lockfiles against a supply-chain policy",
		ArgsUsage: "FILE|DIR...",
		Description: `lint checks every package of each lockfile against a policy: where it
resolves from, its integrity, that its URL names the package and version
it claims, and the header's registry, flags and version. The checks
(rule ids) and the flags that turn them on:

   https                --require-https         resolved URL is not https
   allowed-host         --allowed-host HOST     resolved URL on another host
   allowed-scheme       --allowed-scheme SCHEME another scheme
   integrity-missing    --require-integrity     no integrity string
   integrity-algorithm  --integrity ALG[,ALG]   another algorithm (sha512)
   name-matches-url     on (--no-match-names)   URL names another package
   version-matches-url  on (--no-match-versions) URL names another version
   registry             --registry URL          header registry hash differs
   required-flag        --require-flag FLAG     flag not set
   forbidden-flag       --forbid-flag FLAG      flag set
   min-version          --min-version N         config version below N
   denied-package       --deny NAME@RANGE       a denied version (npm ranges)

--policy FILE reads the same settings from YAML (keys require-https,
allowed-hosts, allowed-schemes, require-integrity, integrity,
match-names, match-versions, registry, require-flags, forbid-flags,
min-version, deny, host-aliases; an unknown key is an error); a flag
given overrides the file's setting. lockfix ships no public registry
names: lockfile-lint's npm and yarn aliases are defined with
--host-alias npm=HOST or host-aliases in the policy.

A file that fails the strict check is reported with its problems
(rule invalid-lockfile), never as clean. --format json writes one JSON
object per finding; --format sarif a SARIF 2.1.0 log for code scanning.

Exit 0 when every file is clean, 4 when anything is found or a file is
invalid, 8 when a file cannot be read or a path holds no lockfile, 16
for a bad policy (codes add up).

Examples:
   lockfix lint --require-https --allowed-host registry.example.org bun.lockb
   lockfix lint --policy policy.yml /srv/fleet
   lockfix lint --policy policy.yml --format sarif . > lockfix.sarif`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "policy", Usage: "read the policy from YAML `FILE`"},
			&ucli.StringFlag{Name: "format", Value: "human", Usage: "output `FORMAT`: human, json or sarif"},
			&ucli.BoolFlag{Name: "require-https", Usage: "every resolved URL must be https"},
			&ucli.StringSliceFlag{Name: "allowed-host", Usage: "allow resolved URLs on `HOST` (repeatable or comma-separated; a host, host:port, URL or alias)"},
			&ucli.StringSliceFlag{Name: "allowed-scheme", Usage: "allow resolved URLs of `SCHEME` (repeatable or comma-separated)"},
			&ucli.BoolFlag{Name: "require-integrity", Usage: "every package must have an integrity string"},
			&ucli.StringSliceFlag{Name: "integrity", Usage: "allowed integrity algorithms `ALG[,ALG]` (sha1, sha256, sha384, sha512)"},
			&ucli.BoolFlag{Name: "no-match-names", Usage: "do not check that a registry URL names the record's package"},
			&ucli.BoolFlag{Name: "no-match-versions", Usage: "do not check that a registry URL names the record's version"},
			&ucli.StringFlag{Name: "registry", Usage: "the header's default registry must be `URL`"},
			&ucli.StringSliceFlag{Name: "require-flag", Usage: "feature `FLAG` must be set (repeatable or comma-separated)"},
			&ucli.StringSliceFlag{Name: "forbid-flag", Usage: "feature `FLAG` must not be set (repeatable or comma-separated)"},
			&ucli.IntFlag{Name: "min-version", Usage: "config version must be at least `N`"},
			&ucli.GenericFlag{Name: "deny", Value: &listFlag{}, Usage: "deny `NAME@RANGE` (npm semver range; repeatable; NAME alone denies every version)"},
			&ucli.GenericFlag{Name: "host-alias", Value: &listFlag{}, Usage: "define `NAME=HOST` for --allowed-host (repeatable)"},
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
		},
		Action: runLint,
	}
}

// listFlag is a repeatable flag whose values are kept whole: a semver
// range may hold commas (">=1.0.0, <1.2.0").
type listFlag struct{ values []string }

func (l *listFlag) Set(s string) error { l.values = append(l.values, s); return nil }
func (l *listFlag) String() string     { return strings.Join(l.values, " ") }

func listOf(c *ucli.Context, name string) []string {
	if l, ok := c.Generic(name).(*listFlag); ok {
		return l.values
	}
	return nil
}

// lintPolicy reads --policy and lays the flags given over it.
func lintPolicy(c *ucli.Context) (lint.Policy, error) {
	var p lint.Policy
	if path := c.String("policy"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return p, exit(ExitOperational, "lint: --policy: %v", err)
		}
		defer f.Close()
		if p, err = lint.ParsePolicy(f); err != nil {
			return p, usage("lint: --policy %s: %v", path, err)
		}
	}
	set := c.IsSet
	if set("require-https") {
		p.RequireHTTPS = c.Bool("require-https")
	}
	if set("allowed-host") {
		p.AllowedHosts = c.StringSlice("allowed-host")
	}
	if set("allowed-scheme") {
		p.AllowedSchemes = c.StringSlice("allowed-scheme")
	}
	if set("require-integrity") {
		p.RequireIntegrity = c.Bool("require-integrity")
	}
	if set("integrity") {
		p.Integrity = c.StringSlice("integrity")
	}
	if set("no-match-names") {
		v := !c.Bool("no-match-names")
		p.MatchNames = &v
	}
	if set("no-match-versions") {
		v := !c.Bool("no-match-versions")
		p.MatchVersions = &v
	}
	if set("registry") {
		p.Registry = c.String("registry")
	}
	if set("require-flag") {
		p.RequireFlags = c.StringSlice("require-flag")
	}
	if set("forbid-flag") {
		p.ForbidFlags = c.StringSlice("forbid-flag")
	}
	if set("min-version") {
		v := c.Int("min-version")
		p.MinVersion = &v
	}
	if set("deny") {
		p.Deny = listOf(c, "deny")
	}
	if set("host-alias") {
		aliases := map[string]string{}
		for k, v := range p.HostAliases {
			aliases[k] = v
		}
		for _, a := range listOf(c, "host-alias") {
			name, host, err := lint.ParseAlias(a)
			if err != nil {
				return p, usage("lint: --host-alias: %v", err)
			}
			aliases[name] = host
		}
		p.HostAliases = aliases
	}
	return p, nil
}

// lintJSON is one line of --format json: a finding and its file.
type lintJSON struct {
	Path string `json:"path"`
	lint.Finding
}

func runLint(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("lint: no FILE given (usage: lockfix lint [--policy FILE] [flags] FILE|DIR...)")
	}
	format := strings.ToLower(c.String("format"))
	if global(c, "json") && !c.IsSet("format") {
		format = "json"
	}
	if format != "human" && format != "json" && format != "sarif" {
		return usage("lint: --format %q: want human, json or sarif", c.String("format"))
	}
	p, err := lintPolicy(c)
	if err != nil {
		return err
	}
	checker, err := lint.Compile(p)
	if err != nil {
		return usage("lint: %v", err)
	}
	quiet := global(c, "quiet")
	code := 0
	var results []lint.FileResult
	var files []string
	for _, arg := range c.Args().Slice() {
		found, err := envOf(c).expandPaths([]string{arg}, c.String("name"))
		if err != nil {
			return err
		}
		if len(found) == 0 {
			fmt.Fprintf(stderr(c), "lockfix: lint: %s: no lockfile named %s found\n", arg, c.String("name"))
			code |= ExitOperational
		}
		files = append(files, found...)
	}
	enc := json.NewEncoder(stdout(c))
	clean, found, invalid := 0, 0, 0
	for _, path := range files {
		r, err := envOf(c).lintFile(path, checker)
		if err != nil {
			fmt.Fprintf(stderr(c), "lockfix: lint: %v\n", err)
			code |= ioCode(err)
			continue
		}
		switch {
		case r.Version < 0 || len(r.Findings) > 0 && r.Findings[0].Rule == lint.RuleInvalidLockfile:
			invalid++
			code |= ExitProblems
		case len(r.Findings) > 0:
			found++
			code |= ExitProblems
		default:
			clean++
		}
		switch format {
		case "sarif":
			results = append(results, r)
		case "json":
			for _, f := range r.Findings {
				if err := enc.Encode(lintJSON{Path: path, Finding: f}); err != nil {
					return exit(ExitOperational, "lint: write: %v", err)
				}
			}
		default:
			printLint(stdout(c), r, quiet)
		}
	}
	switch {
	case format == "sarif":
		rep := lint.SARIF(results, "lockfix", Version, code&ExitOperational == 0)
		if err := rep.PrettyWrite(stdout(c)); err != nil {
			return exit(ExitOperational, "lint: write: %v", err)
		}
	case format == "human" && len(files) > 1 && !quiet:
		fmt.Fprintf(stdout(c), "%d files: %d clean, %d with findings, %d invalid\n", len(files), clean, found, invalid)
	}
	return exitCode(code)
}

// lintFile reads and checks one file the way validate does (the same
// strict check, on the file mapped or while it is read), then lints its records in place.
// The error is for reading only.
func (e *env) lintFile(path string, checker *lint.Checker) (lint.FileResult, error) {
	r := lint.FileResult{Path: path, Version: -1}
	// Lint copies every string it keeps, and lint.Invalid the problems'
	// words: nothing of b outlives the call, so b may be mapped.
	err := e.checkMapped(path, func(b []byte, s *schema.Schema, errs []error) {
		r.Size = len(b)
		if s == nil {
			r.Findings = lint.Invalid(errs)
			return
		}
		r.Version = s.Version
		if len(errs) > 0 {
			r.Findings = lint.Invalid(errs)
			return
		}
		start := time.Now()
		findings, n, err := lint.LintBytes(b, s, packageCount(s, b), checker)
		if err != nil { // the check passed, so this is a bug
			r.Findings = lint.Invalid([]error{err})
			return
		}
		trace.Line("lint", time.Since(start), fmt.Sprintf("%s, %s", lintCount(n, "package"), lintCount(len(findings), "finding")))
		r.Packages, r.Findings = n, findings
	})
	return r, err
}

// printLint writes one file's findings for people.
func printLint(w io.Writer, r lint.FileResult, quiet bool) {
	ver := ""
	if r.Version >= 0 {
		ver = fmt.Sprintf("v%d, ", r.Version)
	}
	n := len(r.Findings)
	switch {
	case n == 0:
		if !quiet {
			fmt.Fprintf(w, "%s: OK (%s%s)\n", r.Path, ver, lintCount(r.Packages, "package"))
		}
		return
	case r.Findings[0].Rule == lint.RuleInvalidLockfile:
		fmt.Fprintf(w, "%s: INVALID (%s%s): not linted\n", r.Path, ver, lintCount(n, "problem"))
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %s\n", f.Message)
		}
		return
	}
	fmt.Fprintf(w, "%s: %s (%s%s)\n", r.Path, lintCount(n, "finding"), ver, lintCount(r.Packages, "package"))
	for _, f := range r.Findings {
		if f.Record == schema.NoRecord {
			fmt.Fprintf(w, "  header %s at 0x%x: %s: %s\n", f.Field, f.Offset, f.Rule, f.Message)
		} else {
			fmt.Fprintf(w, "  record %d at 0x%x %s: %s: %s\n", f.Record, f.Offset, f.Package, f.Rule, f.Message)
		}
		fmt.Fprintf(w, "      found %q, expected %s\n", f.Value, f.Expected)
	}
}

// lintCount is "1 thing" or "n things".
func lintCount(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
