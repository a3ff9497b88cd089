package schema_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	v0 "github.com/lockfix/lockfix/schema/v0"
	v1 "github.com/lockfix/lockfix/schema/v1"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

var sinkU64 uint64

// BenchmarkDecodeConfig decodes the 13-byte config block in place and
// reads every field. (Returning the 7-field struct by value makes the
// compiler build it on the stack byte by byte and copy it with 16-byte
// loads, a store-forwarding stall that costs more than the decode.)
func BenchmarkDecodeConfig(b *testing.B) {
	buf := readVector(b, "v2")
	var sum uint64
	var c schema.Config
	for b.Loop() {
		c.Decode(buf[schema.OffConfigVersion:])
		sum += uint64(c.Version) ^ uint64(c.RegistryHash) ^ uint64(c.Flags)<<32 ^
			uint64(c.TerminalMode)<<8 ^ uint64(c.Rows)<<16 ^ uint64(c.Cols)<<24 ^ uint64(c.Reserved)<<40
	}
	sinkU64 = sum
}

var sinkBool bool

// BenchmarkHeaderValid validates a whole header, CRC-64 included, for
// each version.
func BenchmarkHeaderValid(b *testing.B) {
	for _, tc := range []struct {
		name  string
		valid func([]byte) bool
	}{
		{"v0", v0.Schema.HeaderValid},
		{"v1", v1.Schema.HeaderValid},
		{"v2", v2.Schema.HeaderValid},
	} {
		buf := readVector(b, tc.name)
		if !tc.valid(buf) {
			b.Fatalf("%s header is not valid", tc.name)
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				sinkBool = tc.valid(buf)
			}
		})
	}
}

var _ = v1.Schema.HeaderSize

var sinkErrs []error
var sinkSum uint64

// write100k writes a 100,000-package v2 lockfile to a temp dir.
func write100k(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "bun.lockb")
	if err := os.WriteFile(path, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7}), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkValidate100k is the strict check of a 100,000-package v2 file,
// read from disk (the page cache), against the floor of reading the same
// file and computing one CRC-64/NVME over it, in the same run:
//
//	go test -run XXX -bench Validate100k -count 6 ./schema/ | benchstat -col /op -
func BenchmarkValidate100k(b *testing.B) {
	path := write100k(b)
	st, _ := os.Stat(path)
	b.Run("op=floor-read-crc64", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			buf, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			sinkSum = schema.CRC64(buf)
		}
	})
	b.Run("op=validate", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			buf, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			sinkErrs = schema.Check(buf)
			if sinkErrs != nil {
				b.Fatal(sinkErrs[0])
			}
		}
	})
}

var sinkLockfile *schema.Lockfile

// BenchmarkDecode100k decodes a 100,000-package v2 file into the model.
func BenchmarkDecode100k(b *testing.B) {
	buf := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7})
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		l, err := schema.Decode(buf)
		if err != nil {
			b.Fatal(err)
		}
		sinkLockfile = l
	}
}

// BenchmarkCheck100k is the strict check of a 100,000-package v2 file
// already in memory: the records' share of validate, without the read.
// With -cpu 1 it is the check's CPU time per file:
//
//	go test -run XXX -bench Check100k -cpu 1 -count 6 ./schema/
func BenchmarkCheck100k(b *testing.B) {
	buf := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7})
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sinkErrs = schema.Check(buf)
		if sinkErrs != nil {
			b.Fatal(sinkErrs[0])
		}
	}
}
