package cli

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// TestValidateLargeWhileReading validates v2 files large enough to be
// checked while they are read, valid and damaged, and requires the
// problems that schema.Check finds in the whole bytes.
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
		got, code := quietEnv().validateFile(path)
		if got.Valid != (len(want) == 0) || len(got.Problems) != len(want) {
			t.Fatalf("%s: valid %v with %d problems (exit %d), want %d: %v", name, got.Valid, len(got.Problems), code, len(want), got.Problems)
		}
		for i, p := range got.Problems {
			if w := fmt.Sprintf("%s: %v", path, want[i]); p.Error() != w {
				t.Errorf("%s: problem %d is %q, want %q", name, i, p.Error(), w)
			}
		}
	}
}
