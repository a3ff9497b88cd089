package cli

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// TestValidateLargeWhileReading validates v2 files large enough to be
// mapped or checked while they are read, valid and damaged, both ways
// (mapped, and read while another descriptor holds the file open for
// writing, which refuses the lease a mapping needs), and requires the
// problems that schema.Check finds in the whole bytes; inspect --json
// and lint's JSON must say the same both ways.
func TestValidateLargeWhileReading(t *testing.T) {
	good := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 30_000, Seed: 9})
	if len(good) < atomicfile.StreamMin {
		t.Fatalf("the file is %d bytes, under StreamMin", len(good))
	}
	last := len(good) - 200 // inside the last records
	cases := map[string]func(b []byte){
		"valid":        func([]byte) {},
		"array CRC":    func(b []byte) { b[v2.Schema.Field("packagesChecksum").Offset] ^= 1 },
		"late record":  func(b []byte) { b[last] ^= 0x40 },
		"packageCount": func(b []byte) { binary.BigEndian.PutUint32(b[v2.Schema.Field("packageCount").Offset:], 29_999) },
	}
	for name, damage := range cases {
		b := append([]byte(nil), good...)
		damage(b)
		path := filepath.Join(t.TempDir(), "bun.lockb")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want := schema.Check(b)
		var inspected, linted [2]string
		for k, how := range []string{"mapped", "read"} {
			var w *os.File
			if how == "read" {
				var err error
				if w, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
					t.Fatal(err)
				}
			}
			got, code := quietEnv().validateFile(path)
			_, inspected[k], _ = run(t, "--json", "inspect", path)
			// Every record's host is refused: each finding carries
			// strings of the file, which must outlive its mapping.
			_, linted[k], _ = run(t, "lint", "--format", "json", "--allowed-host", "other.example.org", path)
			_, _, traced := run(t, "--trace", "validate", path)
			if mark := map[string]string{"mapped": ", mapped", "read": "while reading"}[how]; !strings.Contains(traced, mark) {
				t.Fatalf("%s, %s: the trace does not say %q:\n%s", name, how, mark, traced)
			}
			if w != nil {
				w.Close()
			}
			if got.Valid != (len(want) == 0) || len(got.Problems) != len(want) {
				t.Fatalf("%s, %s: valid %v with %d problems (exit %d), want %d: %v", name, how, got.Valid, len(got.Problems), code, len(want), got.Problems)
			}
			for i, p := range got.Problems {
				if w := fmt.Sprintf("%s: %v", path, want[i]); p.Error() != w {
					t.Errorf("%s, %s: problem %d is %q, want %q", name, how, i, p.Error(), w)
				}
			}
		}
		if linted[0] != linted[1] || !strings.Contains(linted[0], `"rule"`) {
			t.Errorf("%s: lint --format json mapped and read differ, or found nothing:\n%.300s\n%.300s", name, linted[0], linted[1])
		}
		if inspected[0] != inspected[1] || !strings.Contains(inspected[0], `"packagesFound"`) {
			t.Errorf("%s: inspect --json mapped and read differ:\n%s\n%s", name, inspected[0], inspected[1])
		}
	}
}
