package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// lock64K returns two valid lockfiles of about 64 KiB that differ, so that
// every write changes the file.
func lock64K(b *testing.B) (x, y []byte) {
	n := 1
	for len(genLock(2, n*2, 1)) <= 64<<10 {
		n *= 2
	}
	lo, hi := n, n*2 // genLock(lo) <= 64 KiB < genLock(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if len(genLock(2, mid, 1)) <= 64<<10 {
			lo = mid
		} else {
			hi = mid
		}
	}
	x = genLock(2, lo, 1)
	return x, withRows(b, x, 25)
}

// BenchmarkReplace64K is lockfix's write path for a 64 KiB lockfile, as
// 'lockfix set' runs it: Open (lock, read, stale temp cleanup), verify
// (the strict check of the new bytes), temp file, write, fsync, unchanged
// check, link of the original, rename, directory fsync, unlink, Close.
func BenchmarkReplace64K(b *testing.B) {
	x, y := lock64K(b)
	dir := b.TempDir()
	path := writeLock(b, dir, "bun.lockb", x, 0o644)
	b.SetBytes(int64(len(x)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := atomicfile.Open(path, atomicfile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		next := x
		if i%2 == 0 {
			next = y
		}
		if err := h.Replace(next, verify); err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}

// BenchmarkReplaceHeld64K is the write half of BenchmarkReplace64K: one
// Open, then Replace after Replace on the same handle (it holds the new
// file's lock after each), so the read, the lock and the stale temp scan
// of Open are left out: verify, temp file, write, fsync, unchanged
// check, link, rename, directory fsync, unlink.
func BenchmarkReplaceHeld64K(b *testing.B) {
	x, y := lock64K(b)
	dir := b.TempDir()
	path := writeLock(b, dir, "bun.lockb", x, 0o644)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.SetBytes(int64(len(x)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := x
		if i%2 == 0 {
			next = y
		}
		if err := h.Replace(next, verify); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareWrite64K is the floor: the same bytes written with a plain
// create, write, fsync, rename, directory fsync; no lock, no verify, no
// check, no link.
func BenchmarkBareWrite64K(b *testing.B) {
	x, y := lock64K(b)
	dir := b.TempDir()
	path := writeLock(b, dir, "bun.lockb", x, 0o644)
	tmp := filepath.Join(dir, ".bun.lockb.tmp")
	b.SetBytes(int64(len(x)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := x
		if i%2 == 0 {
			next = y
		}
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(next); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		d, err := os.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}
