package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func init() {
	register(&ucli.Command{
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
	})
}

func runExport(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("export: want exactly one FILE, got %d (usage: lockfix export FILE)", c.NArg())
	}
	path := c.Args().First()
	var werr error
	err := checkFile(path, func(b []byte, s *schema.Schema, errs []error) {
		if len(errs) > 0 || s == nil {
			werr = exportInvalid(c, parse(path, b))
			return
		}
		// One pass over the records for the registry, one to write them.
		var t schema.RegistryTally
		eachRecord(b, s, func(r *schema.RawPackage) { t.Add(bstr(r.Name), bstr(r.Version), bstr(r.Resolved)) })
		cfg := schema.DecodeConfig(b[schema.OffConfigVersion:])
		content := &schema.Content{Config: schema.ConfigContent(cfg, registryOf(t.Registries(), cfg.RegistryHash)),
			Packages: []schema.Package{}}
		content.Config.Writer, _ = (&examination{Bytes: b, Schema: s}).writer()
		werr = writeWithPackages(Stdout, content, func(emit func(name, version, resolved, integrity string)) {
			eachRecord(b, s, func(r *schema.RawPackage) {
				emit(bstr(r.Name), bstr(r.Version), bstr(r.Resolved), bstr(r.Integrity))
			})
		})
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
		if err := printJSON(map[string]any{"path": path, "valid": false, "problems": toProblems(ld.Problems)}); err != nil {
			return err
		}
	}
	fmt.Fprintf(Stderr, "lockfix: %s: invalid, not exported (%d problem%s; 'lockfix recover' repairs it):\n", path, len(ld.Problems), plural(len(ld.Problems)))
	for _, p := range ld.Problems {
		fmt.Fprintf(Stderr, "  %v\n", p)
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
// in it, gets the packages that each emits, written one by one through a
// buffered writer instead of in a document built first. The output is
// byte for byte what printJSON writes for v holding those packages.
func writeWithPackages(w io.Writer, v any, each func(emit func(name, version, resolved, integrity string))) error {
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
	// The output is appended to buf and handed to bw a megabyte at a
	// time, which writes it while the next one is filled.
	const flushAt = 1 << 20
	bw := newBackWriter(w, flushAt+4096)
	buf := bw.next()
	flush := func() {
		if len(buf) > 0 {
			bw.write(buf)
			buf = bw.next()
		}
	}
	buf = append(buf, doc[:at]...)
	n := 0
	str := func(s string) {
		if plainJSON(s) {
			buf = append(buf, '"')
			buf = append(buf, s...)
			buf = append(buf, '"')
			return
		}
		buf = appendJSONString(buf, s)
	}
	each(func(name, version, resolved, integrity string) {
		if n == 0 {
			buf = append(buf, "[\n    {\n      \"name\": "...)
		} else {
			buf = append(buf, ",\n    {\n      \"name\": "...)
		}
		n++
		str(name)
		buf = append(buf, ",\n      \"version\": "...)
		str(version)
		buf = append(buf, ",\n      \"resolved\": "...)
		str(resolved)
		buf = append(buf, ",\n      \"integrity\": "...)
		str(integrity)
		buf = append(buf, "\n    }"...)
		if len(buf) >= flushAt {
			flush()
		}
	})
	if n == 0 {
		buf = append(buf, "[]"...)
	} else {
		buf = append(buf, "\n  ]"...)
	}
	buf = append(buf, doc[at+len("[]"):]...)
	flush()
	return bw.close()
}

// backWriter writes buffers to w on a goroutine of its own, in order, so
// that what w does (the control escaper, the system call) runs alongside
// the filling of the next buffer. It holds three buffers.
type backWriter struct {
	full chan []byte
	free chan []byte
	done chan error
}

func newBackWriter(w io.Writer, size int) *backWriter {
	const buffers = 3
	bw := &backWriter{full: make(chan []byte, buffers), free: make(chan []byte, buffers), done: make(chan error, 1)}
	for range buffers {
		bw.free <- make([]byte, 0, size)
	}
	go func() {
		var err error
		for b := range bw.full {
			if err == nil {
				_, err = w.Write(b)
			}
			bw.free <- b[:0]
		}
		bw.done <- err
	}()
	return bw
}

// next returns an empty buffer to fill, waiting for one to be written.
func (bw *backWriter) next() []byte { return <-bw.free }

// write hands b, from next, to the writing goroutine.
func (bw *backWriter) write(b []byte) { bw.full <- b }

// close waits for the buffers handed over to be written and returns the
// first error of w.
func (bw *backWriter) close() error {
	close(bw.full)
	return <-bw.done
}

// plainJSON reports whether encoding/json writes s as it is between
// quotes: printable ASCII (and DEL) without '"' or '\\'. It tests eight
// bytes at a time.
func plainJSON(s string) bool {
	const (
		l = ones
		h = highs
	)
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		x := word(s[i:])
		q, b := x^('"'*l), x^('\\'*l)
		// A high bit set, a byte below 0x20, or a byte equal to '"' or
		// '\\' (the zero-byte test); exact once no high bit is set.
		if (x|(x-0x20*l)|(q-l)&^q|(b-l)&^b)&h != 0 {
			return plainBytes(s[i:])
		}
	}
	return plainBytes(s[i:])
}

// plainBytes is plainJSON one byte at a time.
func plainBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
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
