package cli

import (
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

func init() {
	register(&ucli.Command{
		Name:      "validate",
		Usage:     "check lockfiles strictly against the format",
		ArgsUsage: "FILE|DIR...",
		Description: `validate checks every rule of the format (docs/format.md section 6) and prints
each problem by its error name, offset, record and rule. A directory is
walked for files named bun.lockb (--name to change).

Exit 0 when every file is valid, 4 when any is invalid, 8 when any
cannot be read (codes add up).

Examples:
   lockfix validate bun.lockb
   lockfix validate --quiet /srv/fleet
   lockfix validate --json bun.lockb | jq '.files[].problems'`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
		},
		Action: runValidate,
	})
}

// fileResult is one file's line of a validate report.
type fileResult struct {
	Path     string        `json:"path"`
	Valid    bool          `json:"valid"`
	Version  *int          `json:"version,omitempty"`
	Packages *int          `json:"packages,omitempty"`
	Problems []problemJSON `json:"problems"`
}

func runValidate(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("validate: no FILE given (usage: lockfix validate FILE|DIR...)")
	}
	files, err := expandPaths(c.Args().Slice(), c.String("name"))
	if err != nil {
		return err
	}
	asJSON, quiet := global(c, "json"), global(c, "quiet")
	code := 0
	var results []fileResult
	valid, invalid := 0, 0
	for _, path := range files {
		r, fileCode := validateFile(path)
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
		case r.Valid && !quiet:
			fmt.Fprintf(Stdout, "%s: OK (v%d, %d packages)\n", displayPath(path), *r.Version, *r.Packages)
		case !r.Valid:
			ver := ""
			if r.Version != nil {
				ver = fmt.Sprintf("v%d, ", *r.Version)
			}
			fmt.Fprintf(Stdout, "%s: INVALID (%s%s)\n", displayPath(path), ver, countOf(len(r.Problems), "problem"))
			for i, p := range r.Problems {
				if i == maxShown {
					fmt.Fprintf(Stdout, "  ... and %d more (use --json for all)\n", len(r.Problems)-maxShown)
					break
				}
				fmt.Fprintf(Stdout, "  %s\n", p.Message)
			}
		}
	}
	if asJSON {
		if results == nil {
			results = []fileResult{}
		}
		if err := printJSON(map[string]any{"files": results, "valid": valid, "invalid": invalid}); err != nil {
			return err
		}
	} else if len(files) > 1 && !quiet {
		fmt.Fprintf(Stdout, "%d files: %d valid, %d invalid\n", len(files), valid, invalid)
	}
	return exitCode(code)
}

// validateFile checks one file and returns its result and exit code.
func validateFile(path string) (fileResult, int) {
	r := fileResult{Path: path, Problems: []problemJSON{}}
	code := ExitOK
	err := checkFile(path, func(b []byte, s *schema.Schema, errs []error) {
		if s == nil { // errs holds why the header names no known version
			r.Problems = append(r.Problems, toProblem(fmt.Errorf("%s: %w", path, errs[0])))
			code = ExitProblems
			return
		}
		v := s.Version
		r.Version = &v
		if len(errs) > 0 {
			for _, e := range errs {
				r.Problems = append(r.Problems, toProblem(fmt.Errorf("%s: %w", path, e)))
			}
			code = ExitProblems
			return
		}
		n := packageCount(b)
		r.Packages = &n
		r.Valid = true
	})
	if err != nil {
		r.Problems = append(r.Problems, problemJSON{Error: "IOError", Message: err.Error()})
		return r, ioCode(err)
	}
	return r, code
}

// checkFile reads path ("-" for stdin), checks it strictly and calls use
// with the bytes, their schema and every problem; the schema is nil when
// the header names no known version, and the one problem says why. The
// bytes are only valid during the call. A large file of a version that
// can be checked as it arrives (schema.Schema.CheckArriving) is checked
// while it is read: the check starts on the first records instead of
// after the last byte.
func checkFile(path string, use func(b []byte, s *schema.Schema, errs []error)) error {
	var b []byte
	if path == "-" {
		var err error
		if b, err = readFile(path); err != nil {
			return err
		}
	} else {
		st, err := openStream(path)
		if err != nil {
			return err
		}
		defer st.Release()
		buf := st.Bytes()
		n := st.Ready(min(len(buf), 8))
		if s, err := schema.Sniff(buf[:n]); err == nil && s.CheckArriving != nil && len(buf) >= atomicfile.StreamMin {
			start := time.Now()
			errs := s.CheckArriving(buf, st.Ready)
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
	}
	s, err := sniffHeader(b)
	if err != nil {
		use(b, nil, []error{err})
		return nil
	}
	start := time.Now()
	errs := s.Check(b)
	trace.Line("validate", time.Since(start), fmt.Sprintf("schema/v%d", s.Version))
	use(b, s, errs)
	return nil
}

// packageCount reads packageCount (offset 0x19 in every version) from a
// valid file.
func packageCount(b []byte) int {
	return int(schema.Uint(b[0x19:0x1d]))
}
