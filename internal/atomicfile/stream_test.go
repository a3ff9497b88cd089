package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStream reads a small file (at once) and a large one (in the
// background), and checks Ready and Wait on each.
func TestStream(t *testing.T) {
	dir := t.TempDir()
	// The second large file reuses the first one's buffer, which is
	// larger: only its own bytes may show.
	for _, size := range []int{1000, StreamMin + 3*streamStep + 123, StreamMin + 77} {
		path := filepath.Join(dir, "bun.lockb")
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i*31 + i>>11 + size)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := OpenStream(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(s.Bytes()); got != size {
			t.Fatalf("%d bytes: Bytes has %d", size, got)
		}
		for _, n := range []int{1, size / 2, size} {
			if in := s.Ready(n); in < n {
				t.Fatalf("%d bytes: Ready(%d) = %d", size, n, in)
			}
			if !bytes.Equal(s.Bytes()[:n], want[:n]) {
				t.Fatalf("%d bytes: the first %d differ after Ready", size, n)
			}
		}
		data, err := s.Wait()
		if err != nil || !bytes.Equal(data, want) {
			t.Fatalf("%d bytes: Wait = %d bytes, %v", size, len(data), err)
		}
		s.Release()
		s.Release()
		if s.Bytes() != nil {
			t.Fatalf("%d bytes: Bytes after Release", size)
		}
	}
}

// TestStreamRefuses keeps Open's checks: a FIFO is refused before it is
// read, and a missing file is an error.
func TestStreamRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "bun.lockb")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	if _, err := OpenStream(fifo); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a FIFO: %v, want ErrNotRegular", err)
	}
	if _, err := OpenStream(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want ErrNotExist", err)
	}
}
