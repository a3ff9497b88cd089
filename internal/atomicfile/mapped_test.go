package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSized writes size patterned bytes to dir/name and returns the path
// and the bytes.
func writeSized(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>13)
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// TestOpenMapped maps a large file, and gives a stream of the same bytes
// instead for a small one, a file another descriptor holds open for
// writing, and any file while leases are off.
func TestOpenMapped(t *testing.T) {
	dir := t.TempDir()
	path, want := writeSized(t, dir, "bun.lockb", StreamMin+12345)
	m, st, err := OpenMapped(path)
	if err != nil || m == nil || st != nil {
		t.Fatalf("a large file: mapped %v, stream %v, err %v", m != nil, st != nil, err)
	}
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatal("the mapped bytes differ from the file's")
	}
	m.Release()
	m.Release() // a second Release does nothing
	if m.Bytes() != nil {
		t.Fatal("Bytes after Release is not nil")
	}

	// Not mapped: the stream reads the same bytes.
	streamed := func(what, path string, want []byte) {
		t.Helper()
		m, st, err := OpenMapped(path)
		if err != nil || m != nil || st == nil {
			t.Fatalf("%s: mapped %v, stream %v, err %v; want a stream", what, m != nil, st != nil, err)
		}
		defer st.Release()
		if b, err := st.Wait(); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s: the stream read %d bytes (%v), want the file's %d", what, len(b), err, len(want))
		}
	}
	small, smallWant := writeSized(t, dir, "small.lockb", StreamMin-1)
	streamed("a file under StreamMin", small, smallWant)

	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	streamed("a file open for writing", path, want)
	w.Close()

	prev := SetLeaseOff(true)
	streamed("leases off", path, want)
	SetLeaseOff(prev)

	if _, _, err := OpenMapped(dir); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("a directory: %v, want ErrNotRegular", err)
	}
}

// TestMappedHoldsWriters checks the promise that makes the mapping safe:
// a program that opens the mapped file for writing and truncating waits
// in its open until Release, so the mapping never loses its pages while
// it is read. The kernel lists the lease as breaking in /proc/locks while
// the writer waits.
func TestMappedHoldsWriters(t *testing.T) {
	dir := t.TempDir()
	path, want := writeSized(t, dir, "bun.lockb", StreamMin+1)
	m, _, err := OpenMapped(path)
	if err != nil || m == nil {
		t.Fatalf("not mapped: %v", err)
	}
	opened := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			f.Close()
		}
		opened <- err
	}()
	// Wait for the kernel to start breaking the lease: the open is then
	// waiting for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		locks, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("no /proc/locks: %v", err)
		}
		if strings.Contains(string(locks), "BREAKING") {
			break
		}
		select {
		case err := <-opened:
			t.Fatalf("the open for writing did not wait for the mapping (err %v)", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease never started breaking")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-opened:
		t.Fatalf("the open for writing returned while the file was mapped (err %v)", err)
	default:
	}
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatal("the mapped bytes changed while a writer waited")
	}
	m.Release()
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Fatalf("after Release the writer truncated nothing: %v, %v", st, err)
	}
}
