package migrate_test

import (
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// BenchmarkConvertVerify is the processor work of migrating one fleet
// file, without the file system: the strict decode, the step, the encode
// and the check of the new bytes. The file has 62 packages, the mean of
// scripts/genfleet's fleets.
//
//	go test -run XXX -bench ConvertVerify -count 8 ./migrate/
func BenchmarkConvertVerify(b *testing.B) {
	for _, from := range []int{0, 1} {
		in := lockgen.Bytes(lockgen.Options{Version: from, Packages: 62, Seed: 11})
		b.Run("from=v"+string(rune('0'+from)), func(b *testing.B) {
			convertVerify(b, in)
		})
	}
}

// BenchmarkConvertVerifyLarge is BenchmarkConvertVerify for one large v1
// file (100,000 packages, 17 MB), the single-file migrate of
// scripts/bench-migrate-one.sh without the file system.
//
//	go test -run XXX -bench ConvertVerifyLarge -count 6 ./migrate/
func BenchmarkConvertVerifyLarge(b *testing.B) {
	in := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 100_000, Seed: 7})
	convertVerify(b, in)
}

// convertVerify converts in to v2 and verifies the result, as migrate
// does before it writes, b.N times.
func convertVerify(b *testing.B, in []byte) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := migrate.Convert(in, 2, schema.StepOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := migrate.Verify(migrate.Content(c.After))(c.Data); err != nil {
			b.Fatal(err)
		}
	}
}
