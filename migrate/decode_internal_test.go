package migrate

import (
	"reflect"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// TestDecodeCheckedIsDecode: the decode of a checked file that shares its
// bytes gives what the strict decoder gives, for every version, with and
// without packages and with a writer.
func TestDecodeCheckedIsDecode(t *testing.T) {
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
			got := decodeChecked(b, s)
			if got.Config != want.Config || got.Writer != want.Writer || !reflect.DeepEqual(got.Packages, want.Packages) {
				t.Errorf("v%d, %d packages: decodeChecked = %+v (%d packages), want %+v (%d)", v, n, got.Config, len(got.Packages), want.Config, len(want.Packages))
			}
			if c := Records(b, s, func(int, *schema.RawPackage) {}); c != n {
				t.Errorf("v%d: Records counted %d, want %d", v, c, n)
			}
		}
	}
}
