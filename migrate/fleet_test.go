package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// fleet writes n lockfiles of mixed versions in nested directories and
// damages every damageEvery-th one by flipping a byte. It returns the
// paths and the damaged ones' bytes.
func fleet(t *testing.T, n, damageEvery int) ([]string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	damaged := map[string][]byte{}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("team%d", i%4), fmt.Sprintf("app%03d", i), "bun.lockb")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := lockgen.Bytes(lockgen.Options{Version: i % 3, Packages: 5 + i%30, Seed: uint64(i)})
		if damageEvery > 0 && i%damageEvery == damageEvery-1 {
			// A flipped byte; v0 and v1 records have no checksum, so move
			// on until the damage is one the checks can see.
			for off := len(b) / 2; ; off++ {
				b[off] ^= 0x40
				if schema.Check(b) != nil {
					break
				}
				b[off] ^= 0x40
			}
			damaged[p] = b
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, damaged
}

// collect runs Run and gathers the results by path.
func collect(t *testing.T, files []string, o migrate.Options) (migrate.Summary, map[string]*migrate.Result) {
	t.Helper()
	res := map[string]*migrate.Result{}
	o.OnResult = func(r *migrate.Result) {
		if res[r.Path] != nil {
			t.Errorf("%s reported twice", r.Path)
		}
		res[r.Path] = r
	}
	return migrate.Run(context.Background(), files, o), res
}

// noTemp fails when a lockfix temp file is left under the files' dirs.
func noTemp(t *testing.T, files []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range files {
		d := filepath.Dir(f)
		if seen[d] {
			continue
		}
		seen[d] = true
		es, _ := os.ReadDir(d)
		for _, e := range es {
			if atomicfile.IsTemp(e.Name()) {
				t.Errorf("temp file left: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

func TestRunFleet(t *testing.T) {
	for _, mode := range []migrate.SyncMode{migrate.SyncFile, migrate.SyncBatch} {
		t.Run(string(mode), func(t *testing.T) {
			files, damaged := fleet(t, 60, 11)
			before := map[string]*schema.Lockfile{}
			for _, f := range files {
				b, _ := os.ReadFile(f)
				if l, err := schema.Decode(b); err == nil {
					before[f] = l
				}
			}
			sum, res := collect(t, files, migrate.Options{To: 2, Jobs: 3, Sync: mode, BatchSize: 7})
			atTarget := 0
			for _, f := range files {
				if before[f] != nil && before[f].Config.Version == 2 {
					atTarget++
				}
			}
			if sum.Files != 60 || sum.Refused != len(damaged) || sum.Failed != 0 || sum.Skipped != atTarget ||
				sum.Migrated != 60-len(damaged)-atTarget || sum.NotRun != 0 || sum.Sync != mode {
				t.Fatalf("summary %+v; %d damaged, %d at the target", sum, len(damaged), atTarget)
			}
			for _, f := range files {
				b, _ := os.ReadFile(f)
				r := res[f]
				if want, bad := damaged[f]; bad {
					if !bytes.Equal(b, want) {
						t.Errorf("%s: a damaged file was changed", f)
					}
					if r.Status != migrate.StatusRefused || r.Reason != migrate.ReasonInvalid || len(r.Problems) == 0 {
						t.Errorf("%s: %s %s %v, want refused invalid with problems", f, r.Status, r.Reason, r.Err)
					}
					continue
				}
				if errs := schema.Check(b); errs != nil {
					t.Errorf("%s: invalid after migration: %v", f, errs)
					continue
				}
				l, _ := schema.Decode(b)
				want := before[f].Clone()
				want.Config.Version = 2
				if err := migrate.SameContent(want, l); err != nil {
					t.Errorf("%s: %v", f, err)
				}
				st, _ := os.Stat(f)
				if st.Mode().Perm() != 0o640 {
					t.Errorf("%s: mode %v, want 0640 kept", f, st.Mode())
				}
				wantStatus := migrate.StatusMigrated
				if before[f].Config.Version == 2 {
					wantStatus = migrate.StatusSkipped
				}
				if r.Status != wantStatus || r.From != before[f].Config.Version || r.To != 2 {
					t.Errorf("%s: %+v, want %s from %d", f, r, wantStatus, before[f].Config.Version)
				}
			}
			noTemp(t, files)

			// A rerun is the resume: everything is skipped but the damaged.
			sum, _ = collect(t, files, migrate.Options{To: 2, Jobs: 2, Sync: mode, BatchSize: 5})
			if sum.Skipped != 60-len(damaged) || sum.Refused != len(damaged) || sum.Migrated != 0 {
				t.Errorf("rerun summary %+v", sum)
			}
		})
	}
}

func TestRunDryRun(t *testing.T) {
	files, _ := fleet(t, 12, 5)
	orig := map[string][]byte{}
	for _, f := range files {
		orig[f], _ = os.ReadFile(f)
	}
	sum, res := collect(t, files, migrate.Options{To: 0, DryRun: true, Sync: migrate.SyncBatch, KeepContent: true})
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.Equal(b, orig[f]) {
			t.Errorf("%s: changed by a dry run", f)
		}
		if r := res[f]; r.Status == migrate.StatusWouldMigrate && (r.Before == nil || r.After == nil || r.After.Config.Version != 0) {
			t.Errorf("%s: dry run result without the content: %+v", f, r)
		}
	}
	if sum.Migrated == 0 || sum.Refused != 2 {
		t.Errorf("summary %+v", sum)
	}
	noTemp(t, files)
}

func TestRunLossy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bun.lockb")
	b := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 9, Seed: 1, Flags: schema.FlagDebug | schema.FlagOffline})
	os.WriteFile(p, b, 0o644)
	sum, res := collect(t, []string{p}, migrate.Options{To: 1})
	if r := res[p]; r.Status != migrate.StatusRefused || r.Reason != migrate.ReasonLossy || !strings.Contains(r.Message(), "OFFLINE") {
		t.Fatalf("result %+v", r)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, b) || sum.Refused != 1 {
		t.Fatalf("a refused file changed or the summary is %+v", sum)
	}
	sum, res = collect(t, []string{p}, migrate.Options{To: 1, AllowLossy: true})
	if r := res[p]; r.Status != migrate.StatusMigrated || len(r.Dropped) != 1 || r.Dropped[0] != "flag OFFLINE" || sum.Refused+sum.Failed != 0 {
		t.Fatalf("result %+v, summary %+v", r, sum)
	}
}

// TestRunSameFileTwice lists a symbolic link and its target: the file is
// migrated once and the second path finds it at the target.
func TestRunSameFileTwice(t *testing.T) {
	for _, mode := range []migrate.SyncMode{migrate.SyncFile, migrate.SyncBatch} {
		dir := t.TempDir()
		p := filepath.Join(dir, "bun.lockb")
		os.WriteFile(p, lockgen.Bytes(lockgen.Options{Version: 0, Packages: 3, Seed: 1}), 0o644)
		link := filepath.Join(dir, "link.lockb")
		if err := os.Symlink("bun.lockb", link); err != nil {
			t.Fatal(err)
		}
		sum, res := collect(t, []string{link, p}, migrate.Options{To: 1, Sync: mode, Jobs: 2})
		if sum.Migrated != 1 || sum.Skipped != 1 || sum.Failed != 0 {
			t.Errorf("%s: summary %+v (%v %v)", mode, sum, res[link], res[p])
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: the link is no longer a link", mode)
		}
	}
}

// faultFS is the operating system with faults injected by file name.
type faultFS struct {
	atomicfile.OSFS
	mu sync.Mutex
	// onTemp runs when the temp file of the lockfile in dir is created.
	onTemp func(lockfile string)
	// failRename fails the rename onto this lockfile.
	failRename string
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (atomicfile.File, error) {
	if atomicfile.IsTemp(filepath.Base(name)) && f.onTemp != nil {
		f.mu.Lock()
		f.onTemp(filepath.Join(filepath.Dir(name), "bun.lockb"))
		f.mu.Unlock()
	}
	return f.OSFS.OpenFile(name, flag, perm)
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if newpath == f.failRename {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errors.New("injected I/O error")}
	}
	return f.OSFS.Rename(oldpath, newpath)
}

// Exchange (the rename of the write path where the filesystem can
// exchange) fails like Rename onto failRename.
func (f *faultFS) Exchange(a, b string) error {
	if b == f.failRename {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: errors.New("injected I/O error")}
	}
	return f.OSFS.Exchange(a, b)
}

func TestRunFaults(t *testing.T) {
	for _, mode := range []migrate.SyncMode{migrate.SyncFile, migrate.SyncBatch} {
		t.Run(string(mode), func(t *testing.T) {
			files, _ := fleet(t, 9, 0)
			changed, broken := files[0], files[1] // both version 0
			foreign := []byte("written by someone else")
			fsys := &faultFS{failRename: broken}
			fsys.onTemp = func(lockfile string) {
				if lockfile == changed {
					os.WriteFile(changed, foreign, 0o640)
				}
			}
			orig, _ := os.ReadFile(broken)
			sum, res := collect(t, files, migrate.Options{To: 2, Sync: mode, FS: fsys, Jobs: 3})
			if r := res[changed]; r.Status != migrate.StatusFailed || r.Reason != migrate.ReasonChanged {
				t.Errorf("changed file: %+v", r)
			}
			if b, _ := os.ReadFile(changed); !bytes.Equal(b, foreign) {
				t.Error("the other program's change was overwritten")
			}
			if r := res[broken]; r.Status != migrate.StatusFailed || r.Reason != migrate.ReasonIO || !strings.Contains(r.Message(), "injected") {
				t.Errorf("rename failure: %+v", r)
			}
			if b, _ := os.ReadFile(broken); !bytes.Equal(b, orig) {
				t.Error("a failed rename changed the file")
			}
			if sum.Failed != 2 {
				t.Errorf("summary %+v", sum)
			}
			noTemp(t, files)
		})
	}
}

func TestRunLocked(t *testing.T) {
	files, _ := fleet(t, 3, 0)
	h, err := atomicfile.Open(files[0], atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sum, res := collect(t, files, migrate.Options{To: 2})
	if r := res[files[0]]; r.Status != migrate.StatusFailed || r.Reason != migrate.ReasonLocked {
		t.Errorf("locked file: %+v", r)
	}
	if sum.Failed != 1 || sum.Migrated != 1 {
		t.Errorf("summary %+v", sum)
	}
}

func TestRunStops(t *testing.T) {
	files, _ := fleet(t, 30, 1) // every file damaged
	sum, _ := collect(t, files, migrate.Options{To: 2, Jobs: 1, FailFast: true, Sync: migrate.SyncFile})
	if sum.Refused != 1 || sum.NotRun != 29 || !sum.Stopped || sum.Interrupted || sum.Failed != 0 {
		t.Errorf("fail-fast summary %+v", sum)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	files, _ = fleet(t, 10, 0)
	sum = migrate.Run(ctx, files, migrate.Options{To: 2})
	if !sum.Interrupted || sum.NotRun != 10 {
		t.Errorf("cancelled summary %+v", sum)
	}
}

func TestRunMissing(t *testing.T) {
	sum, res := collect(t, []string{filepath.Join(t.TempDir(), "nope.lockb")}, migrate.Options{To: 2})
	for _, r := range res {
		if r.Status != migrate.StatusFailed || r.Reason != migrate.ReasonIO || !errors.Is(r.Err, fs.ErrNotExist) {
			t.Errorf("missing file: %+v", r)
		}
	}
	if sum.Failed != 1 {
		t.Errorf("summary %+v", sum)
	}
}

// dirSyncFS fails the fsync of the directories in fail.
type dirSyncFS struct {
	atomicfile.OSFS
	fail map[string]bool
}

func (f *dirSyncFS) OpenDir(name string) (atomicfile.File, error) {
	d, err := f.OSFS.OpenDir(name)
	if err != nil || !f.fail[name] {
		return d, err
	}
	return failingSync{d}, nil
}

type failingSync struct{ atomicfile.File }

func (failingSync) Sync() error {
	return &os.PathError{Op: "fsync", Path: "(injected)", Err: errors.New("input/output error")}
}

// TestRunDirSyncFails fails the directory fsync after the rename for some
// files: in batch mode they are reported not-durable (the new content is
// at the path), exit 10; in per-file mode the original is put back and
// they fail. A rerun syncs the not-durable ones (synced, exit 0), and the
// run after that skips them.
func TestRunDirSyncFails(t *testing.T) {
	for _, mode := range []migrate.SyncMode{migrate.SyncBatch, migrate.SyncFile} {
		t.Run(string(mode), func(t *testing.T) {
			files, _ := fleet(t, 30, 0)
			fsys := &dirSyncFS{fail: map[string]bool{}}
			orig := map[string][]byte{}
			for i, f := range files {
				if i%3 != 2 && i%4 == 0 { // versions 0 and 1: migrated
					fsys.fail[filepath.Dir(f)] = true
				}
				orig[f], _ = os.ReadFile(f)
			}
			sum, res := collect(t, files, migrate.Options{To: 2, Jobs: 3, Sync: mode, BatchSize: 7, FS: fsys})
			bad := 0
			for _, f := range files {
				r := res[f]
				b, _ := os.ReadFile(f)
				v, _ := migrate.Sniff(b)
				switch {
				case !fsys.fail[filepath.Dir(f)]:
					if r.Status != migrate.StatusMigrated && r.Status != migrate.StatusSkipped || v != 2 {
						t.Errorf("%s: %s, v%d", f, r.Status, v)
					}
				case mode == migrate.SyncBatch:
					bad++
					if r.Status != migrate.StatusNotDurable || r.Reason != migrate.ReasonSync || v != 2 {
						t.Errorf("%s: %s (%s), v%d on disk: want not-durable with the new content", f, r.Status, r.Reason, v)
					}
				default:
					bad++
					if r.Status != migrate.StatusFailed || !bytes.Equal(b, orig[f]) {
						t.Errorf("%s: %s, want failed with the original in place", f, r.Status)
					}
				}
			}
			if mode == migrate.SyncBatch {
				if sum.NotDurable != bad || sum.Failed != 0 {
					t.Errorf("summary %+v: want %d not durable, none failed", sum, bad)
				}
			} else if sum.Failed != bad {
				t.Errorf("summary %+v: want %d failed", sum, bad)
			}

			// The rerun, without faults.
			sum, res = collect(t, files, migrate.Options{To: 2, Jobs: 3, Sync: mode, BatchSize: 7})
			for _, f := range files {
				want := migrate.StatusSkipped
				if fsys.fail[filepath.Dir(f)] {
					want = map[migrate.SyncMode]migrate.Status{migrate.SyncBatch: migrate.StatusSynced, migrate.SyncFile: migrate.StatusMigrated}[mode]
				}
				if res[f].Status != want {
					t.Errorf("rerun: %s: %s, want %s", f, res[f].Status, want)
				}
			}
			if sum.Failed+sum.Refused+sum.NotDurable != 0 {
				t.Errorf("rerun: summary %+v", sum)
			}
			noTemp(t, files)
			sum, _ = collect(t, files, migrate.Options{To: 2, Jobs: 3, Sync: mode})
			if sum.Skipped != len(files) {
				t.Errorf("the run after: %+v, want all skipped", sum)
			}
		})
	}
}

// TestRunLargeFile migrates a file large enough to be read as it is
// checked (atomicfile.StreamMin) from every version to every other, and
// back: each step's bytes hold the content; a dry run writes nothing; a
// file damaged near its end is refused and left as it was.
func TestRunLargeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	orig := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 40_000, Seed: 8})
	if len(orig) < atomicfile.StreamMin {
		t.Fatalf("the file is %d bytes, under StreamMin", len(orig))
	}
	want, err := schema.Decode(orig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, to := range []int{2, 0, 1, 2, 1} {
		sum, res := collect(t, []string{path}, migrate.Options{To: to})
		if sum.Migrated != 1 {
			t.Fatalf("to %d: %+v, %v", to, sum, res[path].Err)
		}
		b, _ := os.ReadFile(path)
		got, err := schema.Decode(b)
		if err != nil || got.Config.Version != to || !slices.Equal(got.Packages, want.Packages) {
			t.Fatalf("to %d: the file decodes to version %d, %v", to, got.Config.Version, err)
		}
	}
	before, _ := os.ReadFile(path)
	if sum, _ := collect(t, []string{path}, migrate.Options{To: 2, DryRun: true}); sum.Migrated != 1 {
		t.Fatalf("dry run: %+v", sum)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("the dry run changed the file")
	}
	bad := slices.Clone(before)
	bad[len(bad)-100] = 0xff
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, res := collect(t, []string{path}, migrate.Options{To: 2})
	if sum.Refused != 1 || res[path].Reason != migrate.ReasonInvalid || len(res[path].Problems) == 0 {
		t.Fatalf("damaged: %+v, %v", sum, res[path].Err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
		t.Fatal("the damaged file was changed")
	}
	noTemp(t, []string{path})
}

// A batch run reuses the originals it replaced as later files' temp files
// (atomicfile.Spares), except those another program still has open: each
// such reader keeps reading the bytes it opened.
func TestRunReusesOriginals(t *testing.T) {
	files, _ := fleet(t, 60, 0)
	origs := map[uint64]bool{}
	readers := map[string]*os.File{}
	old := map[string][]byte{}
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		origs[st.Sys().(*syscall.Stat_t).Ino] = true
		if i%5 == 0 {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			readers[f] = r
			old[f], _ = os.ReadFile(f)
		}
	}
	sum, _ := collect(t, files, migrate.Options{To: 2, Jobs: 3, Sync: migrate.SyncBatch, BatchSize: 7})
	if sum.Failed != 0 || sum.Refused != 0 || sum.NotRun != 0 {
		t.Fatalf("summary %+v", sum)
	}
	reused := 0
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		ino := st.Sys().(*syscall.Stat_t).Ino
		if origs[ino] {
			reused++
		}
		if r := readers[f]; r != nil {
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, old[f]) {
				t.Errorf("%s: the program reading the original reads %d other bytes (%v)", f, len(got), err)
			}
		}
		b, _ := os.ReadFile(f)
		if errs := schema.Check(b); errs != nil {
			t.Errorf("%s: invalid after migration: %v", f, errs)
		}
	}
	t.Logf("%d of %d new files are reused originals", reused, len(files))
	// Batches of 7 in 60 files: each batch but the first two can take
	// the originals of the batch two before it, less those held open.
	if reused < 20 {
		t.Errorf("%d of %d new files are reused originals, want most", reused, len(files))
	}
	noTemp(t, files)
}

// The last pass, which waits for files locked by others, keeps spares
// too; they are removed when the run ends, so no temp file is left.
func TestRunLockedThenFreed(t *testing.T) {
	files, _ := fleet(t, 9, 0)
	// Version 0 or 1 (fleet turns through 0, 1, 2): migrated, so it
	// leaves an original behind.
	locked := files[1]
	h, err := atomicfile.Open(locked, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	var res map[string]*migrate.Result
	var sum migrate.Summary
	go func() {
		defer close(released)
		sum, res = collect(t, files, migrate.Options{To: 2, Jobs: 2, Sync: migrate.SyncFile, Wait: time.Minute})
	}()
	// Let the lock go once every other file is done.
	for deadline := time.Now().Add(time.Minute); ; {
		done := 0
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if l, err := schema.Decode(b); err == nil && l.Config.Version == 2 {
				done++
			}
		}
		if done == len(files)-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unlocked files were not migrated")
		}
		time.Sleep(time.Millisecond)
	}
	h.Close()
	<-released
	if sum.Migrated+sum.Skipped != len(files) || res[locked].Status != migrate.StatusMigrated {
		t.Fatalf("summary %+v; the locked file: %+v", sum, res[locked])
	}
	noTemp(t, files)
}
