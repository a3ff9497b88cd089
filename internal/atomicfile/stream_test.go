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

// TestOpenArriving opens a small and a large file for writing as they are
// read: the lock is held before the read ends, Arrived gives the bytes and
// makes them Data, the handle cannot write before, and can after; Close
// in the middle of a read ends it.
func TestOpenArriving(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{1000, StreamMin + 3*streamStep + 5} {
		path := filepath.Join(dir, "bun.lockb")
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i*7 + i>>9)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		h, s, err := OpenArriving(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path, Options{}); !errors.Is(err, ErrLocked) {
			t.Errorf("%d bytes: a second Open while the first reads = %v, want ErrLocked", size, err)
		}
		if in := s.Ready(size / 2); in < size/2 || !bytes.Equal(s.Bytes()[:size/2], want[:size/2]) {
			t.Fatalf("%d bytes: Ready(%d) = %d, or the bytes differ", size, size/2, in)
		}
		if err := h.Replace([]byte("new"), nil); err == nil {
			t.Fatalf("%d bytes: Replace before Arrived succeeded", size)
		}
		data, err := h.Arrived()
		if err != nil || !bytes.Equal(data, want) || !bytes.Equal(h.Data(), want) {
			t.Fatalf("%d bytes: Arrived = %d bytes, %v", size, len(data), err)
		}
		if err := h.Replace([]byte("new"), nil); err != nil {
			t.Fatalf("%d bytes: Replace after Arrived: %v", size, err)
		}
		h.Close()
		if got, _ := os.ReadFile(path); string(got) != "new" {
			t.Fatalf("%d bytes: the file holds %q", size, got)
		}

		// Closed before the read ends: the lock is let go, and nothing
		// reads the closed descriptor.
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		h, s, err = OpenArriving(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Ready(1)
		h.Close()
		if _, err := s.Wait(); size >= StreamMin && err == nil {
			t.Errorf("%d bytes: Wait after Close gave no error", size)
		}
		h2, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("%d bytes: Open after Close: %v", size, err)
		}
		h2.Close()

		// Read-only: no lock, and the handle cannot write.
		h, _, err = OpenArriving(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if data, err := h.Arrived(); err != nil || !bytes.Equal(data, want) {
			t.Fatalf("%d bytes, read-only: Arrived = %d bytes, %v", size, len(data), err)
		}
		if err := h.Replace([]byte("new"), nil); err == nil {
			t.Fatalf("%d bytes: Replace of a read-only handle succeeded", size)
		}
		h.Close()
	}
}
