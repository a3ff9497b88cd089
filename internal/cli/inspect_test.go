package cli

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

func TestExamineVectors(t *testing.T) {
	for _, v := range []string{"v0", "v1", "v2"} {
		b := vector(t, v+".lockb")
		x := examineBytes(v, b)
		if !x.Valid() || !x.Strict || x.Guess != "" || x.Found != 4 {
			t.Errorf("%s: valid %v, strict %v, guess %q, %d packages", v, x.Valid(), x.Strict, x.Guess, x.Found)
		}
		for _, c := range x.Checksums {
			if !c.OK || c.Stored != c.Computed {
				t.Errorf("%s: checksum %+v", v, c)
			}
		}
		if url, _ := x.registryInfo(); url != "https://registry.example.org/" {
			t.Errorf("%s: registry %q", v, url)
		}
	}
}

// examineBytes examines b as examine does a file.
func examineBytes(path string, b []byte) *examination {
	var rt recordTally
	s, err := schema.Sniff(b)
	if err != nil {
		return examineChecked(path, b, nil, []error{err}, &rt)
	}
	return examineChecked(path, b, s, s.CheckVisit(b, nil, rt.visitor()), &rt)
}

func TestGuessLayout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mess   func(b []byte) []byte
		layout int
		guess  string
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, 2, "magic is damaged"},
		{"version", func(b []byte) []byte { b[4] = 0x77; return b }, 2, "configVersion 119 is not known"},
		{"magic and version", func(b []byte) []byte { b[1] = 0; b[4] = 0x77; return b }, 2, "closest fit"},
		{"short", func(b []byte) []byte { return b[:4] }, -1, "configVersion is missing"},
	} {
		b := tc.mess(bytes.Clone(vector(t, "v2.lockb")))
		s, guess := guessLayout(b)
		if s == nil || (tc.layout >= 0 && s.Version != tc.layout) || !strings.Contains(guess, tc.guess) {
			t.Errorf("%s: layout %v, guess %q", tc.name, s, guess)
		}
	}
}

func TestHexBytes(t *testing.T) {
	if got := hexBytes([]byte{0x42, 0x55, 0x4e, 0x31}, 8); got != "42 55 4e 31" {
		t.Errorf("hexBytes = %q", got)
	}
	if got := hexBytes(make([]byte, 10), 8); got != "00 00 00 00 00 00 00 00 +2" {
		t.Errorf("hexBytes = %q", got)
	}
}

// FuzzExamine checks that inspect's and dump's reading of a damaged file
// never panics and agrees with the strict check on validity.
func FuzzExamine(f *testing.F) {
	for _, v := range []string{"v0.lockb", "v1.lockb", "v2.lockb"} {
		b := vector(f, v)
		f.Add(b)
		f.Add(b[:len(b)-7])
		m := bytes.Clone(b)
		m[0] = 'X'
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x := examineBytes("f", b)
		if x.Valid() != (len(schema.Check(b)) == 0) {
			t.Fatalf("examine says valid=%v, Check disagrees", x.Valid())
		}
		var buf bytes.Buffer
		printSummary(&buf, x)
		printHex(&buf, x)
		_ = x.toJSON()
		_ = x.dumpJSON()
	})
}

// TestExamineRegistriesInRuns: the registries of a file of many runs of
// records, counted in the check's pass (recordTally), are those of its
// decoded packages, counted one at a time, for every version; packages of
// a second registry are mixed in so that the runs' tallies differ.
func TestExamineRegistriesInRuns(t *testing.T) {
	for _, v := range schema.Versions() {
		l := lockgen.Lockfile(lockgen.Options{Version: v, Packages: 20_000, Seed: 5})
		for i := range l.Packages {
			if p := &l.Packages[i]; i%3 == 0 && strings.HasPrefix(p.Resolved, "https://registry.example.org/") {
				p.Resolved = "https://mirror.example.com/npm/" + strings.TrimPrefix(p.Resolved, "https://registry.example.org/")
			}
		}
		s, _ := schema.Lookup(v)
		b, err := s.Encode(l)
		if err != nil {
			t.Fatal(err)
		}
		x := examineBytes("f", b)
		want := schema.Registries(l.Packages)
		if !x.Valid() || x.Found != len(l.Packages) || len(want) < 2 || !reflect.DeepEqual(x.Regs, want) {
			t.Errorf("v%d: valid %v, %d found, registries %v, want %v", v, x.Valid(), x.Found, x.Regs, want)
		}
	}
}
