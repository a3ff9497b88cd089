package migrate

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// TestFSSyncSlowGuard: a filesystem sync over 100 ms and four times the
// fastest so far makes the next rounds fsync each file, and only that
// many; a slower sync within the bounds does not.
func TestFSSyncSlowGuard(t *testing.T) {
	defer func(f string) { forceSync = f }(forceSync)
	forceSync = "" // LOCKFIX_BATCH_SYNC would decide every round
	r := &runner{}
	r.fsSyncTook(20 * time.Millisecond)
	r.fsSyncTook(90 * time.Millisecond) // over 4x the fastest, under 100 ms
	if r.fsSkip != 0 {
		t.Fatalf("a 90 ms sync (fastest 20 ms) put off %d rounds, want 0", r.fsSkip)
	}
	r.fsSyncTook(150 * time.Millisecond)
	if r.fsSkip != slowRounds {
		t.Fatalf("a 150 ms sync (fastest 20 ms) put off %d rounds, want %d", r.fsSkip, slowRounds)
	}
	for i := range slowRounds {
		if r.fsSyncNow(0) {
			t.Fatalf("round %d after a slow sync syncs the filesystem", i+1)
		}
	}
	if r.fsSkip != 0 {
		t.Fatalf("%d rounds still put off after %d", r.fsSkip, slowRounds)
	}
	r = &runner{}
	r.fsSyncTook(400 * time.Millisecond)
	r.fsSyncTook(500 * time.Millisecond) // slow, but not against the fastest
	if r.fsSkip != 0 {
		t.Fatalf("a 500 ms sync (fastest 400 ms) put off %d rounds, want 0", r.fsSkip)
	}
}

// TestForeignDirty: /proc/meminfo is read; with a round's own bytes above
// anything pending, no other program's data is waiting, and with none of
// its own, any amount beyond the slack is another program's.
func TestForeignDirty(t *testing.T) {
	if foreignDirty(1 << 50) {
		t.Fatal("foreignDirty says other programs have more than 1 PiB waiting (or /proc/meminfo could not be read)")
	}
	if !foreignDirty(-(1 << 50)) {
		t.Fatal("foreignDirty with our own bytes far below zero says nothing is waiting")
	}
}

// TestLimitsThreads: under a limit of processes (ulimit -u 40: a quarter,
// 10 threads, for fsyncs), a per-file run's workers, which block up to
// two threads each in their fsyncs, are cut to 5, whatever --jobs asks;
// a batch run's syncers too, its workers not (they do not fsync). It
// runs alone (no t.Parallel), as the limit is the process's: only root
// may lower it without the runtime risking a thread it cannot start.
func TestLimitsThreads(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("lowering RLIMIT_NPROC is safe for the test process only as root")
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 40
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &low); err != nil {
		t.Skip("cannot lower RLIMIT_NPROC:", err)
	}
	defer func() {
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &old); err != nil {
			t.Fatal(err)
		}
	}()
	o, _ := limits(Options{Sync: SyncFile, Jobs: 100}, 1000)
	if o.Jobs != 5 {
		t.Errorf("per-file run under ulimit -u 40 with --jobs 100: %d workers, want 5", o.Jobs)
	}
	o, syncers := limits(Options{Sync: SyncBatch, Jobs: 16, BatchSize: DefaultBatchSize}, 1000)
	if o.Sync != SyncBatch || syncers != 5 || o.Jobs != 16 {
		t.Errorf("batch run under ulimit -u 40: sync %s, %d syncers, %d workers; want batch, 5, 16", o.Sync, syncers, o.Jobs)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		t.Fatal(err)
	}
	if o, _ := limits(Options{Sync: SyncFile, Jobs: 100}, 1000); old.Cur == unix.RLIM_INFINITY && o.Jobs != 100 {
		t.Errorf("per-file run without a limit of processes, --jobs 100: %d workers", o.Jobs)
	}
}

// TestInodeOrder: the files come back in the order of their inode
// numbers, whatever order they were given in, and one that cannot be
// examined comes last.
func TestInodeOrder(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 40 {
		f := filepath.Join(dir, fmt.Sprintf("f%02d", i))
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	ino := func(f string) uint64 {
		var st unix.Stat_t
		if err := unix.Lstat(f, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	// Given in the reverse of inode order, with a missing file first.
	slices.SortFunc(files, func(a, b string) int { return cmp.Compare(ino(b), ino(a)) })
	missing := filepath.Join(dir, "missing")
	given := append([]string{missing}, files...)
	r := &runner{o: Options{}}
	got := <-r.inodeOrder(slices.Clone(given))
	if len(got) != len(given) || got[len(got)-1] != missing {
		t.Fatalf("inodeOrder gave %d files ending with %q, want %d ending with %q", len(got), got[len(got)-1], len(given), missing)
	}
	for i := 1; i < len(got)-1; i++ {
		if ino(got[i-1]) >= ino(got[i]) {
			t.Fatalf("%s (inode %d) comes before %s (inode %d)", got[i-1], ino(got[i-1]), got[i], ino(got[i]))
		}
	}
	// Under an injected filesystem layer the order is kept.
	r.o.FS = atomicfile.OSFS{}
	if got := <-r.inodeOrder(slices.Clone(given)); !slices.Equal(got, given) {
		t.Fatalf("with Options.FS set, inodeOrder reordered the files")
	}
}
