package watch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// lockBytes returns a valid lockfile at version v with n packages.
func lockBytes(t testing.TB, v, n int, seed uint64) []byte {
	t.Helper()
	return lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: seed})
}

// reencode returns b decoded and encoded again at version v.
func reencode(t testing.TB, b []byte, v int) []byte {
	t.Helper()
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Version = v
	out, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replaceByRename writes b to a temp file beside path and renames it over
// path, as editors and lockfix do.
func replaceByRename(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".edit-"+filepath.Base(path))
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// watching starts a watcher over paths and returns its events.
func watching(t *testing.T, opts Options, paths ...string) (*Watcher, <-chan Event) {
	t.Helper()
	w, err := New(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx, func(e Event) { ch <- e }); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		w.Close()
	})
	return w, ch
}

func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return Event{}
	}
}

// quiet asserts that no event comes within d.
func quiet(t *testing.T, ch <-chan Event, d time.Duration) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected event %s %s (changes %v, problems %v)", e.Kind, e.Path, e.Changes, e.New.Problems)
	case <-time.After(d):
	}
}

func summary(e Event) []string {
	if e.Changes == nil {
		return nil
	}
	return e.Changes.Summary()
}

func TestInitialStates(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good", "bun.lockb")
	bad := filepath.Join(dir, "bad", "bun.lockb")
	missing := filepath.Join(dir, "missing", "bun.lockb")
	for _, p := range []string{good, bad, missing} {
		os.MkdirAll(filepath.Dir(p), 0o755)
	}
	os.WriteFile(good, lockBytes(t, 2, 3, 1), 0o644)
	b := lockBytes(t, 1, 3, 1)
	b[0x0D] = 7 // terminalMode
	os.WriteFile(bad, b, 0o644)
	var reads []string
	w, err := New([]string{good, bad, missing, good}, Options{OnRead: func(s *State) { reads = append(reads, s.Path) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if want := []string{good, bad, missing}; !slices.Equal(reads, want) {
		t.Errorf("OnRead saw %v, want %v (duplicates dropped)", reads, want)
	}
	st := w.States()
	if !st[0].Valid() || st[0].Version != 2 || len(st[0].Lockfile.Packages) != 3 {
		t.Errorf("good: %+v", st[0])
	}
	if st[1].Valid() || st[1].Version != 1 || !slices.Contains(st[1].ProblemNames(), "InvalidTerminalMode") {
		t.Errorf("bad: valid=%v version=%d problems=%v", st[1].Valid(), st[1].Version, st[1].ProblemNames())
	}
	if st[2].Exists || st[2].Valid() {
		t.Errorf("missing: %+v", st[2])
	}
	if _, err := New([]string{filepath.Join(dir, "nodir", "bun.lockb")}, Options{}); err == nil {
		t.Error("New accepted a path whose directory does not exist")
	}
}

func TestReplaceByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	v1 := lockBytes(t, 1, 3, 1)
	os.WriteFile(path, v1, 0o644)
	_, ch := watching(t, Options{}, path)

	replaceByRename(t, path, reencode(t, v1, 2))
	e := next(t, ch)
	if e.Kind != Changed || !slices.Equal(summary(e), []string{"config.version: 1 -> 2"}) {
		t.Fatalf("got %s %v, want changed [config.version: 1 -> 2]", e.Kind, summary(e))
	}
	if e.Old.Version != 1 || e.New.Version != 2 {
		t.Errorf("versions %d -> %d", e.Old.Version, e.New.Version)
	}
	// The same bytes again: a rename happened, nothing changed.
	replaceByRename(t, path, reencode(t, v1, 2))
	quiet(t, ch, 200*time.Millisecond)
}

func TestInPlaceWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	os.WriteFile(path, lockBytes(t, 2, 2, 1), 0o644)
	_, ch := watching(t, Options{}, path)

	// A burst of in-place writes ends in a file with one more package:
	// the debounce reads it once, at the end.
	final := lockBytes(t, 2, 3, 1)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(final); i += 64 {
		f.Write(final[i:min(i+64, len(final))])
	}
	f.Close()
	e := next(t, ch)
	if e.Kind != Changed {
		t.Fatalf("got %s (problems %v), want changed", e.Kind, e.New.ProblemNames())
	}
	sum := summary(e)
	if len(sum) == 0 || !strings.HasPrefix(sum[len(sum)-1], "+ ") {
		t.Errorf("summary %v, want an added package", sum)
	}
	quiet(t, ch, 150*time.Millisecond)
}

// swapConfigMap lays out dir as the kubelet does for a ConfigMap volume:
// bun.lockb -> ..data/bun.lockb, ..data -> ..<ts>, and swaps ..data to a
// new timestamped directory holding b, removing the old one.
func swapConfigMap(t testing.TB, dir, ts string, b []byte) {
	t.Helper()
	data := filepath.Join(dir, ".."+ts)
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "bun.lockb"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(".."+ts, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "bun.lockb")); err != nil {
		if err := os.Symlink("..data/bun.lockb", filepath.Join(dir, "bun.lockb")); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	v1 := lockBytes(t, 1, 3, 1)
	swapConfigMap(t, dir, "2026_01_01_00_00_00.000000001", v1)
	path := filepath.Join(dir, "bun.lockb")
	w, ch := watching(t, Options{}, path)
	if st := w.States()[0]; !st.Valid() || !strings.Contains(st.Target, "..2026_01_01") {
		t.Fatalf("initial: valid=%v target=%q", st.Valid(), st.Target)
	}

	swapConfigMap(t, dir, "2026_01_01_00_00_01.000000002", reencode(t, v1, 2))
	e := next(t, ch)
	if e.Kind != Changed || !slices.Equal(summary(e), []string{"config.version: 1 -> 2"}) {
		t.Fatalf("got %s %v, want changed [config.version: 1 -> 2]", e.Kind, summary(e))
	}
	// A second swap proves the watch followed the new directory.
	v2flags := reencode(t, v1, 2)
	l, _ := schema.Decode(v2flags)
	l.Config.Flags |= schema.FlagOffline
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	swapConfigMap(t, dir, "2026_01_01_00_00_02.000000003", b)
	e = next(t, ch)
	if e.Kind != Changed || !slices.Equal(summary(e), []string{"config.flags: DEBUG -> DEBUG|OFFLINE"}) {
		t.Fatalf("got %s %v", e.Kind, summary(e))
	}
	// An in-place write into the current target directory is seen too.
	target := w.States()[0].Target
	os.WriteFile(target, v1, 0o644)
	e = next(t, ch)
	if e.Kind != Changed || !slices.Contains(summary(e), "config.version: 2 -> 1") {
		t.Fatalf("got %s %v", e.Kind, summary(e))
	}
}

func TestInvalidValidDeletedCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	good := lockBytes(t, 2, 3, 1)
	os.WriteFile(path, good, 0o644)
	_, ch := watching(t, Options{}, path)

	bad := slices.Clone(good)
	bad[0x12] ^= 0x40 // header checksum
	replaceByRename(t, path, bad)
	e := next(t, ch)
	if e.Kind != Invalid || !slices.Equal(e.New.ProblemNames(), []string{"ChecksumMismatch"}) {
		t.Fatalf("got %s %v, want invalid [ChecksumMismatch]", e.Kind, e.New.ProblemNames())
	}

	changed := reencode(t, good, 1)
	replaceByRename(t, path, changed)
	e = next(t, ch)
	if e.Kind != Valid || !slices.Equal(summary(e), []string{"config.version: 2 -> 1"}) {
		t.Fatalf("got %s %v, want valid with the change from the last valid state", e.Kind, summary(e))
	}

	os.Remove(path)
	if e = next(t, ch); e.Kind != Deleted {
		t.Fatalf("got %s, want deleted", e.Kind)
	}
	os.WriteFile(path, good, 0o644)
	e = next(t, ch)
	if e.Kind != Created || !slices.Equal(summary(e), []string{"config.version: 1 -> 2"}) {
		t.Fatalf("got %s %v, want created with changes", e.Kind, summary(e))
	}
}

func TestIgnoresTempFilesAndNeighbours(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	os.WriteFile(path, lockBytes(t, 2, 3, 1), 0o644)
	reads := make(chan string, 100)
	_, ch := watching(t, Options{OnRead: func(s *State) { reads <- s.Path }}, path)
	<-reads // the initial read
	os.WriteFile(filepath.Join(dir, ".bun.lockb.lockfix-1234abcd.tmp"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, "package.json"), []byte("{}"), 0o644)
	quiet(t, ch, 200*time.Millisecond)
	select {
	case p := <-reads:
		t.Errorf("%s was read again for an event on another file", p)
	default:
	}
}

func TestNotRegular(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	os.WriteFile(path, lockBytes(t, 2, 3, 1), 0o644)
	_, ch := watching(t, Options{}, path)
	os.Remove(path)
	if e := next(t, ch); e.Kind != Deleted {
		t.Fatalf("got %s, want deleted", e.Kind)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	// A FIFO must be refused at once, never waited on.
	e := next(t, ch)
	if e.Kind != Created || e.New.Valid() || !slices.Equal(e.New.ProblemNames(), []string{"IOError"}) ||
		!strings.Contains(e.New.Problems[0].Error(), "not a regular file") {
		t.Fatalf("got %s valid=%v problems=%v", e.Kind, e.New.Valid(), e.New.Problems)
	}
}

func TestMaxDelay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	os.WriteFile(path, lockBytes(t, 2, 3, 1), 0o644)
	// Writes every 20ms never leave a 50ms quiet period; MaxDelay still
	// forces a read.
	_, ch := watching(t, Options{Debounce: 50 * time.Millisecond, MaxDelay: 150 * time.Millisecond}, path)
	stop := time.After(600 * time.Millisecond)
	got, seed := false, uint64(1)
	for !got {
		select {
		case <-stop:
			t.Fatal("no event while writes kept coming")
		case <-ch:
			got = true
		case <-time.After(20 * time.Millisecond):
			seed++ // every write differs from the last read
			replaceByRename(t, path, lockBytes(t, 2, 3, seed))
		}
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	swapConfigMap(t, dir, "2026_x", lockBytes(t, 1, 1, 1))
	names, dirs, target := resolve(filepath.Join(dir, "bun.lockb"))
	want := []string{filepath.Join(dir, "bun.lockb"), filepath.Join(dir, "..data"), filepath.Join(dir, "..2026_x", "bun.lockb")}
	if !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if !slices.Equal(dirs, []string{dir, filepath.Join(dir, "..2026_x")}) {
		t.Errorf("dirs %v", dirs)
	}
	if target != want[2] {
		t.Errorf("target %q", target)
	}
	// A loop ends the walk without a target.
	os.Symlink("b", filepath.Join(dir, "a"))
	os.Symlink("a", filepath.Join(dir, "b"))
	if _, _, target := resolve(filepath.Join(dir, "a")); target != "" {
		t.Errorf("loop resolved to %q", target)
	}
}
