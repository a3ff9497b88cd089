package npmlock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

const (
	sha512A = "sha512-5M53BsOqcReBM10CEzSaGC4lddbxUMy9v+iLQ8GPQl2d27nb8yuN8GHr8JhtKZe3H3AIIBvsdZDfCqO8lqGa6Q=="
	sha1A   = "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk="
	sha256A = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
)

const sample = `{
  "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "app", "version": "1.0.0", "dependencies": {"left-pad": "^1.3.0"}},
    "node_modules/left-pad": {"version": "1.3.0",
      "resolved": "https://registry.example.org/left-pad/-/left-pad-1.3.0.tgz",
      "integrity": "` + sha1A + ` ` + sha512A + `"},
    "node_modules/@scope/util": {"version": "2.0.0-rc.1",
      "resolved": "https://registry.example.org/@scope/util/-/util-2.0.0-rc.1.tgz",
      "integrity": "` + sha256A + `"},
    "node_modules/@scope/util/node_modules/left-pad": {"version": "1.3.0",
      "resolved": "https://registry.example.org/left-pad/-/left-pad-1.3.0.tgz",
      "integrity": "` + sha512A + `"},
    "node_modules/mine": {"resolved": "packages/mine", "link": true},
    "packages/mine": {"name": "mine", "version": "0.1.0"},
    "node_modules/JSONStream": {"version": "1.3.5"}
  }
}`

func TestParse(t *testing.T) {
	l, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.Package{
		{Name: "@scope/util", Version: "2.0.0-rc.1", Resolved: "https://registry.example.org/@scope/util/-/util-2.0.0-rc.1.tgz", Integrity: sha256A},
		{Name: "JSONStream", Version: "1.3.5"},
		{Name: "left-pad", Version: "1.3.0", Resolved: "https://registry.example.org/left-pad/-/left-pad-1.3.0.tgz", Integrity: sha512A},
	}
	if len(l.Packages) != len(want) {
		t.Fatalf("got %d packages %+v, want %d", len(l.Packages), l.Packages, len(want))
	}
	for i := range want {
		if l.Packages[i] != want[i] {
			t.Errorf("package %d = %+v, want %+v", i, l.Packages[i], want[i])
		}
	}
	if l.LockfileVersion != 3 || l.Name != "app" || l.Duplicates != 1 {
		t.Errorf("lockfileVersion %d, name %q, duplicates %d", l.LockfileVersion, l.Name, l.Duplicates)
	}
	if len(l.Skipped) != 2 || !strings.Contains(l.Skipped[0], "link") || !strings.Contains(l.Skipped[1], "workspace") {
		t.Errorf("skipped %q", l.Skipped)
	}
}

func TestStrongest(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"", "", ""},
		{sha1A, sha1A, ""},
		{sha1A + " " + sha512A, sha512A, ""},
		{sha512A + "  " + sha1A, sha512A, ""},
		{sha1A + " " + sha256A, sha256A, ""},
		{sha256A + "?opt " + sha1A, sha256A, ""},
		{"md5-abc " + sha1A, sha1A, ""},
		{"md5-abc", "", "no sha1"},
		{"sha512-short", "", "base64"},
	} {
		got, err := Strongest(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Strongest(%q) = %q, %v; want %q, error containing %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		is       error
		msg      string
	}{
		{"v1", `{"lockfileVersion": 1, "dependencies": {}}`, ErrVersion, "lockfileVersion 1"},
		{"v4", `{"lockfileVersion": 4, "packages": {}}`, ErrVersion, "lockfileVersion 4"},
		{"not json", `{"lockfileVersion": 3,`, ErrInvalid, "unexpected EOF"},
		{"no version member", `{"packages": {}}`, ErrInvalid, "no lockfileVersion"},
		{"no packages", `{"lockfileVersion": 2}`, ErrInvalid, `without a "packages"`},
		{"trailing", `{"lockfileVersion": 3, "packages": {}} {}`, ErrInvalid, "after the top-level"},
		{"null entry", `{"lockfileVersion": 3, "packages": {"node_modules/a": null}}`, ErrInvalid, `packages["node_modules/a"] is null`},
		{"no version", `{"lockfileVersion": 3, "packages": {"node_modules/a": {}}}`, ErrInvalid, "has no version"},
		{"bad version", `{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.0"}}}`, ErrInvalid, "Semantic Versioning"},
		{"bad name", `{"lockfileVersion": 3, "packages": {"node_modules/a b": {"version": "1.0.0"}}}`, ErrInvalid, `packages["node_modules/a b"]: name`},
		{"git resolved", `{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": "1.0.0", "resolved": "git+ssh://git@git.example.org/a.git"}}}`, ErrInvalid, "not an absolute http"},
		{"empty name", `{"lockfileVersion": 3, "packages": {"node_modules/": {"version": "1.0.0"}}}`, ErrInvalid, "ends in node_modules/"},
		{"conflict", `{"lockfileVersion": 3, "packages": {
			"node_modules/a": {"version": "1.0.0", "resolved": "https://registry.example.org/a/-/a-1.0.0.tgz"},
			"node_modules/b/node_modules/a": {"version": "1.0.0", "resolved": "https://mirror.example.net/a/-/a-1.0.0.tgz"}}}`, ErrInvalid, "are both a@1.0.0"},
		{"wrong type", `{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": 1}}}`, ErrInvalid, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.msg)
			}
		})
	}
}

func TestMergeKeepsStronger(t *testing.T) {
	in := `{"lockfileVersion": 2, "packages": {
		"node_modules/left-pad": {"version": "1.3.0", "integrity": "` + sha1A + `"},
		"node_modules/x/node_modules/left-pad": {"version": "1.3.0", "resolved": "https://registry.example.org/left-pad/-/left-pad-1.3.0.tgz", "integrity": "` + sha512A + `"}}}`
	l, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Packages) != 1 || l.Packages[0].Integrity != sha512A || l.Packages[0].Resolved == "" {
		t.Fatalf("packages %+v", l.Packages)
	}
}

func TestIsPackageLock(t *testing.T) {
	if !IsPackageLock([]byte(sample)) || IsPackageLock([]byte(`{"config": {}, "packages": []}`)) || IsPackageLock([]byte(`[`)) {
		t.Error("IsPackageLock wrong")
	}
}

// FuzzParse checks that Parse never panics and that what it returns can
// always be written as a lockfile: valid, sorted, unique packages.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"lockfileVersion": 2, "packages": {"node_modules/a": {"version": "1.0.0"}}}`))
	f.Add([]byte(`{"lockfileVersion": 1, "dependencies": {}}`))
	f.Add([]byte(`{"lockfileVersion": 3, "packages": {"node_modules/a": null}}`))
	if b, err := os.ReadFile(filepath.Join("..", "..", "examples", "npm", "package-lock.json")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrVersion", err)
			}
			return
		}
		probe := &schema.Lockfile{Packages: l.Packages}
		for _, e := range schema.CheckLockfile(probe, 0) {
			if schema.ErrorName(e) != "InvalidRegistryHash" && schema.ErrorName(e) != "InvalidTerminalSize" {
				t.Fatalf("parsed packages cannot be written: %v", e)
			}
		}
	})
}
