package cli

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

var benchSum uint64

// BenchmarkValidateCommand runs what 'lockfix validate FILE' does for a
// 100,000-package v2 file (open, read, sniff, strict check, report),
// against the floor of reading the same file and computing one
// CRC-64/NVME over it, in the same run:
//
//	go test -run XXX -bench ValidateCommand -count 6 ./internal/cli/ | benchstat -col /op -
//
// op=paired runs the two in turn within each iteration and reports the
// ratio of their total times (validate/floor), which the machine's
// drift between the two sub-benchmarks does not skew.
func BenchmarkValidateCommand(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bun.lockb")
	if err := os.WriteFile(path, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7}), 0o644); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.Run("op=floor-read-crc64", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			buf, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			benchSum = schema.CRC64(buf)
		}
	})
	b.Run("op=paired", func(b *testing.B) {
		e := quietEnv()
		var floor, check time.Duration
		for b.Loop() {
			t0 := time.Now()
			buf, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			benchSum = schema.CRC64(buf)
			t1 := time.Now()
			if r, code := e.validateFile(path); code != 0 || !r.Valid {
				b.Fatalf("validate: %d %v", code, r.Problems)
			}
			floor, check = floor+t1.Sub(t0), check+time.Since(t1)
		}
		b.ReportMetric(float64(check)/float64(floor), "validate/floor")
	})
	b.Run("op=validate", func(b *testing.B) {
		e := quietEnv()
		b.SetBytes(st.Size())
		for b.Loop() {
			if r, code := e.validateFile(path); code != 0 || !r.Valid {
				b.Fatalf("validate: %d %v", code, r.Problems)
			}
		}
	})
}

// BenchmarkSetCommand runs 'lockfix set FILE terminal.rows N' in this
// process on a 100,000-package v2 file, paired in each iteration with
// what 'lockfix validate FILE' does to the same file, and reports the
// ratio of their total times (set/validate; scripts/bench-set.sh measures
// the same between processes, with peak memory, on 1.3 million packages):
//
//	go test -run XXX -bench SetCommand -count 6 ./internal/cli/
func BenchmarkSetCommand(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bun.lockb")
	if err := os.WriteFile(path, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7}), 0o644); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	e := quietEnv()
	var validate, set time.Duration
	rows := 30
	for b.Loop() {
		t0 := time.Now()
		if r, code := e.validateFile(path); code != 0 || !r.Valid {
			b.Fatalf("validate: %d %v", code, r.Problems)
		}
		t1 := time.Now()
		rows = 30 + (rows+1)%2
		if code := runWith(io.Discard, io.Discard, "set", "--quiet", path, "terminal.rows", strconv.Itoa(rows)); code != 0 {
			b.Fatalf("set: exit %d", code)
		}
		validate, set = validate+t1.Sub(t0), set+time.Since(t1)
	}
	b.ReportMetric(float64(set)/float64(validate), "set/validate")
}
