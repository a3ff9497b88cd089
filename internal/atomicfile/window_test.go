package atomicfile_test

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// windowFS runs before and after once each, in the window between the
// unchanged check and the rename: just before the exchange (or the
// rename) that puts the new content in place, and just after it.
type windowFS struct {
	atomicfile.OSFS
	before, after func()
	noExchange    bool
}

func once(f *func()) {
	if *f != nil {
		m := *f
		*f = nil
		m()
	}
}

func (w *windowFS) Exchange(a, b string) error {
	if w.noExchange {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: syscall.EINVAL}
	}
	once(&w.before)
	err := w.OSFS.Exchange(a, b)
	once(&w.after)
	return err
}

func (w *windowFS) Rename(a, b string) error {
	once(&w.before)
	err := w.OSFS.Rename(a, b)
	once(&w.after)
	return err
}

// TestChangedInTheWindow writes the lockfile in place, as another program
// that takes no lock does, at the last moment before the rename, or
// through a descriptor opened before the rename just after it, with and
// without a lease, with an exchange and with link and rename. Each time the other program's bytes are at the path afterwards
// and Replace returns ErrChanged.
func TestChangedInTheWindow(t *testing.T) {
	old := genLock(1, 10, 1)
	nw := withRows(t, old, 33)
	other := withRows(t, old, 99)
	for _, lease := range []bool{true, false} {
		for _, late := range []bool{false, true} {
			for _, noEx := range []bool{false, true} {
				name := map[bool]string{true: "lease", false: "no lease"}[lease] + "/" +
					map[bool]string{true: "after", false: "before"}[late] + " the rename/" +
					map[bool]string{true: "link", false: "exchange"}[noEx]
				t.Run(name, func(t *testing.T) {
					defer atomicfile.SetLeaseOff(atomicfile.SetLeaseOff(!lease))
					dir := t.TempDir()
					path := writeLock(t, dir, "bun.lockb", old, 0o644)
					fsys := &windowFS{noExchange: noEx}
					h, err := atomicfile.Open(path, atomicfile.Options{FS: fsys})
					if err != nil {
						t.Fatal(err)
					}
					defer h.Close()
					if lease && !h.Leased() {
						t.Skip("this filesystem grants no lease")
					}
					if lease {
						// The other program's open waits on the lease
						// until the commit has put the original back:
						// it runs in a goroutine, and the commit goes on
						// once the open has broken the lease.
						done := make(chan error, 1)
						fsys.before = func() {
							go func() {
								f, err := os.OpenFile(path, os.O_WRONLY, 0)
								if err == nil {
									_, err = f.WriteAt(other, 0)
									f.Close()
								}
								done <- err
							}()
							for h.Leased() {
								time.Sleep(100 * time.Microsecond)
							}
						}
						err = h.Replace(nw, verify)
						if !errors.Is(err, atomicfile.ErrChanged) || !strings.Contains(err.Error(), path) {
							t.Fatalf("Replace: %v, want ErrChanged naming the file", err)
						}
						if err := <-done; err != nil {
							t.Fatal(err)
						}
						sameBytes(t, path, other, "the other program's change")
						noTemps(t, dir)
						return
					}
					var f *os.File
					fsys.before = func() {
						if f, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
							t.Fatal(err)
						}
						if !late {
							if _, err := f.WriteAt(other, 0); err != nil {
								t.Error(err)
							}
						}
					}
					fsys.after = func() {
						if late {
							if _, err := f.WriteAt(other, 0); err != nil {
								t.Error(err)
							}
						}
						f.Close()
					}
					err = h.Replace(nw, verify)
					if !errors.Is(err, atomicfile.ErrChanged) || !strings.Contains(err.Error(), path) {
						t.Fatalf("Replace: %v, want ErrChanged naming the file", err)
					}
					sameBytes(t, path, other, "the other program's change")
					noTemps(t, dir)
				})
			}
		}
	}
}

// TestReplacedInTheWindow renames another file over the lockfile at the
// last moment before lockfix's exchange: the exchange moves it aside,
// sees that it is not the file read, and puts it back.
func TestReplacedInTheWindow(t *testing.T) {
	old := genLock(1, 10, 1)
	nw := withRows(t, old, 33)
	other := withRows(t, old, 99)
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	fsys := &windowFS{}
	h, err := atomicfile.Open(path, atomicfile.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fsys.before = func() {
		tmp := path + ".editor"
		if err := os.WriteFile(tmp, other, 0o644); err != nil {
			t.Error(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Error(err)
		}
	}
	err = h.Replace(nw, verify)
	if !errors.Is(err, atomicfile.ErrChanged) {
		t.Fatalf("Replace: %v, want ErrChanged", err)
	}
	sameBytes(t, path, other, "the other program's file")
	noTemps(t, dir)
}

// TestLeaseTaken checks that a writing Open of one's own file takes a
// lease where the filesystem grants one, that a read-only Open takes
// none, and that a Replace with no meddling succeeds and leaves no temp.
func TestLeaseTaken(t *testing.T) {
	old := genLock(1, 10, 1)
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.Leased() {
		t.Skip("this filesystem grants no lease")
	}
	if err := h.Replace(withRows(t, old, 40), verify); err != nil {
		t.Fatal(err)
	}
	if h.Leased() {
		t.Error("the handle still says it holds a lease on the replaced file")
	}
	noTemps(t, dir)
	ro, err := atomicfile.Open(path, atomicfile.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Leased() {
		t.Error("a read-only Open took a lease")
	}
	ro.Close()
}

// TestWriterHoldsItOpen has another program hold the lockfile open for
// writing from before Open until after Replace, and write it only then:
// Open gets no lease (the kernel refuses one while the file is open for
// writing), the bytes compared before and after the rename are the ones
// read, and still Replace must not go on, since the other program's
// write would land in the replaced original. It returns ErrChanged, and
// the write is at the path.
func TestWriterHoldsItOpen(t *testing.T) {
	old := genLock(1, 10, 1)
	nw := withRows(t, old, 33)
	other := withRows(t, old, 99)
	dir := t.TempDir()
	path := writeLock(t, dir, "bun.lockb", old, 0o644)
	if h, err := atomicfile.Open(path, atomicfile.Options{}); err != nil {
		t.Fatal(err)
	} else if leased := h.Leased(); h.Close() == nil && !leased {
		t.Skip("this filesystem grants no lease")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Leased() {
		t.Fatal("a lease was granted while another program held the file open for writing")
	}
	err = h.Replace(nw, verify)
	if !errors.Is(err, atomicfile.ErrChanged) || !strings.Contains(err.Error(), "open for writing") {
		t.Fatalf("Replace: %v, want ErrChanged: open for writing", err)
	}
	if _, err := f.WriteAt(other, 0); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, other, "the other program's write")
	noTemps(t, dir)
}
