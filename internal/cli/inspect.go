package cli

import (
	"fmt"
	"io"
	"strings"
	"unsafe"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func inspectCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "inspect",
		Usage:     "summarize a lockfile: version, the 13 config bytes, checksums and every problem",
		ArgsUsage: "FILE|DIR...",
		Description: `inspect prints what a lockfile says and whether it holds together:

  version     the config version and the bun releases that write it
  writer      the program that wrote the file (version 2 only)
  registry    the registry hash, and the registry URL when the packages'
              resolved URLs reveal it
  flags       the feature flags by name
  terminal    mode (raw, cooked, cbreak), rows and cols
  packages    how many records the file holds (and what the header says)
  checksums   header CRC-64, package array CRC-64 and record CRC-32Cs,
              each OK or BAD
  problems    every problem of docs/format.md section 6, with offset and rule

It works on damaged files too: whatever can be read is shown. When the magic
is damaged, the header is read at the layout its configVersion byte names;
when that byte is damaged too, at the layout that fits best.

Exit 0 when every file is valid, 4 when any has problems, 8 when any cannot
be read (codes add up). A directory is walked for files named bun.lockb.

Examples:
   lockfix inspect bun.lockb
   lockfix inspect --quiet /srv/fleet          # only the damaged files
   lockfix inspect --json bun.lockb | jq '.files[0].checksums'`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
		},
		Action: runInspect,
	}
}

// examination is everything inspect and dump find out about one file,
// valid or not.
type examination struct {
	Path  string
	Bytes []byte
	// Strict says the file passed the strict checks. Its records are
	// then read straight from Bytes (Schema.EachRecord) when it was
	// checked as it was read, and are the decoded Packages when it was
	// loaded.
	Strict bool
	// Schema is the layout the header is read at: the sniffed schema, or
	// a guess when sniffing failed (Guess says why); nil when no version
	// is registered.
	Schema *schema.Schema
	Guess  string
	// Fields are the header fields at Schema's layout.
	Fields []schema.Field
	// Config is the raw config block, when the file holds it.
	Config *schema.Config
	// Packages are the records that could be read, in file order, unless
	// they are read from Bytes.
	Packages []schema.Package
	// Found is how many records could be read.
	Found int
	// Regs are the registries of the records read, most common first.
	Regs []schema.RegistryCount
	// Checksums are the CRC-64s of the layout, stored and computed.
	Checksums []checksum
	// Records counts the v2 record CRC-32Cs; nil for plain records.
	Records *recordSums
	// Problems are every problem found, without the path.
	Problems []error
}

// checksum is one CRC-64 of a header.
type checksum struct {
	Name     string `json:"name"`
	Offset   int    `json:"offset"`
	Covers   string `json:"covers"`
	Stored   string `json:"stored"`
	Computed string `json:"computed"`
	OK       bool   `json:"ok"`
}

// recordSums counts the CRC-32Cs of framed records.
type recordSums struct {
	OK  int `json:"ok"`
	Bad int `json:"bad"`
	// Stopped says where reading records stopped early, when it did.
	Stopped string `json:"stopped,omitempty"`
}

// Valid reports whether the file has no problem.
func (x *examination) Valid() bool { return len(x.Problems) == 0 }

// examine reads a file as validate does (checked while it is read, or
// mapped when mapped is set: see checkMapped) and calls use with all it
// can find out. x.Bytes is only valid during the call. The error is for
// reading only.
func (e *env) examine(path string, mapped bool, use func(x *examination)) error {
	var rt recordTally
	return e.check(path, mapped, rt.visitor, func(b []byte, s *schema.Schema, errs []error) {
		use(examineChecked(path, b, s, errs, &rt))
	})
}

// examineChecked examines b, whose schema s (nil when it did not sniff)
// and strict check errs are known; rt holds what the check counted of
// the records.
func examineChecked(path string, b []byte, s *schema.Schema, errs []error, rt *recordTally) *examination {
	if len(errs) > 0 || s == nil {
		// A damaged file takes the full load, whose problems name the
		// path as every other command's do.
		return examineLoaded(parse(path, b))
	}
	x := &examination{Path: path, Bytes: b, Strict: true, Schema: s}
	x.describe()
	// The registries, counted in the check's pass.
	x.Found, x.Regs = rt.result()
	if s.Framing != nil {
		x.Records = &recordSums{OK: x.Found}
	}
	return x
}

// examineLoaded examines a file loaded in full.
func examineLoaded(ld *loaded) *examination {
	b := ld.Bytes
	x := &examination{Path: ld.Path, Bytes: b, Schema: ld.Schema, Strict: ld.Lockfile != nil}
	x.Problems = ld.Problems
	if x.Schema == nil {
		x.Schema, x.Guess = guessLayout(b)
		if x.Schema != nil {
			x.Problems = mergeProblems(x.Problems, x.Schema.Check(b), ld.Path)
		}
	}
	if ld.Lockfile != nil {
		x.Packages = ld.Lockfile.Packages
	}
	if x.Schema != nil {
		if x.Schema.Framing == nil {
			x.scanPlain()
		} else {
			x.scanFramed()
		}
	}
	x.describe()
	x.Found = len(x.Packages)
	x.Regs = schema.Registries(x.Packages)
	return x
}

// describe reads the config, the header fields and the checksums of the
// header and array at x's layout.
func (x *examination) describe() {
	b := x.Bytes
	if len(b) >= schema.PrefixSize {
		c := schema.DecodeConfig(b[schema.OffConfigVersion:])
		x.Config = &c
	}
	s := x.Schema
	if s == nil {
		return
	}
	if x.Strict {
		x.Fields = s.FieldsOfValid(b)
	} else {
		x.Fields = s.Fields(b)
	}
	if len(b) < s.HeaderSize {
		return
	}
	for _, f := range s.Header {
		var sum uint64
		var name, covers string
		stored := schema.Uint(b[f.Offset:f.End()])
		switch f.Kind {
		case schema.KindHeaderChecksum:
			sum = schema.HeaderCRC(b[:s.HeaderSize], f.Offset)
			name, covers = "header", fmt.Sprintf("the %d header bytes", s.HeaderSize)
		case schema.KindArrayChecksum:
			sum = stored // the strict check has computed it
			if !x.Strict {
				sum = schema.CRC64(b[s.HeaderSize:])
			}
			name, covers = "packages", fmt.Sprintf("the package array, %d bytes", len(b)-s.HeaderSize)
		default:
			continue
		}
		x.Checksums = append(x.Checksums, checksum{Name: name, Offset: f.Offset, Covers: covers,
			Stored: fmt.Sprintf("0x%016x", stored), Computed: fmt.Sprintf("0x%016x", sum), OK: stored == sum})
	}
}

// bstr returns the bytes of b as a string without copying them, for
// strings used while b does not change and not kept.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// guessLayout picks a layout for a file whose magic or version did not
// sniff: the version its configVersion byte names, or else the registered
// layout with the fewest problems.
func guessLayout(b []byte) (*schema.Schema, string) {
	if len(b) > schema.OffConfigVersion {
		if s, ok := schema.Lookup(int(b[schema.OffConfigVersion])); ok {
			return s, fmt.Sprintf("the magic is damaged; read at the v%d layout that configVersion names", s.Version)
		}
	}
	var best *schema.Schema
	bestN := 0
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		if n := len(s.Check(b)); best == nil || n <= bestN {
			best, bestN = s, n
		}
	}
	if best == nil {
		return nil, ""
	}
	what := "configVersion is missing"
	if len(b) > schema.OffConfigVersion {
		what = fmt.Sprintf("configVersion %d is not known to this build", b[schema.OffConfigVersion])
	}
	return best, fmt.Sprintf("%s; read at the v%d layout, the closest fit", what, best.Version)
}

// mergeProblems adds the problems a guessed layout finds to the sniff
// problem, leaving out the ones about the same offset and the version
// byte (which the guess reads on purpose at another layout).
func mergeProblems(have, more []error, path string) []error {
	at := map[int64]bool{}
	for _, e := range have {
		var ce *schema.CorruptionError
		if schema.AsCorruption(e, &ce) {
			at[ce.Offset] = true
		}
	}
	for _, e := range more {
		var ce *schema.CorruptionError
		if schema.AsCorruption(e, &ce) && (at[ce.Offset] || ce.Field == "configVersion") {
			continue
		}
		have = append(have, schema.AsProblem(e, path))
	}
	return have
}

// scanPlain reads plain records up to the first that does not parse, when
// the strict load did not decode the file.
func (x *examination) scanPlain() {
	header := x.Schema.HeaderSize
	if x.Strict || len(x.Bytes) < header {
		return
	}
	b := x.Bytes
	for off, i := header, 0; off < len(b); i++ {
		r, n, err := schema.ParseBody(b[off:], off, i)
		if err != nil || schema.CheckRaw(&r, i) != nil {
			return
		}
		x.Packages = append(x.Packages, r.Package())
		off += n
	}
}

// scanFramed reads every framed record, counting CRC-32Cs, until the
// frames stop making sense.
func (x *examination) scanFramed() {
	b, s := x.Bytes, x.Schema
	if len(b) < s.HeaderSize {
		return
	}
	rs := &recordSums{}
	x.Records = rs
	keep := !x.Strict
	for off, i := s.HeaderSize, 0; off < len(b); i++ {
		f, err := s.ReadFrame(b[off:], off, i)
		if err != nil {
			rs.Stopped = fmt.Sprintf("record %d at offset 0x%x: %s", i, off, schema.ErrorName(err))
			if ce := (*schema.CorruptionError)(nil); schema.AsCorruption(err, &ce) {
				rs.Stopped += ": " + ce.Rule
			}
			return
		}
		if schema.CRC32C(f.Body) != f.Stored {
			rs.Bad++
		} else {
			rs.OK++
			if keep {
				if r, err := s.ParseFrameBody(f.Body, off, i); err == nil && schema.CheckRaw(&r, i) == nil {
					x.Packages = append(x.Packages, r.Package())
				}
			}
		}
		off += f.Size()
	}
}

// headerCount returns the package count field, when the file holds it.
func (x *examination) headerCount() (uint32, bool) {
	if x.Schema == nil {
		return 0, false
	}
	f := x.Schema.FieldOf(schema.KindCount)
	if len(x.Bytes) < f.End() {
		return 0, false
	}
	return uint32(schema.Uint(x.Bytes[f.Offset:f.End()])), true
}

// writer returns the writer field, for versions that have one.
func (x *examination) writer() (string, bool) {
	if x.Schema == nil {
		return "", false
	}
	f := x.Schema.FieldOf(schema.KindWriter)
	if f == nil || len(x.Bytes) < f.End() {
		return "", false
	}
	return schema.WriterString(x.Bytes[f.Offset:f.End()]), true
}

// registryInfo says what the packages reveal about the registry hash: the
// URL whose hash it is, or the most common registry of the packages.
func (x *examination) registryInfo() (url string, common *schema.RegistryCount) {
	if x.Config == nil {
		return "", nil
	}
	regs := x.Regs
	for _, r := range regs {
		if r.Hash == x.Config.RegistryHash {
			return r.URL, nil
		}
	}
	if len(regs) > 0 {
		return "", &regs[0]
	}
	return "", nil
}

// inspectJSON is one file of inspect --json.
type inspectJSON struct {
	Path          string                    `json:"path"`
	Valid         bool                      `json:"valid"`
	Size          int                       `json:"size"`
	Version       *int                      `json:"version,omitempty"`
	Layout        *int                      `json:"layout,omitempty"`
	Guess         string                    `json:"guess,omitempty"`
	Bun           string                    `json:"bun,omitempty"`
	HeaderSize    int                       `json:"headerSize,omitempty"`
	Writer        *string                   `json:"writer,omitempty"`
	Config        *configJSON               `json:"config,omitempty"`
	PackageCount  *uint32                   `json:"packageCount,omitempty"`
	PackagesFound int                       `json:"packagesFound"`
	Checksums     []checksum                `json:"checksums"`
	Records       *recordSums               `json:"records,omitempty"`
	Problems      []*schema.CorruptionError `json:"problems"`
	Registries    []registryJSON            `json:"registries,omitempty"`
}

type configJSON struct {
	RegistryHash string                 `json:"registryHash"`
	Registry     string                 `json:"registry,omitempty"`
	Flags        []string               `json:"flags"`
	FlagBits     string                 `json:"flagBits"`
	Terminal     schema.ContentTerminal `json:"terminal"`
	Reserved     int                    `json:"reserved"`
}

type registryJSON struct {
	URL      string `json:"url"`
	Hash     string `json:"hash"`
	Packages int    `json:"packages"`
}

func (x *examination) toJSON() inspectJSON {
	j := inspectJSON{Path: x.Path, Valid: x.Valid(), Size: len(x.Bytes), PackagesFound: x.Found,
		Checksums: x.Checksums, Records: x.Records, Problems: toProblems(x.Problems), Guess: x.Guess}
	if j.Checksums == nil {
		j.Checksums = []checksum{}
	}
	if x.Config != nil {
		v := x.Config.Version
		j.Version = &v
		url, _ := x.registryInfo()
		j.Config = &configJSON{
			RegistryHash: fmt.Sprintf("0x%08x", x.Config.RegistryHash),
			Registry:     url,
			Flags:        x.Config.Flags.Names(),
			FlagBits:     fmt.Sprintf("0x%08x", uint32(x.Config.Flags)),
			Terminal:     schema.ContentTerminal{Mode: x.Config.TerminalMode.String(), Rows: int(x.Config.Rows), Cols: int(x.Config.Cols)},
			Reserved:     int(x.Config.Reserved),
		}
	}
	if s := x.Schema; s != nil {
		l := s.Version
		j.Layout, j.Bun, j.HeaderSize = &l, s.Bun(), s.HeaderSize
	}
	if w, ok := x.writer(); ok {
		j.Writer = &w
	}
	if n, ok := x.headerCount(); ok {
		j.PackageCount = &n
	}
	for _, r := range x.Regs {
		j.Registries = append(j.Registries, registryJSON{r.URL, fmt.Sprintf("0x%08x", r.Hash), r.Count})
	}
	return j
}

func runInspect(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("inspect: no FILE given (usage: lockfix inspect FILE|DIR...)")
	}
	files, err := envOf(c).expandPaths(c.Args().Slice(), c.String("name"))
	if err != nil {
		return err
	}
	asJSON, quiet := global(c, "json"), global(c, "quiet")
	code := 0
	results := []any{}
	for i, path := range files {
		// What use keeps of x (its JSON) holds copies only: the file can be
		// mapped.
		err := envOf(c).examine(path, true, func(x *examination) {
			if !x.Valid() {
				code |= ExitProblems
			}
			switch {
			case asJSON:
				results = append(results, x.toJSON())
			case quiet && x.Valid():
			default:
				if i > 0 && !quiet {
					fmt.Fprintln(stdout(c))
				}
				printInspect(stdout(c), x, quiet)
			}
		})
		if err != nil {
			code |= ioCode(err)
			if asJSON {
				results = append(results, map[string]any{"path": path, "valid": false,
					"problems": []*schema.CorruptionError{schema.AsProblem(err, path)}})
			} else {
				fmt.Fprintf(stderr(c), "lockfix: %v\n", err)
			}
		}
	}
	if asJSON {
		if err := printJSON(stdout(c), map[string]any{"files": results}); err != nil {
			return err
		}
	}
	return exitCode(code)
}

// printInspect writes the human summary of x.
func printInspect(w io.Writer, x *examination, quiet bool) {
	if x.Valid() {
		fmt.Fprintf(w, "%s: valid\n", displayPath(x.Path))
	} else {
		fmt.Fprintf(w, "%s: INVALID, %d problem%s\n", displayPath(x.Path), len(x.Problems), plural(len(x.Problems)))
	}
	if !quiet {
		printSummary(w, x)
	}
	if x.Valid() {
		fmt.Fprintf(w, "  %-11s none\n", "problems")
		return
	}
	fmt.Fprintf(w, "  %s\n", "problems")
	for i, p := range x.Problems {
		if i == maxShown {
			fmt.Fprintf(w, "    ... and %d more (use --json for all)\n", len(x.Problems)-maxShown)
			break
		}
		fmt.Fprintf(w, "    %s\n", withoutPath(p))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func printSummary(w io.Writer, x *examination) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	if x.Config == nil {
		line("size", "%d bytes: too short for the config block (%d bytes)", len(x.Bytes), schema.PrefixSize)
		return
	}
	c := x.Config
	switch s := x.Schema; {
	case s == nil:
		line("version", "%d (unknown to this build), %d bytes", c.Version, len(x.Bytes))
	case x.Guess != "":
		line("version", "%d, %d bytes; %s (bun %s, %d-byte header)", c.Version, len(x.Bytes), x.Guess, s.Bun(), s.HeaderSize)
	default:
		line("version", "%d (bun %s), %d-byte header, %d bytes", c.Version, s.Bun(), s.HeaderSize, len(x.Bytes))
	}
	if wr, ok := x.writer(); ok {
		line("writer", "%q", wr)
	}
	hash := fmt.Sprintf("0x%08x", c.RegistryHash)
	url, common := x.registryInfo()
	switch {
	case c.RegistryHash == 0:
		msg := hash + "  INVALID (0 is a failed hash)"
		if common != nil {
			msg += fmt.Sprintf("; %d package%s resolve from %s (0x%08x)", common.Count, plural(common.Count), common.URL, common.Hash)
		}
		line("registry", "%s", msg)
	case url != "":
		line("registry", "%s  %s", hash, url)
	case common != nil:
		line("registry", "%s  no package resolves from a registry with this hash; most resolve from %s (0x%08x)", hash, common.URL, common.Hash)
	default:
		line("registry", "%s  (no package names its registry)", hash)
	}
	flags := fmt.Sprintf("0x%08x  %s", uint32(c.Flags), strings.Join(c.Flags.Names(), ", "))
	if c.Flags == 0 {
		flags = "0x00000000  none"
	}
	if x.Schema != nil {
		if extra := c.Flags &^ x.Schema.Flags; extra != 0 {
			flags += fmt.Sprintf("  (%s not defined for v%d)", extra, x.Schema.Version)
		}
	}
	line("flags", "%s", flags)
	line("terminal", "%s, %d rows, %d cols", c.TerminalMode, c.Rows, c.Cols)
	pk := fmt.Sprintf("%d", x.Found)
	if n, ok := x.headerCount(); ok && (int(n) != x.Found || !x.Strict) {
		pk = fmt.Sprintf("%d readable, the header says %d", x.Found, n)
	}
	line("packages", "%s", pk)
	var sums []string
	for _, s := range x.Checksums {
		if s.OK {
			sums = append(sums, s.Name+" CRC-64 OK")
		} else {
			sums = append(sums, fmt.Sprintf("%s CRC-64 BAD (stored %s, computed %s)", s.Name, s.Stored, s.Computed))
		}
	}
	if r := x.Records; r != nil {
		s := fmt.Sprintf("records CRC-32C %d OK, %d BAD", r.OK, r.Bad)
		if r.Stopped != "" {
			s += " (stopped at " + r.Stopped + ")"
		}
		sums = append(sums, s)
	}
	if len(sums) == 0 {
		sums = []string{"none in this version"}
	}
	line("checksums", "%s", strings.Join(sums, ", "))
}
