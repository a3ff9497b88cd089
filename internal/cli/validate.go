package cli

import (
	"fmt"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/configcmp"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

func validateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "validate",
		Usage:     "check lockfiles strictly against the format",
		ArgsUsage: "FILE|DIR...",
		Description: `validate checks every rule of the format (docs/format.md section 6) and prints
each problem by its error name, offset, record and rule. A directory is
walked for files named bun.lockb (--name to change).

--reference REF also compares the 13 config bytes of every valid file
with REF's and reports each file that differs, field by field (version,
registry, flags, terminal.mode, terminal.rows, terminal.cols, reserved):
the fleet's "who differs from the reference, and how". Such a file counts
as a problem (exit 4). REF must be a valid lockfile.

Exit 0 when every file is valid (and, with --reference, agrees with REF),
4 when any is invalid or differs, 8 when any cannot be read (codes add
up).

Examples:
   lockfix validate bun.lockb
   lockfix validate --quiet /srv/fleet
   lockfix validate --json bun.lockb | jq '.files[].problems'
   lockfix validate --reference /etc/lockfix/bun.lockb /srv/app
   lockfix validate --json --reference ref.lockb /srv/fleet | jq '.files[] | select(.differences) | .path'`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
			&ucli.StringFlag{Name: "reference", Usage: "also report each file whose config differs from `REF`'s, field by field"},
		},
		Action: runValidate,
	}
}

// fileResult is one file's line of a validate report.
type fileResult struct {
	Path     string                    `json:"path"`
	Valid    bool                      `json:"valid"`
	Version  *int                      `json:"version,omitempty"`
	Packages *int                      `json:"packages,omitempty"`
	Problems []*schema.CorruptionError `json:"problems"`
	// Differences are the config fields that differ from --reference's
	// (valid files, with --reference only).
	Differences []configcmp.Difference `json:"differences,omitempty"`

	config schema.Config // of a valid file
}

func runValidate(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("validate: no FILE given (usage: lockfix validate FILE|DIR...)")
	}
	files, err := envOf(c).expandPaths(c.Args().Slice(), c.String("name"))
	if err != nil {
		return err
	}
	asJSON, quiet := global(c, "json"), global(c, "quiet")
	refPath := c.String("reference")
	var ref *schema.Config
	if refPath != "" {
		r, refCode := envOf(c).validateFile(refPath)
		if !r.Valid {
			msg := "is not a valid lockfile"
			if len(r.Problems) > 0 {
				msg += ": " + r.Problems[0].Error()
			}
			if refCode == ExitOK { // read, sniffed, and not valid
				refCode = ExitProblems
			}
			return exit(refCode, "validate: --reference %s %s", refPath, msg)
		}
		ref = &r.config
	}
	code := 0
	var results []fileResult
	valid, invalid, differ := 0, 0, 0
	for _, path := range files {
		r, fileCode := envOf(c).validateFile(path)
		if r.Valid && ref != nil {
			if r.Differences = configcmp.Diff(r.config, *ref); r.Differences != nil {
				fileCode |= ExitProblems
				differ++
			}
		}
		code |= fileCode
		if r.Valid {
			valid++
		} else {
			invalid++
		}
		if asJSON {
			results = append(results, r)
			continue
		}
		switch {
		case r.Differences != nil:
			fmt.Fprintf(stdout(c), "%s: DIFFERS from %s (v%d, %s differ)\n", path, refPath, *r.Version, countOf(len(r.Differences), "field"))
			for _, d := range r.Differences {
				fmt.Fprintf(stdout(c), "  %s: %s, reference %s\n", d.Field, d.Value, d.Reference)
			}
		case r.Valid && !quiet:
			fmt.Fprintf(stdout(c), "%s: OK (v%d, %d packages)\n", displayPath(path), *r.Version, *r.Packages)
		case !r.Valid:
			ver := ""
			if r.Version != nil {
				ver = fmt.Sprintf("v%d, ", *r.Version)
			}
			fmt.Fprintf(stdout(c), "%s: INVALID (%s%s)\n", displayPath(path), ver, countOf(len(r.Problems), "problem"))
			for i, p := range r.Problems {
				if i == maxShown {
					fmt.Fprintf(stdout(c), "  ... and %d more (use --json for all)\n", len(r.Problems)-maxShown)
					break
				}
				fmt.Fprintf(stdout(c), "  %s\n", p.Error())
			}
		}
	}
	if asJSON {
		if results == nil {
			results = []fileResult{}
		}
		out := map[string]any{"files": results, "valid": valid, "invalid": invalid}
		if ref != nil {
			out["reference"], out["differ"] = refPath, differ
		}
		if err := printJSON(stdout(c), out); err != nil {
			return err
		}
	} else if len(files) > 1 && !quiet {
		fmt.Fprintf(stdout(c), "%d files: %d valid, %d invalid", len(files), valid, invalid)
		if ref != nil {
			fmt.Fprintf(stdout(c), ", %d differ from %s", differ, refPath)
		}
		fmt.Fprintln(stdout(c))
	} else if ref != nil && differ == 0 && !quiet {
		fmt.Fprintf(stdout(c), "the config agrees with %s\n", refPath)
	}
	return exitCode(code)
}

// validateFile checks one file and returns its result and exit code.
func (e *env) validateFile(path string) (fileResult, int) {
	r := fileResult{Path: path, Problems: []*schema.CorruptionError{}}
	code := ExitOK
	err := e.checkMapped(path, func(b []byte, s *schema.Schema, errs []error) {
		if s == nil { // errs holds why the header names no known version
			r.Problems = append(r.Problems, schema.AsProblem(errs[0], path))
			code = ExitProblems
			return
		}
		v := s.Version
		r.Version = &v
		if len(errs) > 0 {
			for _, e := range errs {
				r.Problems = append(r.Problems, schema.AsProblem(e, path))
			}
			code = ExitProblems
			return
		}
		n := packageCount(s, b)
		r.Packages = &n
		r.Valid = true
		r.config = schema.DecodeConfig(b[schema.OffConfigVersion:])
	})
	if err != nil {
		r.Problems = append(r.Problems, schema.AsProblem(err, path))
		return r, ioCode(err)
	}
	return r, code
}

// checkMapped is check for a use that keeps nothing of the bytes (no
// string or slice of them outlives the call) and writes little: a large
// file is mapped under a read lease (atomicfile.OpenMapped) instead of
// read, and a program that opens it for writing meanwhile waits until use
// returns. Where it cannot be mapped, it is read as check reads it.
func (e *env) checkMapped(path string, use func(b []byte, s *schema.Schema, errs []error)) error {
	return e.check(path, true, nil, use)
}

// check reads path ("-" for stdin), checks it strictly and calls use
// with the bytes, their schema and every problem; the schema is nil when
// the header names no known version, and the one problem says why. The
// bytes are only valid during the call. A large file of a version that
// can be checked as it arrives (schema.Schema.CheckArriving) is checked
// while it is read: the check starts on the first records instead of
// after the last byte. With mapped, it maps a large file instead when it
// can (checkMapped). When visit is not nil, each check of the bytes (there are two when the
// file changes size while it is read) shows the Visitor visit returns the
// records it reads (schema.Schema.CheckVisit).
func (e *env) check(path string, mapped bool, visit func() schema.Visitor, use func(b []byte, s *schema.Schema, errs []error)) error {
	var b []byte
	if path == "-" {
		var err error
		if b, err = e.readFile(path); err != nil {
			return err
		}
		checkBytes(b, "", visit, use)
		return nil
	}
	if err := e.walkProblem(path); err != nil {
		return err
	}
	var st *atomicfile.Stream
	var err error
	if mapped {
		var m *atomicfile.Mapped
		if m, st, err = atomicfile.OpenMapped(path); m != nil {
			defer m.Release()
			checkBytes(m.Bytes(), ", mapped", visit, use)
			return nil
		}
	} else {
		st, err = atomicfile.OpenStream(path)
	}
	if err != nil {
		return err
	}
	defer st.Release()
	buf := st.Bytes()
	n := st.Ready(min(len(buf), 8))
	if s, err := schema.Sniff(buf[:n]); err == nil && s.Framing != nil && len(buf) >= atomicfile.StreamMin {
		start := time.Now()
		errs := s.CheckVisit(buf, st.Ready, newVisitor(visit))
		data, err := st.Wait()
		if err != nil {
			return err
		}
		if len(data) == len(buf) {
			trace.Line("header.decode", 0, fmt.Sprintf("schema/v%d", s.Version))
			trace.Line("validate", time.Since(start), fmt.Sprintf("schema/v%d, while reading", s.Version))
			use(data, s, errs)
			return nil
		}
		// The file changed size while it was read: check what was read.
	}
	if b, err = st.Wait(); err != nil {
		return err
	}
	checkBytes(b, "", visit, use)
	return nil
}

// checkBytes checks b, all of a file, strictly and calls use as check
// does; how is added to the trace line.
func checkBytes(b []byte, how string, visit func() schema.Visitor, use func(b []byte, s *schema.Schema, errs []error)) {
	s, err := sniffHeader(b)
	if err != nil {
		use(b, nil, []error{err})
		return
	}
	start := time.Now()
	errs := s.CheckVisit(b, nil, newVisitor(visit))
	trace.Line("validate", time.Since(start), fmt.Sprintf("schema/v%d%s", s.Version, how))
	use(b, s, errs)
}

// newVisitor returns visit's Visitor, or nil when visit is nil.
func newVisitor(visit func() schema.Visitor) schema.Visitor {
	if visit == nil {
		return nil
	}
	return visit()
}

// recordTally counts, in the check's own pass (schema.Schema.CheckVisit),
// the records of a file and their registries: a tally for each run of
// records, merged at the end.
type recordTally struct {
	mu   sync.Mutex
	runs []*runTally
}

// runTally is one run's count and registries.
type runTally struct {
	n int
	t schema.RegistryTally
}

// visitor forgets what an earlier check counted and returns the Visitor
// of a new one.
func (rt *recordTally) visitor() schema.Visitor {
	rt.runs = nil
	return func(int) func(int, *schema.RawPackage) {
		u := &runTally{}
		rt.mu.Lock()
		rt.runs = append(rt.runs, u)
		rt.mu.Unlock()
		return func(_ int, r *schema.RawPackage) {
			u.n++
			u.t.Add(bstr(r.Name), bstr(r.Version), bstr(r.Resolved))
		}
	}
}

// result returns the records counted and their registries, most common
// first.
func (rt *recordTally) result() (int, []schema.RegistryCount) {
	var all schema.RegistryTally
	n := 0
	for _, u := range rt.runs {
		all.Merge(&u.t)
		n += u.n
	}
	return n, all.Registries()
}

// packageCount reads the package count field of s from a valid file b.
func packageCount(s *schema.Schema, b []byte) int {
	f := s.FieldOf(schema.KindCount)
	return int(schema.Uint(b[f.Offset:f.End()]))
}
