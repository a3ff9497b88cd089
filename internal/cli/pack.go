package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/npmlock"
	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

func packCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "pack",
		Usage:     "build a lockfile from JSON content or from an npm package-lock.json",
		ArgsUsage: "INPUT",
		Description: `pack builds a bun.lockb at config version N and writes it to OUT. INPUT ("-"
for stdin) is one of two kinds, told apart by their content:

  lockfix JSON        what 'lockfix export' writes (and 'lockfix dump --json'
                      of a valid file): {"config": {...}, "packages": [...]}.
                      The config gives registry or registryHash, flags and
                      terminal; missing terminal fields default to cooked,
                      24 rows, 80 cols. Without --to, the file is packed at
                      its config.version, so export | pack gives back the
                      same bytes.
  package-lock.json   npm's lockfile, lockfileVersion 2 or 3. Every entry of
                      "packages" under node_modules/ becomes a package named
                      by its last node_modules/ segment, with its version,
                      resolved URL and integrity; the root entry, workspace
                      folders and links ("link": true) are skipped; a package
                      installed at several paths is kept once; of several
                      integrity hashes the strongest is kept (sha512 > sha384
                      > sha256 > sha1). The registry is --registry or the
                      most common registry of the resolved URLs; the flags
                      are --flag; the terminal is cooked, 24x80. Without
                      --to, the latest version.

OUT is written the safe way: verified (decoded again and compared with the
input) before anything is written; an existing OUT is replaced atomically
under its lock (mode, ownership and symlinks kept; left alone when its
bytes would not change); a new OUT is created atomically and never over a
file that appears meanwhile. "-o -" writes the bytes to stdout.

Exit 0 on success, 4 when INPUT cannot become a valid lockfile (the error
names the entry and the rule), 8 for I/O errors or a lock held by another
lockfix, 16 for a usage error.

Examples:
   lockfix pack --to 2 -o bun.lockb package-lock.json
   lockfix pack --to 1 -o bun.lockb --registry https://registry.example.org/ package-lock.json
   lockfix export old.lockb | lockfix pack --to 2 --flag frozen_lockfile -o new.lockb -
   lockfix pack --to bun@1.3.6 --dry-run -o bun.lockb content.json`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "to", Usage: "config `VERSION` to write (a number, or a bun release such as bun@1.4.2); default: the JSON's version, or the latest for a package-lock.json"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the lockfile to `OUT` (\"-\" for stdout)"},
			&ucli.StringFlag{Name: "registry", Usage: "default registry `URL` (replaces the input's)"},
			&ucli.StringSliceFlag{Name: "flag", Usage: "set feature `FLAG` (repeatable or comma-separated, case-insensitive: DEBUG, DISABLE_ISOLATED_LINKER, FROZEN_LOCKFILE, VERIFY_INTEGRITY, OFFLINE)"},
			&ucli.StringFlag{Name: "writer", Usage: "set the v2 writer field to `NAME`, at most 16 printable ASCII bytes (default: the JSON's config.writer, else \"lockfix " + Version + "\")"},
			&ucli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` for another lockfix's lock on OUT (default: fail at once)"},
			&ucli.BoolFlag{Name: "dry-run", Usage: "show what would be written (with a diff against an existing OUT) and write nothing"},
		},
		Action: runPack,
	}
}

// Input kinds of pack.
const (
	kindContent     = "lockfix JSON"
	kindPackageLock = "package-lock.json"
)

// packOptions are pack's flags, checked.
type packOptions struct {
	// To is the version to write, or -1 for the input's default.
	To int
	// Registry is the --registry URL, "" when not given.
	Registry string
	// Flags are the --flag flags.
	Flags schema.Flags
	// Writer is --writer, "" when not given.
	Writer string
}

// packed is a lockfile built from an input.
type packed struct {
	Kind string
	// Config and Writer are those of the file, Count its packages and
	// Data its bytes.
	Config schema.Config
	Writer string
	Count  int
	Data   []byte
	// Registry is the registry URL the hash was made from, when known.
	Registry string
	// Skipped and Duplicates are what a package-lock.json left out.
	Skipped    []string
	Duplicates int
	// LockfileVersion is the package-lock.json's.
	LockfileVersion int
	// sp holds the digest of the packages read, for verify.
	sp *spool
}

// inputError is an INPUT that cannot become a lockfile (exit 4).
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func inputErrorf(format string, args ...any) error {
	return &inputError{fmt.Sprintf(format, args...)}
}

// buildPacked turns INPUT bytes into a lockfile at the version o says
// (packInput for bytes in memory). Every error is an *inputError.
func buildPacked(b []byte, o packOptions) (*packed, error) {
	return packInput(bytes.NewReader(b), int64(len(b)), o)
}

// recorder keeps what is read through it while on, so that an input that
// turns out to be a package-lock.json can be read again from the start.
type recorder struct {
	r   io.Reader
	on  bool
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.on {
		r.buf = append(r.buf, p[:n]...)
	}
	return n, err
}

// packInput reads INPUT from r (size bytes, when known: it sizes the
// output buffer) in one pass and builds the lockfile at the version o
// says. Every error is an *inputError.
func packInput(r io.Reader, size int64, o packOptions) (*packed, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if head, _ := br.Peek(len(schema.Magic)); string(head) == schema.Magic {
		return nil, inputErrorf("this is a binary lockfile, not JSON (pack reads what 'lockfix export' writes; 'lockfix migrate' changes a lockfile's version)")
	}
	for {
		c, err := br.ReadByte()
		if err != nil || c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			if err == nil {
				br.UnreadByte()
			}
			if err != nil || c != '{' {
				return nil, inputErrorf("not a JSON object: want lockfix JSON ({\"config\": ..., \"packages\": ...}) or an npm package-lock.json")
			}
			break
		}
	}
	rec := &recorder{r: br, on: true}
	dec := newJSONReader(rec)
	if _, err := dec.ReadToken(); err != nil {
		return nil, syntaxError(err)
	}
	sp := newSpool(size)
	for {
		if dec.PeekKind() == '}' {
			return nil, inputErrorf("neither lockfix JSON (no \"config\" member) nor a package-lock.json (no \"lockfileVersion\" member)")
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, syntaxError(err)
		}
		name := unquote(v, nil)
		switch {
		case string(name) == "lockfileVersion":
			rest, err := io.ReadAll(br)
			if err != nil {
				return nil, inputErrorf("%v", err)
			}
			return fromPackageLock(append(rec.buf, rest...), o)
		case bytes.EqualFold(name, []byte("config")), bytes.EqualFold(name, []byte("packages")), bytes.EqualFold(name, []byte("valid")):
			rec.on, rec.buf = false, nil
			cfg, hasPackages, err := streamContent(dec, sp, bytes.Clone(name), o.To)
			if err != nil {
				return nil, err
			}
			return fromContent(cfg, hasPackages, sp, o)
		}
		if err := dec.SkipValue(); err != nil {
			return nil, syntaxError(err)
		}
	}
}

// finishPacked applies the flags of o to l, builds the file and fills p.
func finishPacked(p *packed, l *schema.Lockfile, o packOptions) error {
	if o.Flags != 0 {
		l.Config.Flags |= o.Flags
	}
	if o.Writer != "" {
		l.Writer = o.Writer
	}
	if o.To >= 0 {
		l.Config.Version = o.To
	}
	if s, ok := schema.Lookup(l.Config.Version); !ok || s.FieldOf(schema.KindWriter) == nil {
		l.Writer = ""
	} else if l.Writer == "" {
		l.Writer = writerName
	}
	data, err := p.sp.finish(l)
	if err != nil {
		return err
	}
	p.Config, p.Writer, p.Count, p.Data = l.Config, l.Writer, p.sp.count, data
	return nil
}

func fromPackageLock(b []byte, o packOptions) (*packed, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, inputErrorf("not valid JSON: %v", err)
	}
	lock, err := npmlock.Parse(b)
	if err != nil {
		return nil, inputErrorf("%v", err)
	}
	p := &packed{Kind: kindPackageLock, Skipped: lock.Skipped, Duplicates: lock.Duplicates, LockfileVersion: lock.LockfileVersion,
		sp: newSpool(int64(len(b)))}
	reg := o.Registry
	if reg == "" {
		regs := schema.Registries(lock.Packages)
		if len(regs) == 0 {
			return nil, inputErrorf("no package's resolved URL names a registry (<registry><name>/-/<name>-<version>.tgz); give the default registry with --registry URL")
		}
		reg = regs[0].URL
	}
	norm, hash, err := schema.RegistryHash(reg)
	if err != nil {
		return nil, inputErrorf("registry: %v", err)
	}
	p.Registry = norm
	if o.To >= 0 {
		p.sp.expect(o.To)
	} else {
		p.sp.expect(schema.Latest())
	}
	for i := range lock.Packages {
		pk := &lock.Packages[i]
		if _, rule := schema.CheckPackage(pk); rule != "" {
			return nil, inputErrorf("cannot write version %d:\n  %s: package %s@%s: %s", max(o.To, schema.Latest()), schema.ErrInvalidPackage, pk.Name, pk.Version, rule)
		}
		p.sp.add(pk)
	}
	l := &schema.Lockfile{Config: schema.Config{Version: schema.Latest(), RegistryHash: hash, TerminalMode: schema.ModeCooked,
		Rows: schema.DefaultRows, Cols: schema.DefaultCols}}
	if err := finishPacked(p, l, o); err != nil {
		return nil, err
	}
	return p, nil
}

// strictJSON decodes raw into v, refusing unknown members.
func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the value")
	}
	return nil
}

// fromContent builds the file of lockfix JSON whose packages are in sp.
func fromContent(cfg *schema.ContentConfig, hasPackages bool, sp *spool, o packOptions) (*packed, error) {
	if cfg == nil {
		return nil, inputErrorf("lockfix JSON without a \"config\" object")
	}
	if !hasPackages {
		return nil, inputErrorf("lockfix JSON without a \"packages\" array")
	}
	c := schema.Content{Config: *cfg}
	if o.Registry != "" {
		c.Config.Registry, c.Config.RegistryHash = o.Registry, ""
	}
	if _, ok := schema.Lookup(c.Config.Version); !ok && o.To < 0 {
		return nil, inputErrorf("config.version %d is not known to this build (known: %v); choose one with --to", c.Config.Version, schema.Versions())
	}
	l, err := schema.FromContent(&c)
	if err != nil {
		return nil, inputErrorf("%v", err)
	}
	p := &packed{Kind: kindContent, sp: sp}
	if c.Config.Registry != "" {
		p.Registry, _ = schema.NormalizeRegistry(c.Config.Registry)
	} else {
		p.Registry = registryOf(sp.tally.Registries(), l.Config.RegistryHash)
	}
	if err := finishPacked(p, l, o); err != nil {
		return nil, err
	}
	return p, nil
}

// verify is the check of the bytes pack writes: strictly valid, with the
// verify is the check of the bytes pack writes (migrate.Verify):
// strictly valid, with the config and writer read from the input, and
// packages that sum to the input's (a digest: pack keeps no list of them).
func (p *packed) verify(nb []byte) error {
	w := p.Writer
	return migrate.Verify(migrate.Expect{Version: p.Config.Version, Config: &p.Config, Writer: &w,
		Packages: &packageSum{p: p}})(nb)
}

// packageSum is the migrate.Packages of pack's input: the count and the
// digest (packageHash) of its packages, in any order of summing.
type packageSum struct {
	p      *packed
	digest atomic.Uint64
}

func (q *packageSum) Begin() { q.digest.Store(0) }

// Vouch adds record i to the digest; it vouches for none (the strings'
// rules are checked as the input's are not proven).
func (q *packageSum) Vouch(_ int, r *schema.RawPackage) bool {
	q.digest.Add(packageHash(q.p.sp.seed, bstr(r.Name), bstr(r.Version), bstr(r.Resolved), bstr(r.Integrity)))
	return false
}

func (q *packageSum) Done(_ []byte, _ *schema.Schema, n int) error {
	if n != q.p.Count || q.digest.Load() != q.p.sp.digest {
		return fmt.Errorf("%w: the encoded file does not decode to the input's packages", migrate.ErrMismatch)
	}
	return nil
}

// parseTo reads --to with migrate's target parser: a config version (2,
// v2), a bun release or a bun constraint; -1 when not given.
func parseTo(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	t, err := migrate.ParseTarget(s)
	if err != nil {
		return 0, fmt.Errorf("--to: %v", err)
	}
	return t.Version, nil
}

// packOptionsOf checks pack's flags.
func packOptionsOf(c *ucli.Context) (packOptions, error) {
	var o packOptions
	var err error
	if o.To, err = parseTo(c.String("to")); err != nil {
		return o, usage("pack: %v", err)
	}
	if r := c.String("registry"); r != "" {
		if _, _, err := schema.RegistryHash(r); err != nil {
			return o, usage("pack: --registry: %v", err)
		}
		o.Registry = r
	}
	for _, name := range c.StringSlice("flag") {
		for _, n := range strings.Split(name, ",") {
			f, err := schema.ParseFlag(strings.TrimSpace(n))
			if err != nil {
				return o, usage("pack: --flag: %v", err)
			}
			o.Flags |= f.Mask
		}
	}
	if c.IsSet("writer") {
		w := c.String("writer")
		ok := w != "" && len(w) <= maxWriter()
		for i := 0; i < len(w); i++ {
			ok = ok && w[i] >= 0x20 && w[i] <= 0x7e
		}
		if !ok {
			return o, usage("pack: --writer %q: want 1-%d printable ASCII bytes", w, maxWriter())
		}
		o.Writer = w
	}
	return o, nil
}

// packReport is pack's --json output.
type packReport struct {
	Input           string   `json:"input"`
	Kind            string   `json:"kind"`
	LockfileVersion int      `json:"lockfileVersion,omitempty"`
	Output          string   `json:"output"`
	Version         int      `json:"version"`
	Packages        int      `json:"packages"`
	Registry        string   `json:"registry,omitempty"`
	RegistryHash    string   `json:"registryHash"`
	Flags           []string `json:"flags"`
	Writer          string   `json:"writer,omitempty"`
	Bytes           int      `json:"bytes"`
	Status          string   `json:"status"`
	Skipped         []string `json:"skipped"`
	Duplicates      int      `json:"duplicates"`
	Diff            string   `json:"diff,omitempty"`
}

// Status values of a pack report.
const (
	statusCreated   = "created"
	statusReplaced  = "replaced"
	statusUnchanged = "unchanged"
	statusWritten   = "written to stdout"
	statusDryRun    = "dry run"
)

func runPack(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("pack: want exactly one INPUT, got %d (usage: lockfix pack --to N -o OUT INPUT)", c.NArg())
	}
	out := c.String("output")
	if out == "" {
		return usage("pack: no --output given (usage: lockfix pack --to N -o OUT INPUT; \"-o -\" for stdout)")
	}
	asJSON, quiet := global(c, "json"), global(c, "quiet")
	if out == "-" && asJSON {
		return usage("pack: -o - and --json both write to stdout; choose one")
	}
	in := c.Args().First()
	if in == "-" && out == "-" && c.Bool("dry-run") {
		return usage("pack: --dry-run with -o - has nothing to show")
	}
	o, err := packOptionsOf(c)
	if err != nil {
		return err
	}
	r, size, err := openInput(stdin(c), in)
	if err != nil {
		return exit(ioCode(err), "pack: read %v", err)
	}
	span := trace.Start("pack.build")
	p, err := packInput(r, size, o)
	r.Close()
	if err != nil {
		span.End("")
		var ie *inputError
		if !errors.As(err, &ie) {
			return exit(ExitOperational, "pack: read %s: %v", inputName(in), err)
		}
		return exit(ExitProblems, "pack: %s: %v", inputName(in), err)
	}
	span.End(fmt.Sprintf("schema/v%d", p.Config.Version))
	data := p.Data
	verify := func(nb []byte) error {
		span := trace.Start("verify")
		defer span.End(fmt.Sprintf("schema/v%d", p.Config.Version))
		return p.verify(nb)
	}
	rep := packReport{Input: in, Kind: p.Kind, LockfileVersion: p.LockfileVersion, Output: out,
		Version: p.Config.Version, Packages: p.Count, Registry: p.Registry,
		RegistryHash: fmt.Sprintf("0x%08x", p.Config.RegistryHash), Flags: p.Config.Flags.Names(),
		Writer: p.Writer, Bytes: len(data), Skipped: p.Skipped, Duplicates: p.Duplicates}
	if rep.Skipped == nil {
		rep.Skipped = []string{}
	}
	if out == "-" || c.Bool("dry-run") {
		// Written files are verified on the write path.
		if err := verify(data); err != nil {
			return exit(ExitProblems, "pack: %s: %v", inputName(in), err)
		}
	}
	switch {
	case out == "-":
		if _, err := rawWriter(stdout(c)).Write(data); err != nil {
			return exit(ExitOperational, "pack: write stdout: %v", err)
		}
		rep.Status = statusWritten
	case c.Bool("dry-run"):
		rep.Status = statusDryRun
		want, err := schema.Decode(data)
		if err != nil {
			return exit(ExitProblems, "pack: %s: %v", inputName(in), err)
		}
		rep.Diff = packDiff(envOf(c), out, want)
	default:
		status, err := writeOutput(out, data, 0o644, verify, c.Duration("wait"))
		if err != nil {
			if errors.Is(err, atomicfile.ErrVerify) {
				return exit(ExitProblems, "pack: %v", err)
			}
			return exit(ExitOperational, "pack: %v", err)
		}
		rep.Status = status
	}
	switch {
	case asJSON:
		return printJSON(stdout(c), rep)
	case quiet:
		return nil
	}
	w := stdout(c)
	if out == "-" {
		w = stderr(c)
	}
	printPackReport(w, &rep)
	return nil
}

func inputName(in string) string {
	if in == "-" {
		return "stdin"
	}
	return in
}

func packagesEqual(a, b []schema.Package) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// writeOutput writes data to out through the shared write path: an
// existing file is replaced (locked, checked unchanged, its mode and owner
// kept), a new one is created atomically with perm.
func writeOutput(out string, data []byte, perm fs.FileMode, verify func([]byte) error, wait time.Duration) (string, error) {
	span := trace.Start("file.write")
	h, err := atomicfile.Open(out, atomicfile.Options{Wait: wait})
	if errors.Is(err, fs.ErrNotExist) {
		err = atomicfile.Create(out, data, perm, verify)
		span.End(fmt.Sprintf("%s %dB created", out, len(data)))
		if err != nil {
			return "", err
		}
		return statusCreated, nil
	}
	if err != nil {
		span.End("")
		return "", err
	}
	defer h.Close()
	if bytes.Equal(h.Data(), data) {
		span.End(out + " unchanged")
		return statusUnchanged, nil
	}
	err = h.Replace(data, verify)
	span.End(fmt.Sprintf("%s %dB replaced", out, len(data)))
	if err != nil {
		return "", err
	}
	return statusReplaced, nil
}

// packDiff shows how the content of an existing out would change.
func packDiff(e *env, out string, want *schema.Lockfile) string {
	b, err := e.readFile(out)
	if err != nil {
		return ""
	}
	old, err := schema.Decode(b)
	if err != nil {
		return fmt.Sprintf("(%s is not a valid lockfile now: %v)\n", out, err)
	}
	return render.Unified(out, out+" (packed)", old, want)
}

func printPackReport(w io.Writer, r *packReport) {
	from := r.Kind
	if r.LockfileVersion != 0 {
		from = fmt.Sprintf("%s lockfileVersion %d", r.Kind, r.LockfileVersion)
	}
	reg := r.RegistryHash
	if r.Registry != "" {
		reg = r.Registry + " (" + r.RegistryHash + ")"
	}
	what := fmt.Sprintf("v%d, %d package%s, registry %s, %d bytes", r.Version, r.Packages, plural(r.Packages), reg, r.Bytes)
	switch r.Status {
	case statusDryRun:
		fmt.Fprintf(w, "%s: would write %s (dry run, from %s %s)\n", r.Output, what, from, inputName(r.Input))
		if r.Diff != "" {
			fmt.Fprint(w, r.Diff)
		}
	case statusWritten:
		fmt.Fprintf(w, "stdout: wrote %s (from %s %s)\n", what, from, inputName(r.Input))
	case statusUnchanged:
		fmt.Fprintf(w, "%s: unchanged, already %s (from %s %s)\n", r.Output, what, from, inputName(r.Input))
	default:
		fmt.Fprintf(w, "%s: %s, %s (from %s %s)\n", r.Output, r.Status, what, from, inputName(r.Input))
	}
	if r.Duplicates > 0 {
		fmt.Fprintf(w, "  %d entr%s repeated a package installed at another path\n", r.Duplicates, map[bool]string{true: "y", false: "ies"}[r.Duplicates == 1])
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  skipped %s\n", s)
	}
}

// maxWriter returns the size of the largest writer field of the registered
// versions.
func maxWriter() int {
	n := 0
	for _, v := range schema.Versions() {
		s, _ := schema.Lookup(v)
		if f := s.FieldOf(schema.KindWriter); f != nil {
			n = max(n, f.Size)
		}
	}
	return n
}
