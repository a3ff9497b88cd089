package migrate

import (
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// TestRecordsCounts: Records walks every record of a checked file, for
// every version, with and without packages and with a writer, and gives
// the strict decoder's packages.
func TestRecordsCounts(t *testing.T) {
	for _, v := range schema.Versions() {
		for _, n := range []int{0, 1, 300, 9000} {
			b := lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: uint64(n + v), Writer: "bench 1.0"})
			s, err := schema.Sniff(b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Decode(b)
			if err != nil {
				t.Fatalf("v%d, %d packages: %v", v, n, err)
			}
			c := Records(b, s, func(i int, r *schema.RawPackage) {
				if i >= len(want.Packages) || r.Package() != want.Packages[i] {
					t.Fatalf("v%d: record %d is %+v", v, i, r.Package())
				}
			})
			if c != n {
				t.Errorf("v%d: Records counted %d, want %d", v, c, n)
			}
		}
	}
}
