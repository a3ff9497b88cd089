package atomicfile_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// batchReplace replaces path with nw the way a batch does (Prepare without
// sync, Sync, Commit, the directory's sync, Forget) through spares, and
// returns the inode the new content got.
func batchReplace(t *testing.T, path string, nw []byte, spares *atomicfile.Spares, links bool) uint64 {
	t.Helper()
	h, err := atomicfile.Open(path, atomicfile.Options{Spares: spares, Links: links})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p, err := h.Prepare(nw, verify, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.SyncDir(nil, filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	p.Forget()
	return inode(t, path)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(st.Sys().(*syscall.Stat_t).Ino)
}

// sparesFixture makes two lockfiles, each in a directory of its own, as
// in a fleet.
func sparesFixture(t *testing.T) (a, b string, oldA, oldB []byte) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	oldA, oldB = genLock(1, 20, 1), genLock(1, 30, 2)
	a = writeLock(t, filepath.Join(root, "a"), "bun.lockb", oldA, 0o644)
	b = writeLock(t, filepath.Join(root, "b"), "bun.lockb", oldB, 0o644)
	return a, b, oldA, oldB
}

func TestSparesReused(t *testing.T) {
	a, b, oldA, oldB := sparesFixture(t)
	spares := atomicfile.NewSpares(4)
	origA := inode(t, a)
	newA := withRows(t, oldA, 91)
	batchReplace(t, a, newA, spares, false)
	if spares.Len() != 1 {
		t.Fatalf("after the first replace: %d spares, want A's original", spares.Len())
	}
	// The original of A is at its temp name until a later temp file
	// takes it: a stale temp file of A should the run be killed.
	if n := len(temps(t, filepath.Dir(a))); n != 1 {
		t.Errorf("A's directory holds %d temp files, want its original's", n)
	}
	newB := withRows(t, oldB, 92)
	origB := inode(t, b)
	if got := batchReplace(t, b, newB, spares, false); got != origA {
		t.Errorf("B's new content is inode %d, want A's original %d reused", got, origA)
	}
	sameBytes(t, a, newA, "A")
	sameBytes(t, b, newB, "B")
	noTemps(t, filepath.Dir(a)) // moved to B's directory when it was taken
	// B's original, 30 packages, for A's new content of 20: written over
	// and cut to length.
	newA2 := withRows(t, oldA, 93)
	if got := batchReplace(t, a, newA2, spares, false); got != origB {
		t.Errorf("A's new content is inode %d, want B's original %d reused", got, origB)
	}
	sameBytes(t, a, newA2, "A, over a longer spare")
	spares.Close()
	noTemps(t, filepath.Dir(b))
	if spares.Len() != 0 {
		t.Errorf("%d spares after Close", spares.Len())
	}
	// The mode and owner are the lockfile's, as for a new temp file.
	st, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("B's mode is %v", st.Mode())
	}
}

// A program that still has the original open keeps reading the original,
// as after an unlink: such an original is never reused.
func TestSparesNotWhileOpen(t *testing.T) {
	a, b, oldA, oldB := sparesFixture(t)
	spares := atomicfile.NewSpares(4)
	reader, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	// A mapping alone (its descriptor closed) holds the file open too.
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := unix.Mmap(int(f.Fd()), 0, len(oldA), unix.PROT_READ, unix.MAP_SHARED)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mapped)
	batchReplace(t, a, withRows(t, oldA, 91), spares, false)
	if spares.Len() != 0 {
		t.Fatalf("an original open elsewhere was kept as a spare")
	}
	noTemps(t, filepath.Dir(a))
	batchReplace(t, b, withRows(t, oldB, 92), spares, false)
	got := make([]byte, len(oldA)+1)
	n, _ := reader.ReadAt(got, 0)
	if !bytes.Equal(got[:n], oldA) {
		t.Error("the reader of the original no longer reads it")
	}
	if !bytes.Equal(mapped, oldA) {
		t.Error("the mapping of the original changed")
	}

	// Once the reader and the mapping are gone, another original is
	// kept.
	reader.Close()
	unix.Munmap(mapped)
	mapped = nil
	batchReplace(t, b, withRows(t, oldB, 93), spares, false)
	if spares.Len() != 1 {
		t.Errorf("%d spares, want B's original", spares.Len())
	}
	spares.Close()
}

// An original with another name, or with extended attributes, is removed
// as before; a spare goes only to a lockfile of the same owner and mode.
func TestSparesRefused(t *testing.T) {
	t.Run("linked", func(t *testing.T) {
		a, _, oldA, _ := sparesFixture(t)
		other := filepath.Join(filepath.Dir(a), "other-name")
		if err := os.Link(a, other); err != nil {
			t.Fatal(err)
		}
		spares := atomicfile.NewSpares(4)
		defer spares.Close()
		batchReplace(t, a, withRows(t, oldA, 91), spares, true)
		if spares.Len() != 0 {
			t.Fatal("an original with a second name was kept as a spare")
		}
		sameBytes(t, other, oldA, "the other name")
	})
	t.Run("xattr", func(t *testing.T) {
		a, _, oldA, _ := sparesFixture(t)
		if err := unix.Setxattr(a, "user.origin", []byte("x"), 0); err != nil {
			t.Skipf("no user extended attributes here: %v", err)
		}
		spares := atomicfile.NewSpares(4)
		defer spares.Close()
		batchReplace(t, a, withRows(t, oldA, 91), spares, false)
		if spares.Len() != 0 {
			t.Fatal("an original with extended attributes was kept as a spare")
		}
	})
	t.Run("mode", func(t *testing.T) {
		a, b, oldA, oldB := sparesFixture(t)
		if err := os.Chmod(b, 0o600); err != nil {
			t.Fatal(err)
		}
		spares := atomicfile.NewSpares(4)
		defer spares.Close()
		orig := inode(t, a)
		batchReplace(t, a, withRows(t, oldA, 91), spares, false)
		if got := batchReplace(t, b, withRows(t, oldB, 92), spares, false); got == orig {
			t.Error("a spare of mode 0644 went to a lockfile of mode 0600")
		}
		st, _ := os.Stat(b)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("B's mode is %v, want 0600", st.Mode())
		}
		if spares.Len() != 2 {
			t.Errorf("%d spares, want both originals", spares.Len())
		}
	})
	t.Run("full", func(t *testing.T) {
		a, b, oldA, oldB := sparesFixture(t)
		spares := atomicfile.NewSpares(1)
		if err := os.Chmod(b, 0o600); err != nil { // so that A's spare stays
			t.Fatal(err)
		}
		batchReplace(t, a, withRows(t, oldA, 91), spares, false)
		batchReplace(t, b, withRows(t, oldB, 92), spares, false)
		if spares.Len() != 1 {
			t.Errorf("%d spares, want at most 1", spares.Len())
		}
		noTemps(t, filepath.Dir(b))
		spares.Close()
		noTemps(t, filepath.Dir(a))
	})
}

// durableReplace replaces path with nw by a durable Replace through
// spares, told that next comes after it ("" for none), and checks its
// bytes.
func durableReplace(t *testing.T, path string, nw []byte, spares *atomicfile.Spares, next string) {
	t.Helper()
	h, err := atomicfile.Open(path, atomicfile.Options{Spares: spares})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.Next(next)
	if err := h.Replace(nw, verify); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, nw, path)
}

// A durable Replace takes a spare and keeps its own original as one, as
// a batch does (the order of its syncs is TestStraceSpares').
func TestSparesReplace(t *testing.T) {
	a, b, oldA, oldB := sparesFixture(t)
	spares := atomicfile.NewSpares(4)
	origA := inode(t, a)
	batchReplace(t, a, withRows(t, oldA, 91), spares, false)
	durableReplace(t, b, withRows(t, oldB, 92), spares, "")
	if got := inode(t, b); got != origA {
		t.Errorf("B's new content is inode %d, want A's original %d reused", got, origA)
	}
	if spares.Len() != 1 {
		t.Errorf("%d spares after the Replace, want B's original", spares.Len())
	}
	spares.Close()
	noTemps(t, filepath.Dir(a))
	noTemps(t, filepath.Dir(b))
}

// A durable Replace told the next lockfile (Handle.Next) leaves its
// original next to it, as one of its temp files, and the replace of that
// lockfile takes it where it is, even where another spare fits its size
// better.
func TestSparesNext(t *testing.T) {
	a, b, _, oldB := sparesFixture(t)
	root := filepath.Dir(filepath.Dir(a))
	// A's original many blocks longer than B's new content, and two
	// spares of exactly that content's size, one of them left when B is
	// replaced: only the placing explains A's original being chosen.
	oldA := genLock(1, 400, 7)
	a = writeLock(t, filepath.Dir(a), "bun.lockb", oldA, 0o644)
	spares := atomicfile.NewSpares(4)
	var cs []string
	for _, d := range []string{"c1", "c2", "c3"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, writeLock(t, filepath.Join(root, d), "bun.lockb", withRows(t, oldB, 92), 0o644))
	}
	batchReplace(t, cs[0], withRows(t, oldB, 94), spares, false)
	// c2 and c3 at once: one takes c1's original, the other a new temp
	// file, and both their originals become spares.
	var ps []*atomicfile.Pending
	for _, c := range cs[1:] {
		h, err := atomicfile.Open(c, atomicfile.Options{Spares: spares})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		p, err := h.Prepare(withRows(t, oldB, 95), verify, true)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if err := p.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.SyncDir(nil, filepath.Dir(cs[i+1])); err != nil {
			t.Fatal(err)
		}
		p.Forget()
	}
	if spares.Len() != 2 {
		t.Fatalf("%d spares, want c2's and c3's originals", spares.Len())
	}
	origA := inode(t, a)
	durableReplace(t, a, withRows(t, oldA, 91), spares, b)
	noTemps(t, filepath.Dir(a))
	if n := len(temps(t, filepath.Dir(b))); n != 1 {
		t.Fatalf("B's directory holds %d temp files, want A's original", n)
	}
	durableReplace(t, b, withRows(t, oldB, 92), spares, "")
	if got := inode(t, b); got != origA {
		t.Errorf("B's new content is inode %d, want A's original %d, placed next to it", got, origA)
	}
	spares.Close()
	for _, f := range append(cs, a, b) {
		noTemps(t, filepath.Dir(f))
	}
}

// A spare placed next to a lockfile is kept for it while its handle is
// open, and goes to another lockfile once it is closed unwritten.
func TestSparesPlacedReleased(t *testing.T) {
	a, b, oldA, _ := sparesFixture(t)
	root := filepath.Dir(filepath.Dir(a))
	var cd []string // c: a long original, d: new content of A's size
	for i, d := range []string{"c", "d"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		cd = append(cd, writeLock(t, filepath.Join(root, d), "bun.lockb", genLock(1, 400-390*i, uint64(9+i)), 0o644))
	}
	c, d := cd[0], cd[1]
	spares := atomicfile.NewSpares(4)
	origA := inode(t, a)
	durableReplace(t, a, withRows(t, oldA, 91), spares, b)
	hb, err := atomicfile.Open(b, atomicfile.Options{Spares: spares})
	if err != nil {
		t.Fatal(err)
	}
	durableReplace(t, c, genLock(1, 400, 11), spares, "")
	if got := inode(t, c); got == origA {
		t.Errorf("C took A's original while it was kept for B")
	}
	hb.Close() // B not written
	durableReplace(t, d, withRows(t, oldA, 92), spares, "")
	if got := inode(t, d); got != origA {
		t.Errorf("D's new content is inode %d, want A's original %d, released by B", got, origA)
	}
	noTemps(t, filepath.Dir(b))
	spares.Close()
	for _, f := range []string{a, b, c, d} {
		noTemps(t, filepath.Dir(f))
	}
}

// A spare that a program opened by its temp name after it was kept is not
// rewritten: it is removed, and the next temp file is a new file.
func TestSparesOpenedSince(t *testing.T) {
	a, b, oldA, oldB := sparesFixture(t)
	spares := atomicfile.NewSpares(4)
	defer spares.Close()
	origA := inode(t, a)
	batchReplace(t, a, withRows(t, oldA, 91), spares, false)
	ts := temps(t, filepath.Dir(a))
	if len(ts) != 1 {
		t.Fatalf("A's directory holds %v, want its original's temp name", ts)
	}
	reader, err := os.Open(filepath.Join(filepath.Dir(a), ts[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if got := batchReplace(t, b, withRows(t, oldB, 92), spares, false); got == origA {
		t.Error("a spare open elsewhere was rewritten")
	}
	got, _ := io.ReadAll(reader)
	if !bytes.Equal(got, oldA) {
		t.Error("the reader of the spare no longer reads A's original")
	}
	noTemps(t, filepath.Dir(a))
}

// A new content takes the spare whose blocks are closest in number to its
// own, not the newest: the filesystem then frees and allocates the
// fewest blocks.
func TestSparesClosestSize(t *testing.T) {
	root := t.TempDir()
	path := func(d string) string {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(root, d, "bun.lockb")
	}
	large, small, c := path("large"), path("small"), path("c")
	oldLarge, oldSmall := genLock(1, 2000, 1), genLock(1, 10, 2)
	for p, b := range map[string][]byte{large: oldLarge, small: oldSmall, c: genLock(1, 5, 3)} {
		writeLock(t, filepath.Dir(p), "bun.lockb", b, 0o644)
	}
	origLarge := inode(t, large)
	spares := atomicfile.NewSpares(4)
	defer spares.Close()
	// One batch of both, the pool empty while it is prepared: both
	// originals are kept, the large one first, so the small one is the
	// newest.
	var pending []*atomicfile.Pending
	for _, p := range []string{large, small} {
		h, err := atomicfile.Open(p, atomicfile.Options{Spares: spares})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		pd, err := h.Prepare(withRows(t, h.Data(), 7), verify, false)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, pd)
	}
	for i, pd := range pending {
		if err := pd.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := pd.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.SyncDir(nil, filepath.Dir([]string{large, small}[i])); err != nil {
			t.Fatal(err)
		}
	}
	for _, pd := range pending {
		pd.Forget()
	}
	if spares.Len() != 2 {
		t.Fatalf("%d spares kept, want both originals", spares.Len())
	}
	bigNew := genLock(1, 1990, 5)
	gotC := batchReplace(t, c, bigNew, spares, false)
	sameBytes(t, c, bigNew, "C")
	if gotC != origLarge {
		t.Errorf("C's content of %d bytes is inode %d, want the large original %d (%d bytes), not the newest",
			len(bigNew), gotC, origLarge, len(oldLarge))
	}
}
