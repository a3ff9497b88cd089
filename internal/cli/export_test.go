package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// marshalJSON is what printJSON writes for v.
func marshalJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// streamCases are lockfiles whose export and dump --json are compared
// with encoding/json's: the vectors, generated files of every version,
// one of several runs of writeWithPackages, one with strings that
// encoding/json escapes, and one without packages.
func streamCases(t *testing.T) map[string][]byte {
	files := map[string][]byte{}
	for _, v := range []string{"v0", "v1", "v2"} {
		files[v+".lockb"] = vector(t, v+".lockb")
	}
	for v := 0; v <= 2; v++ {
		files["gen-v"+string(rune('0'+v))] = lockgen.Bytes(lockgen.Options{Version: v, Packages: 3000, Seed: uint64(v + 3)})
	}
	// Several of writeWithPackages' runs, the last one short.
	files["runs"] = lockgen.Bytes(lockgen.Options{Version: 2, Packages: 3*jsonRunRecords + 17, Seed: 11})
	odd := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 20, Seed: 9})
	odd.Packages = append(odd.Packages,
		schema.Package{Name: "odd", Version: "1.0.0-x.1+b", Resolved: "https://registry.example.org/a\"b\\c<&>\u00e9\u2028/odd/-/odd-1.0.0-x.1+b.tgz"},
		schema.Package{Name: "@s/odd", Version: "2.0.0", Resolved: "http://mirror.example.net/\u2029%20?q=1#f"},
		schema.Package{Name: "quote", Version: "1.0.0", Resolved: "https://registry.example.org/\"q\"/\\/quote/-/quote-1.0.0.tgz"},
		schema.Package{Name: "html", Version: "1.0.0", Resolved: "https://registry.example.org/<&>/html/-/html-1.0.0.tgz"})
	schema.SortPackages(odd.Packages)
	b, err := schema.Encode(odd)
	if err != nil {
		t.Fatal(err)
	}
	files["odd"] = b
	empty := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 0, Seed: 1})
	if files["empty"], err = schema.Encode(empty); err != nil {
		t.Fatal(err)
	}
	return files
}

// TestStreamedJSONMatchesEncodingJSON: export and dump --json, which
// stream the records, write exactly what encoding/json writes for the
// whole document.
func TestStreamedJSONMatchesEncodingJSON(t *testing.T) {
	dir := t.TempDir()
	for name, b := range streamCases(t) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := schema.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		code, out, stderr := run(t, "export", path)
		if want := marshalJSON(t, schema.ToContent(l)); code != 0 || out != want {
			t.Errorf("%s: export exit %d (%s), output differs from encoding/json's:\n%s\nwant:\n%s", name, code, stderr, clip(out), clip(want))
		}
		x := examineBytes(path, b)
		j := x.dumpJSON()
		j.Packages = l.Packages
		if j.Packages == nil {
			j.Packages = []schema.Package{}
		}
		code, out, stderr = run(t, "dump", "--json", path)
		if want := marshalJSON(t, j); code != 0 || out != want {
			t.Errorf("%s: dump --json exit %d (%s), output differs from encoding/json's:\n%s\nwant:\n%s", name, code, stderr, clip(out), clip(want))
		}
	}
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// FuzzExportPack: for any packages (strings that JSON escapes, that the
// control escaper rewrites, any UTF-8), export through Main (and so
// through the control escaper) writes nothing that the escaper would
// rewrite, and pack of that export gives back the file's bytes, at every
// version.
func FuzzExportPack(f *testing.F) {
	f.Add("a\"b\\c", "é\u2028<&>", uint8(2))
	f.Add("x\u0085y\u009b", "%20?q=1#f", uint8(1))
	f.Add("\x7f\x1b", "\ufffd\U0001F600", uint8(0))
	f.Add("", "@scope", uint8(2))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s1, s2 string, v uint8) {
		l := lockgen.Lockfile(lockgen.Options{Version: int(v % 3), Packages: 3, Seed: uint64(v)})
		for i, s := range []string{s1, s2, s1 + s2} {
			n := string(rune('a' + i))
			for _, p := range []schema.Package{
				{Name: n, Version: "1.0.0", Resolved: "https://registry.example.org/" + s + "/" + n + "/-/" + n + "-1.0.0.tgz"},
				{Name: n, Version: "1.0.1-" + s, Resolved: s},
				{Name: s, Version: "2.0.0", Resolved: "http://mirror.example.net/" + s, Integrity: s},
			} {
				if _, rule := schema.CheckPackage(&p); rule == "" {
					l.Packages = append(l.Packages, p)
				}
			}
		}
		schema.SortPackages(l.Packages)
		l.Packages = slices.CompactFunc(l.Packages, func(a, b schema.Package) bool { return a.Name == b.Name && a.Version == b.Version })
		b, err := schema.Encode(l)
		if err != nil {
			return // a package this version cannot hold
		}
		path := filepath.Join(dir, "bun.lockb")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := run(t, "export", path)
		if code != 0 {
			t.Fatalf("export: exit %d: %s", code, stderr)
		}
		if escapeControls(out) != out {
			t.Fatalf("export wrote bytes that the control escaper rewrites:\n%s", clip(out))
		}
		p, err := buildPacked([]byte(out), packOptions{To: -1})
		if err != nil {
			t.Fatalf("pack of the export: %v\n%s", err, clip(out))
		}
		if !bytes.Equal(p.Data, b) {
			t.Fatalf("export | pack gives other bytes than the file; the export:\n%s", clip(out))
		}
	})
}
