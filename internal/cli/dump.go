package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func dumpCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "dump",
		Usage:     "show a lockfile's header byte by byte (--hex) or the whole file as JSON (--json)",
		ArgsUsage: "FILE",
		Description: `dump --hex (the default) prints one line per header field: its offset, its
bytes in hex, its name, the decoded value and OK or BAD with the problem,
then one line for the package array (offset and size), then every problem
of the file. Long fields show their first 8 bytes and how many more follow.

dump --json writes the whole decoded file as one JSON object: "config" and
"packages" in the shape 'lockfix export' writes (for a damaged file, the
config as the bytes say and the packages that could be read), plus
"header" (every field with offset, size, hex bytes, value, ok and problem),
"packageArray", "checksums" (stored and computed), "records" (v2 CRC-32C
counts), "valid" and "problems". 'lockfix pack' reads it back when
"valid" is true.

It works on damaged files: a file too short for its header shows the
fields it holds; a file with a damaged magic is read at the layout its
configVersion byte names.

Exit 0 when the file is valid, 4 when it has problems, 8 when it cannot be
read, 16 for a usage error.

Examples:
   lockfix dump bun.lockb
   lockfix dump --hex bun.lockb | grep BAD
   lockfix dump --json bun.lockb | jq '.checksums'`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "hex", Usage: "annotated hex dump of the header, one line per field (the default)"},
		},
		Action: runDump,
	}
}

// fieldJSON is one header field in dump --json.
type fieldJSON struct {
	Offset  int                     `json:"offset"`
	Size    int                     `json:"size"`
	Name    string                  `json:"name"`
	Hex     string                  `json:"hex"`
	Value   string                  `json:"value"`
	OK      bool                    `json:"ok"`
	Problem *schema.CorruptionError `json:"problem,omitempty"`
}

// arrayJSON is the package array in dump --json.
type arrayJSON struct {
	Offset  int `json:"offset"`
	Size    int `json:"size"`
	Records int `json:"records"`
}

// dumpJSON is the output of dump --json.
type dumpJSON struct {
	Path         string                    `json:"path"`
	Valid        bool                      `json:"valid"`
	Size         int                       `json:"size"`
	Layout       *int                      `json:"layout,omitempty"`
	Guess        string                    `json:"guess,omitempty"`
	Config       *schema.ContentConfig     `json:"config,omitempty"`
	Packages     []schema.Package          `json:"packages"`
	Header       []fieldJSON               `json:"header"`
	PackageArray *arrayJSON                `json:"packageArray,omitempty"`
	Checksums    []checksum                `json:"checksums"`
	Records      *recordSums               `json:"records,omitempty"`
	Problems     []*schema.CorruptionError `json:"problems"`
}

func runDump(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("dump: want exactly one FILE, got %d (usage: lockfix dump [--hex|--json] FILE)", c.NArg())
	}
	asJSON := global(c, "json")
	if asJSON && c.Bool("hex") {
		return usage("dump: --hex and --json are two different outputs; choose one")
	}
	var werr error
	valid := false
	err := envOf(c).examine(c.Args().First(), false, func(x *examination) {
		valid = x.Valid()
		if !asJSON {
			printHex(stdout(c), x)
			return
		}
		j := x.dumpJSON()
		if !x.Strict || x.Packages != nil {
			werr = printJSON(stdout(c), j)
			return
		}
		// The records of a file checked as it was read go straight from
		// its bytes to the output.
		werr = writeWithPackages(stdout(c), j, x.Bytes, x.Schema)
	})
	if err != nil {
		return exit(ioCode(err), "%v", err)
	}
	if werr != nil {
		return werr
	}
	if !valid {
		return exitCode(ExitProblems)
	}
	return nil
}

// fieldBytes returns the bytes of a field, clipped to the file.
func fieldBytes(b []byte, f schema.Field) []byte {
	end := min(f.Offset+f.Size, len(b))
	if f.Offset >= end {
		return nil
	}
	return b[f.Offset:end]
}

// hexBytes writes bytes as "42 55 4e 31", at most max of them, then "+N".
func hexBytes(b []byte, max int) string {
	var sb strings.Builder
	for i, c := range b {
		if i == max {
			fmt.Fprintf(&sb, " +%d", len(b)-max)
			break
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

// problemText is a problem without its location, for a line that shows
// the location already: "ChecksumMismatch: computed 0x...".
func problemText(err error) string {
	var ce *schema.CorruptionError
	if schema.AsCorruption(err, &ce) {
		if ce.Rule == "" {
			return ce.Err.Error()
		}
		return ce.Err.Error() + ": " + ce.Rule
	}
	return err.Error()
}

// headerEnd returns the size of the header at x's layout.
func (x *examination) headerEnd() int {
	if x.Schema == nil {
		return schema.PrefixSize
	}
	return x.Schema.HeaderSize
}

func printHex(w io.Writer, x *examination) {
	b := x.Bytes
	state := "valid"
	if !x.Valid() {
		state = fmt.Sprintf("INVALID, %d problem%s", len(x.Problems), plural(len(x.Problems)))
	}
	layout := "no known layout"
	if s := x.Schema; s != nil {
		layout = fmt.Sprintf("v%d layout (bun %s), %d-byte header", s.Version, s.Bun(), s.HeaderSize)
	}
	fmt.Fprintf(w, "%s: %d bytes, %s: %s\n", x.Path, len(b), layout, state)
	if x.Guess != "" {
		fmt.Fprintf(w, "note: %s\n", x.Guess)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "offset\tbytes\tfield\tvalue\tcheck")
	for _, f := range x.Fields {
		check := "OK"
		if f.Err != nil {
			check = "BAD  " + problemText(f.Err)
		}
		fmt.Fprintf(tw, "0x%04x\t%s\t%s\t%s\t%s\n", f.Offset, hexBytes(fieldBytes(b, f), 8), f.Name, f.Value, check)
	}
	end := x.headerEnd()
	if len(b) < end {
		fmt.Fprintf(tw, "0x%04x\t(end of file)\theader\ttruncated\tBAD  the file ends at 0x%x, inside the %d-byte header\n", len(b), len(b), end)
	} else {
		arr := len(b) - end
		check := "OK"
		if n := arrayProblems(x.Problems, end); n > 0 {
			check = fmt.Sprintf("BAD  %d problem%s in the records (below)", n, plural(n))
		}
		fmt.Fprintf(tw, "0x%04x\t(%d bytes)\tpackages\t%d readable records\t%s\n", end, arr, x.Found, check)
	}
	tw.Flush()
	if !x.Valid() {
		fmt.Fprintf(w, "problems:\n")
		for i, p := range x.Problems {
			if i == maxShown {
				fmt.Fprintf(w, "  ... and %d more (use --json for all)\n", len(x.Problems)-maxShown)
				break
			}
			fmt.Fprintf(w, "  %s\n", withoutPath(p))
		}
	}
}

// arrayProblems counts the problems located in the package array.
func arrayProblems(errs []error, end int) int {
	n := 0
	for _, e := range errs {
		var ce *schema.CorruptionError
		if schema.AsCorruption(e, &ce) && (ce.Record >= 0 || ce.Offset >= int64(end)) {
			n++
		}
	}
	return n
}

func (x *examination) dumpJSON() dumpJSON {
	j := dumpJSON{Path: x.Path, Valid: x.Valid(), Size: len(x.Bytes), Guess: x.Guess,
		Packages: x.Packages, Header: []fieldJSON{}, Checksums: x.Checksums, Records: x.Records,
		Problems: toProblems(x.Problems)}
	if j.Packages == nil {
		j.Packages = []schema.Package{}
	}
	if j.Checksums == nil {
		j.Checksums = []checksum{}
	}
	if s := x.Schema; s != nil {
		v := s.Version
		j.Layout = &v
	}
	if c := x.Config; c != nil {
		url, _ := x.registryInfo()
		cc := schema.ConfigContent(*c, url)
		cc.Writer, _ = x.writer()
		j.Config = &cc
	}
	for _, f := range x.Fields {
		fj := fieldJSON{Offset: f.Offset, Size: f.Size, Name: f.Name, Hex: hex.EncodeToString(fieldBytes(x.Bytes, f)),
			Value: f.Value, OK: f.Err == nil}
		if f.Err != nil {
			fj.Problem = toProblem(f.Err)
		}
		j.Header = append(j.Header, fj)
	}
	if end := x.headerEnd(); len(x.Bytes) >= end && x.Schema != nil {
		j.PackageArray = &arrayJSON{Offset: end, Size: len(x.Bytes) - end, Records: x.Found}
	}
	return j
}
