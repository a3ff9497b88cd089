package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPieces writes a file in pieces with its head last: the file holds
// the head and the pieces, with the original's mode; a failed check
// leaves the original and no temp file; untouched tells the bytes
// written from a change.
func TestPieces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	if err := os.WriteFile(path, []byte("the original"), 0o640); err != nil {
		t.Fatal(err)
	}
	head := []byte("HEAD")
	var pieces [][]byte
	for i := range 5 {
		pieces = append(pieces, bytes.Repeat([]byte{byte('a' + i)}, flushStep/3+i))
	}
	write := func(verify func() error) (*Pieces, error) {
		h, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := h.CreatePieces(len(head))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pieces {
			if err := w.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		if !w.p.untouched() {
			t.Error("untouched is false before the head is written")
		}
		return w, w.Replace(head, verify)
	}
	refused := errors.New("refused")
	w, err := write(func() error { return refused })
	if !errors.Is(err, ErrVerify) || !errors.Is(err, refused) {
		t.Fatalf("a failed check: %v", err)
	}
	w.p.h.Close()
	if b, _ := os.ReadFile(path); string(b) != "the original" {
		t.Fatalf("after a failed check the file holds %q", b[:min(len(b), 20)])
	}
	noTempIn(t, dir)

	w, err = write(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.p.h.Close()
	want := bytes.Join(append([][]byte{head}, pieces...), nil)
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
		t.Fatal("the file is not the head and the pieces")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode())
	}
	noTempIn(t, dir)
	// untouched reads the file through the descriptor the handle now
	// holds on it.
	w.p.tmp = w.p.h.lock
	if !w.p.untouched() {
		t.Error("untouched is false for the bytes written")
	}
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte("h"), 0)
	f.Close()
	if w.p.untouched() {
		t.Error("untouched is true after the head changed")
	}
	f, _ = os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt([]byte("HEAD"), 0)
	f.WriteAt([]byte("z"), int64(len(want)-1))
	f.Close()
	if w.p.untouched() {
		t.Error("untouched is true after a piece changed")
	}
	w.p.tmp = nil
}

func noTempIn(t *testing.T, dir string) {
	t.Helper()
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if IsTemp(n.Name()) {
			t.Errorf("temp file %s left", n.Name())
		}
	}
}
