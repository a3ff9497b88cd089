package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

func vector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildPackedKinds(t *testing.T) {
	for _, v := range []string{"v0", "v1", "v2"} {
		p, err := buildPacked(vector(t, v+".json"), packOptions{To: -1})
		if err != nil {
			t.Fatalf("%s.json: %v", v, err)
		}
		want, err := schema.Decode(vector(t, v+".lockb"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := schema.Decode(p.Data)
		if err != nil {
			t.Fatalf("%s.json: the built file does not decode: %v", v, err)
		}
		if p.Kind != kindContent || p.Config != want.Config || got.Config != want.Config || !packagesEqual(got.Packages, want.Packages) {
			t.Errorf("%s.json: built %+v, want %+v", v, p.Config, want.Config)
		}
		if err := p.verify(p.Data); err != nil {
			t.Errorf("%s.json: verify: %v", v, err)
		}
	}
	lock := `{"lockfileVersion": 2, "packages": {"node_modules/ms": {"version": "2.1.3", "resolved": "https://registry.example.org/ms/-/ms-2.1.3.tgz"}}}`
	p, err := buildPacked([]byte(lock), packOptions{To: 1, Flags: schema.FlagDebug})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != kindPackageLock || p.Config.Version != 1 || p.Config.Flags != schema.FlagDebug || p.Registry != "https://registry.example.org/" || p.Count != 1 {
		t.Errorf("package-lock: %+v", p)
	}
}

// TestPackStreamOrders: the config after the packages, unsorted packages,
// escaped strings and members in any case and order build the file that
// the same content in export's shape builds.
func TestPackStreamOrders(t *testing.T) {
	want := `{"config": {"version": 2, "registryHash": "0x52e06bbe"}, "packages": [` +
		`{"name": "a", "version": "1.0.0", "resolved": "https://registry.example.org/a/-/a-1.0.0.tgz", "integrity": ""},` +
		`{"name": "b", "version": "2.0.0", "resolved": "", "integrity": ""}]}`
	base, err := buildPacked([]byte(want), packOptions{To: -1, Writer: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		`{"packages": [{"name": "a", "version": "1.0.0", "resolved": "https://registry.example.org/a/-/a-1.0.0.tgz"}, {"name": "b", "version": "2.0.0"}], "config": {"version": 2, "registryHash": "0x52e06bbe"}}`,
		`{"config": {"version": 2, "registryHash": "0x52e06bbe"}, "packages": [{"version": "2.0.0", "name": "b", "resolved": null}, {"Name": "a", "VERSION": "1.0.0", "resolved": "https:\/\/registry.example.org\/a\/-\/a-1.0.0.tgz"}]}`,
		`{"path": "x", "valid": true, "config": {"version": 2, "registryHash": "0x52e06bbe"}, "packages": [{"name": "\u0061", "version": "1.0.0", "resolved": "https://registry.example.org/a/-/a-1.0.0.tgz"}, {"name": "b", "version": "2.0.0"}], "header": []}`,
	} {
		p, err := buildPacked([]byte(in), packOptions{To: -1, Writer: "t"})
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !bytes.Equal(p.Data, base.Data) || p.Registry != "https://registry.example.org/" {
			t.Errorf("%s: built other bytes (registry %q)", in, p.Registry)
		}
		if err := p.verify(p.Data); err != nil {
			t.Errorf("%s: verify: %v", in, err)
		}
	}
}

func TestBuildPackedErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"BUN1\x02", "binary lockfile"},
		{"", "not a JSON object"},
		{"[]", "not a JSON object"},
		{`{"config": {}}`, "without a \"packages\" array"},
		{`{"packages": []}`, "without a \"config\" object"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": null}`, "want an array"},
		{`{"config": {"version": 1, "registryHash": "zz"}, "packages": []}`, "not a 32-bit hex number"},
		{`{"config": {"version": 1, "registryHash": "0x1", "terminal": {"mode": "fancy"}}, "packages": []}`, "unknown terminal mode"},
		{`{"config": {"version": 1, "registryHash": "0x1", "terminal": {"rows": 300}}, "packages": []}`, "rows is 300"},
		{`{"config": {"version": 1, "registryHash": "0x1", "flags": ["TURBO"]}, "packages": []}`, "unknown feature flag"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": [{"name": "a", "version": "1", "extra": 1}]}`, "unknown field \"extra\""},
		{`{"valid": false, "config": {}, "packages": []}`, "invalid lockfile"},
		{`{"lockfileVersion": 3, "packages": {}}`, "--registry URL"},
		{`{"packages": [], "config": {"version": 1, "registryHash": "0x1"}, "packages": []}`, "two \"packages\" members"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": [{"name": "b", "version": "1.0.0"}, {"name": "a", "version": "1.0.0"}, {"name": "b", "version": "1.0.0"}]}`, "DuplicatePackage: package b@1.0.0: b@1.0.0 appears twice"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": [{"name": "a", "version": 1}]}`, "cannot unmarshal number"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": ["}"]}`, "cannot unmarshal string"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": [{"name": "a", "version": "1.0.0"}]} x`, "not valid JSON"},
		{`{"config": {"version": 1, "registryHash": "0x1"}, "packages": [{"name": "a", "version": "1.0.0"`, "not valid JSON"},
	} {
		_, err := buildPacked([]byte(tc.in), packOptions{To: -1})
		var ie *inputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("buildPacked(%q) = %v, want an input error containing %q", tc.in, err, tc.msg)
		}
	}
}

func TestParseTo(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"", -1, true}, {"0", 0, true}, {"2", 2, true}, {"3", 0, false}, {"bun@1.4.0", 2, true}, {"1.3.5", 1, true}, {"1.3.4", 0, true}, {"bun@x", 0, false}} {
		got, err := parseTo(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("parseTo(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzPackContent feeds pack's input path arbitrary bytes: it never
// panics, every error is an input error, and whatever it accepts encodes
// at every version its flags fit and decodes back to the same content.
func FuzzPackContent(f *testing.F) {
	for _, v := range []string{"v0.json", "v1.json", "v2.json"} {
		f.Add(vector(f, v))
	}
	f.Add([]byte(`{"config": {"version": 1, "registry": "https://registry.example.org/"}, "packages": []}`))
	f.Add([]byte(`{"config": {"version": 2, "registryHash": "0x52e06bbe", "flags": ["OFFLINE"], "terminal": {"mode": "raw", "rows": 1, "cols": 255}}, "packages": [{"name": "a", "version": "1.0.0", "resolved": "", "integrity": ""}]}`))
	f.Add([]byte(`{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.0.0", "resolved": "https://registry.example.org/a/-/a-1.0.0.tgz", "integrity": "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= sha512-x"}}}`))
	if b, err := os.ReadFile(filepath.Join("..", "..", "examples", "npm", "package-lock.json")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := buildPacked(b, packOptions{To: -1})
		if err != nil {
			var ie *inputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an input error", err)
			}
			return
		}
		if err := p.verify(p.Data); err != nil {
			t.Fatalf("the packed file fails its verify: %v", err)
		}
		base, err := schema.Decode(p.Data)
		if err != nil {
			t.Fatalf("packed file does not decode: %v", err)
		}
		for _, v := range schema.Versions() {
			q, err := buildPacked(b, packOptions{To: v})
			if err != nil {
				var ie *inputError
				if !errors.As(err, &ie) {
					t.Fatalf("v%d: error %v is not an input error", v, err)
				}
				continue // a flag the version lacks: refused, fine
			}
			got, err := schema.Decode(q.Data)
			if err != nil {
				t.Fatalf("v%d: encoded file does not decode: %v", v, err)
			}
			want := base.Config
			want.Version = v
			if got.Config != want || got.Config != q.Config || !packagesEqual(got.Packages, base.Packages) {
				t.Fatalf("v%d: decoded content differs", v)
			}
			if err := q.verify(q.Data); err != nil {
				t.Fatalf("v%d: verify: %v", v, err)
			}
			bad := bytes.Clone(q.Data)
			bad[len(bad)-1] ^= 1
			if len(got.Packages) > 0 && q.verify(bad) == nil {
				t.Fatalf("v%d: verify accepts a changed file", v)
			}
		}
	})
}
