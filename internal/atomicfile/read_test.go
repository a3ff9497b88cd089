package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReadLarge reads a file above parallelReadMin, whose pieces are read
// at once, and one that grows between the stat and the read.
func TestReadLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	want := make([]byte, parallelReadMin+12345)
	for i := range want {
		want[i] = byte(i*7 + i>>13)
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Data(), want) {
		t.Fatalf("read %d bytes, not the file's %d", len(h.Data()), len(want))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := readAll(f, int64(len(want)-1000)) // the stat was older
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("a file that grew: read %d bytes (%v), want %d", len(got), err, len(want))
	}
}
