package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func exportCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "export",
		Usage:     "write a lockfile's content as JSON on stdout",
		ArgsUsage: "FILE",
		Description: `export decodes a lockfile strictly and writes its content as indented JSON:
"config" (version, registry when the packages reveal it, registryHash,
flags by name, terminal mode, rows and cols) and "packages" (name, version,
resolved, integrity, sorted). 'lockfix pack' reads the same shape back, so
export and pack round-trip: packing the export at the file's version gives
the same bytes (for v2, pass the file's writer with --writer).

FILE "-" reads the lockfile from stdin. An invalid file is refused: the
problems go to stderr (and, with --json, a problems object to stdout).

Exit 0 on success, 4 when the file is invalid, 8 when it cannot be read.

Examples:
   lockfix export bun.lockb > bun.lockb.json
   lockfix export bun.lockb | jq -r '.packages[] | .name + "@" + .version'
   lockfix export old/bun.lockb | lockfix pack --to 2 -o new/bun.lockb -`,
		Action: runExport,
	}
}

func runExport(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("export: want exactly one FILE, got %d (usage: lockfix export FILE)", c.NArg())
	}
	path := c.Args().First()
	var werr error
	var rt recordTally
	err := envOf(c).check(path, false, rt.visitor, func(b []byte, s *schema.Schema, errs []error) {
		if len(errs) > 0 || s == nil {
			werr = exportInvalid(c, parse(path, b))
			return
		}
		// The registries, counted in the check's pass; one more pass
		// writes the records.
		_, regs := rt.result()
		cfg := schema.DecodeConfig(b[schema.OffConfigVersion:])
		content := &schema.Content{Config: schema.ConfigContent(cfg, registryOf(regs, cfg.RegistryHash)),
			Packages: []schema.Package{}}
		content.Config.Writer, _ = (&examination{Bytes: b, Schema: s}).writer()
		werr = writeWithPackages(stdout(c), content, b, s)
	})
	if err != nil {
		return exit(ioCode(err), "%v", err)
	}
	return werr
}

// exportInvalid reports a file that export refuses.
func exportInvalid(c *ucli.Context, ld *loaded) error {
	path := ld.Path
	if global(c, "json") {
		if err := printJSON(stdout(c), map[string]any{"path": path, "valid": false, "problems": toProblems(ld.Problems)}); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr(c), "lockfix: %s: invalid, not exported (%d problem%s; 'lockfix recover' repairs it):\n", path, len(ld.Problems), plural(len(ld.Problems)))
	for _, p := range ld.Problems {
		fmt.Fprintf(stderr(c), "  %v\n", p)
	}
	return exitCode(ExitProblems)
}

// registryOf returns the URL among regs whose hash is h, or "" (as
// schema.RegistryFor does for packages).
func registryOf(regs []schema.RegistryCount, h uint32) string {
	for _, r := range regs {
		if r.Hash == h {
			return r.URL
		}
	}
	return ""
}

// packagesMember is how printJSON writes an empty "packages" member of a
// top-level object.
const packagesMember = "\n  \"packages\": []"

// writeWithPackages writes v to w exactly as printJSON does, except that
// the "packages" member, which must be a top-level member of v and empty
// in it, gets the records of b, a file that passed the strict check of s,
// instead of a document built first. The output is byte for byte what
// printJSON writes for v holding those packages.
//
// The records are cut from b in runs of jsonRunRecords, each run is
// formatted by one of up to GOMAXPROCS goroutines, and another goroutine
// writes the runs in order (through whatever w does, such as the control
// escaper, which a run of plain strings skips: writePlain) while the next
// ones are formatted. A few runs are in flight at
// a time: about a megabyte of JSON each.
func writeWithPackages(w io.Writer, v any, b []byte, s *schema.Schema) error {
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	doc := head.Bytes()
	at := bytes.Index(doc, []byte(packagesMember))
	if at < 0 {
		return errors.New("writeWithPackages: no empty top-level \"packages\" member")
	}
	at += len(packagesMember) - len("[]")

	workers := min(runtime.GOMAXPROCS(0), 4)
	inFlight := 2*workers + 2
	// A run goes to jobs (a worker formats it) and to order (the writer
	// waits for it to be formatted, writes it and puts it back in free).
	jobs, order, free := make(chan *jsonRun, inFlight), make(chan *jsonRun, inFlight+2), make(chan *jsonRun, inFlight)
	for range inFlight {
		free <- &jsonRun{done: make(chan struct{}, 1)}
	}
	for range workers {
		go func() {
			for r := range jobs {
				r.format()
			}
		}()
	}
	werr := make(chan error, 1)
	go func() {
		var err error
		for r := range order {
			<-r.done
			switch {
			case err != nil || len(r.out) == 0:
			case r.plain:
				_, err = writePlain(w, r.out)
			default:
				_, err = w.Write(r.out)
			}
			if !r.text {
				free <- r
			}
		}
		werr <- err
	}()
	// text hands the writer bytes to write as they are.
	text := func(t []byte) {
		r := &jsonRun{out: t, text: true, done: make(chan struct{}, 1)}
		r.done <- struct{}{}
		order <- r
	}
	text(doc[:at])
	n := 0
	cur := <-free
	cur.recs, cur.first = cur.recs[:0], true
	dispatch := func() {
		order <- cur
		jobs <- cur
		cur = <-free
		cur.recs, cur.first = cur.recs[:0], false
	}
	s.EachRecord(b, func(_ int, r *schema.RawPackage) {
		cur.recs = append(cur.recs, *r)
		n++
		if len(cur.recs) == jsonRunRecords {
			dispatch()
		}
	})
	if len(cur.recs) > 0 {
		dispatch()
	}
	close(jobs)
	if n == 0 {
		text(append([]byte("[]"), doc[at+len("[]"):]...))
	} else {
		text(append([]byte("\n  ]"), doc[at+len("[]"):]...))
	}
	close(order)
	return <-werr
}

// jsonRunRecords is the number of packages of a run of
// writeWithPackages: about a megabyte of JSON.
const jsonRunRecords = 4096

// jsonRun is a run of records of writeWithPackages and its JSON (or, when
// text is set, bytes to write as they are); done gets a value once out
// holds the JSON.
type jsonRun struct {
	recs  []schema.RawPackage
	first bool // it holds the first package
	text  bool
	out   []byte
	// plain is set when out holds only bytes that the control escaper
	// keeps as they are (every string was plainJSON).
	plain bool
	done  chan struct{}
}

// format writes the packages of r as elements of a JSON array into
// r.out, each member a JSON string as encoding/json writes it.
func (r *jsonRun) format() {
	buf := r.out[:0]
	r.plain = true
	str := func(b []byte) {
		s := bstr(b)
		if plainJSON(s) {
			buf = append(buf, '"')
			buf = append(buf, s...)
			buf = append(buf, '"')
			return
		}
		buf = appendJSONString(buf, s)
		r.plain = false
	}
	for i := range r.recs {
		p := &r.recs[i]
		if i == 0 && r.first {
			buf = append(buf, "[\n    {\n      \"name\": "...)
		} else {
			buf = append(buf, ",\n    {\n      \"name\": "...)
		}
		str(p.Name)
		buf = append(buf, ",\n      \"version\": "...)
		str(p.Version)
		buf = append(buf, ",\n      \"resolved\": "...)
		str(p.Resolved)
		buf = append(buf, ",\n      \"integrity\": "...)
		str(p.Integrity)
		buf = append(buf, "\n    }"...)
	}
	r.out = buf
	r.done <- struct{}{}
}

// plainJSON reports whether s is printable ASCII without DEL, '"' or
// '\\': encoding/json writes it as it is between quotes, and the control
// escaper keeps it as it is. It tests eight bytes at a time.
func plainJSON(s string) bool {
	for len(s) >= 8 {
		x := word(s)
		if keepNone.unplain(x)|zeroBytes(x^'"'*ones)|zeroBytes(x^'\\'*ones) != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !keepNone.byByte[c] || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendJSONString appends s quoted by encoding/json with printJSON's
// settings (no HTML escaping).
func appendJSONString(dst []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
