package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// BenchmarkStreamCommands runs what pack, export and inspect do in
// process for a 100,000-package v2 file (pack: from its export), each
// next to its floor of reading its input and computing one CRC-64/NVME:
//
//	go test -run XXX -bench StreamCommands -count 6 ./internal/cli/ | benchstat -col /op -
func BenchmarkStreamCommands(b *testing.B) {
	dir := b.TempDir()
	lock := filepath.Join(dir, "bun.lockb")
	if err := os.WriteFile(lock, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 100_000, Seed: 7}), 0o644); err != nil {
		b.Fatal(err)
	}
	var js bytes.Buffer
	if code := runWith(&js, io.Discard, "export", lock); code != 0 {
		b.Fatalf("export: exit %d", code)
	}
	in := filepath.Join(dir, "in.json")
	if err := os.WriteFile(in, js.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	floor := func(path string) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				buf, err := os.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				benchSum = schema.CRC64(buf)
			}
		}
	}
	b.Run("op=floor-lockfile", floor(lock))
	b.Run("op=floor-json", floor(in))
	b.Run("op=pack", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			p, err := packInput(f, int64(js.Len()), packOptions{To: -1})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			if err := p.verify(p.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, cmd := range [][]string{{"export"}, {"dump", "--json"}, {"inspect"}, {"validate"}} {
		b.Run("op="+cmd[0], func(b *testing.B) {
			for b.Loop() {
				if code := runWith(io.Discard, io.Discard, append(cmd, lock)...); code != 0 {
					b.Fatalf("%v: exit %d", cmd, code)
				}
			}
		})
	}
}
