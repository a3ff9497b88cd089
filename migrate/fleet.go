package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// SyncMode says how Run makes the new files durable.
type SyncMode string

const (
	// SyncAuto is SyncBatch for runs of more than BatchThreshold files and
	// SyncFile otherwise.
	SyncAuto SyncMode = "auto"
	// SyncFile replaces each file on its own: temp file, fsync, rename,
	// directory fsync. Each file is durable when its result is reported.
	SyncFile SyncMode = "file"
	// SyncBatch writes the temp files of a batch, syncs them, renames each
	// over its lockfile (each checked unchanged just before and after its
	// rename) and syncs the renames together with the next batch's temp
	// files. A round syncs the whole filesystem (syncfs) while other
	// programs have little data waiting to be written, and otherwise
	// fsyncs lockfix's own files and directories only, all at once, so
	// that it does not wait for other programs' writes. Every file is old
	// or new after a crash at any moment; results are reported when their
	// batch is durable.
	SyncBatch SyncMode = "batch"
)

// BatchThreshold is the number of files above which SyncAuto batches.
// Below it there are too few fsyncs to share the device's flushes.
const BatchThreshold = 64

// DefaultBatchSize is how many files a batch holds open and locked at
// once (two descriptors each: the lock and the temp file). Run takes less
// when the descriptors left under the limit of open files (RLIMIT_NOFILE)
// are too few (see limits).
const DefaultBatchSize = 256

// Descriptors: what one worker holds at most (the lock, the temp file,
// the directory being synced or read for stale temp files, a stale temp
// file being checked), what a batched file holds (its lock and its temp
// file; two batches are open at once, and the spares kept for later
// batches are at most sparesPerBatched batches), and what is kept back for
// the rest of the process (the report, the runtime's poller, the standard
// streams).
const (
	fdsPerWorker  = 5
	fdsPerBatched = 2
	// sparesPerBatched is how many spares a batch run keeps per file of
	// a batch. A batch's workers start while the commit before is in its
	// sync, and the originals that commit frees become spares only after
	// it: with one batch's worth kept, the pool was empty then, and
	// 3,114 of 20,000 files got new temp files (each later removed, both
	// slow here); with two, 768, the first batches'.
	sparesPerBatched = 2
	fdsReserve       = 16
	// minBatch is the smallest batch worth its sync round; with fewer
	// descriptors than that takes, Run syncs each file on its own.
	minBatch = 4
	// maxSyncers bounds the fsyncs a batch has in flight at once: a
	// whole batch's temp files. Each blocks a thread of its own; fsyncs
	// in flight together share the device's cache flushes (and, on a
	// journaling filesystem, its journal commits), so the more at once,
	// the fewer flushes per file.
	maxSyncers = DefaultBatchSize
	// threadsPerSyncer is the threads one of them may block: the temp
	// file's fsync, and for a reused spare the fsync of the directory it
	// left, which Pending.Sync runs beside it.
	threadsPerSyncer = 2
)

// fdsLeft returns how many more descriptors the process may open, beyond
// the reserve: the limit of open files less those open now.
func fdsLeft() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return 1 << 20
	}
	open := 8 // a guess where /proc is missing
	if names, err := readDirNames("/proc/self/fd"); err == nil {
		open = len(names)
	}
	return max(0, int(lim.Cur)-open-fdsReserve)
}

// limits fits the workers, the batch size and the syncers in flight to
// the descriptors left, and falls back to per-file sync when a batch
// would be too small. It returns the options to run with.
//
// In a batch run the workers take at most half of what the syncers
// leave: a batch shares its syncs among its files, while workers past
// the first few add little, so under a low limit the batch comes first.
func limits(o Options, files int) (Options, int) {
	left := fdsLeft()
	jobs := max(1, min(o.Jobs, left/fdsPerWorker))
	// A worker that syncs its own file blocks up to threadsPerSyncer
	// threads in its fsyncs.
	perFile := max(1, min(jobs, threadsLeft(jobs*threadsPerSyncer)/threadsPerSyncer))
	o.Jobs = perFile
	if o.Sync != SyncBatch {
		return o, 0
	}
	syncers := max(1, min(maxSyncers, left/8, threadsLeft(maxSyncers*threadsPerSyncer)/threadsPerSyncer))
	o.Jobs = max(1, min(jobs, (left-syncers)/2/fdsPerWorker))
	fit := (left - o.Jobs*fdsPerWorker - syncers) / (2*fdsPerBatched + sparesPerBatched)
	o.BatchSize = min(o.BatchSize, fit)
	if o.BatchSize < minBatch && files > o.BatchSize {
		o.Sync, o.Jobs = SyncFile, perFile
		return o, 0
	}
	return o, syncers
}

// threadsLeft returns how many threads, of the want asked for, the fsyncs
// in flight may block: each fsync holds a thread of its own, and the Go
// runtime cannot fail to start one (it aborts the process). A thread
// reserves a stack in the address space (RLIMIT_STACK, as the C library
// does; 8 MiB where it is unlimited) and counts towards the user's
// processes (RLIMIT_NPROC): under a limit, a quarter of what is left of
// each. Without limits, want.
func threadsLeft(want int) int {
	n := want
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_AS, &rl) == nil && rl.Cur != unix.RLIM_INFINITY {
		stack := int64(8 << 20)
		var st unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_STACK, &st) == nil && st.Cur != unix.RLIM_INFINITY && st.Cur > 0 && st.Cur < 1<<30 {
			stack = int64(st.Cur)
		}
		if used, ok := procStatus("VmSize:"); ok && rl.Cur < 1<<62 {
			n = min(n, int(max(0, int64(rl.Cur)-used)/4/stack))
		}
	}
	if unix.Getrlimit(unix.RLIMIT_NPROC, &rl) == nil && rl.Cur != unix.RLIM_INFINITY && rl.Cur < 1<<30 {
		n = min(n, int(rl.Cur/4))
	}
	return n
}

// readDirNames returns the names in dir.
func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// ParseSync parses "auto", "file" or "batch".
func ParseSync(s string) (SyncMode, error) {
	switch m := SyncMode(strings.ToLower(strings.TrimSpace(s))); m {
	case SyncAuto, SyncFile, SyncBatch:
		return m, nil
	case "":
		return SyncAuto, nil
	}
	return "", fmt.Errorf("--sync %q: want file, batch or auto", s)
}

// DefaultJobs is the number of workers when Options.Jobs is 0: eight per
// processor, at least 8 and at most 16. Migrating a file takes tens of
// microseconds of processor time and as long again of waiting for the
// filesystem: fsync, the directory fsync, and also the creation or move
// of a temp file, which may read an inode table block from the disk. More
// workers than processors keep the processors busy while some wait, keep
// the disk's queue full and let the journal commit many fsyncs together.
// On two processors, 16 workers took 0.89x the time of 8 in batch mode
// and as long with --sync=file (docs/migrate.md); past that the gain
// stops while memory and open files grow.
func DefaultJobs() int {
	return min(16, max(8, 8*runtime.GOMAXPROCS(0)))
}

// Status is the outcome of one file.
type Status string

// The outcomes of a file. Refused files count for exit code 4, failed ones
// for 8.
const (
	StatusMigrated     Status = "migrated"
	StatusWouldMigrate Status = "would-migrate" // --dry-run
	StatusSkipped      Status = "skipped"       // already at the target
	StatusRefused      Status = "refused"       // its content forbids the migration
	StatusFailed       Status = "failed"        // an operational error
	// StatusNotDurable: the new content is at the path, but the sync
	// after the rename failed, so it may not survive a crash. The next
	// run syncs it (StatusSynced).
	StatusNotDurable Status = "not-durable"
	// StatusSynced: already at the target, but a previous run's sync
	// after its rename had failed or the run was killed (it left a temp
	// file): this run made the file durable.
	StatusSynced Status = "synced"
)

// Reason says why a file was refused or failed.
type Reason string

// The reasons.
const (
	ReasonInvalid Reason = "invalid" // the file fails docs/format.md section 6
	ReasonLossy   Reason = "lossy"   // a step would drop data (--allow-lossy)
	ReasonNoStep  Reason = "no-step" // no registered chain leads to the target
	ReasonVerify  Reason = "verify"  // the new bytes failed verification
	ReasonIO      Reason = "io"      // reading, writing or syncing failed
	ReasonLocked  Reason = "locked"  // another lockfix holds the file
	ReasonChanged Reason = "changed" // another program changed the file meanwhile
	ReasonSync    Reason = "sync"    // the sync after the rename failed (not-durable)
	ReasonLinked  Reason = "linked"  // more than one hard link, and no --break-links
	ReasonMemory  Reason = "memory"  // the file would not fit in the memory left

	reasonNone Reason = ""
)

// Result is the outcome of one file.
type Result struct {
	Path string
	// From is the file's config version, -1 when it could not be read.
	From int
	To   int
	// Status and Reason are the outcome; Err the error of a refused or
	// failed file, Problems every format problem of an invalid one.
	Status   Status
	Reason   Reason
	Err      error
	Problems []error
	// Dropped lists what --allow-lossy dropped.
	Dropped []string
	// Duration is the time spent on the file (a batch's fsyncs, in
	// flight together, are not included).
	Duration time.Duration
	// Before and After are the content before and after, with
	// Options.KeepContent and for migrated files only.
	Before, After *schema.Lockfile
}

// Message returns the error's message without the leading path that some
// errors carry, or "".
func (r *Result) Message() string {
	if r.Err == nil {
		return ""
	}
	msg := r.Err.Error()
	for _, p := range []string{r.Path + ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// Options tune Run.
type Options struct {
	// To is the target config version.
	To int
	// AllowLossy lets a downgrade drop what the target cannot hold.
	AllowLossy bool
	// Writer names the program migrating, for versions that record their
	// writer ("lockfix 0.1.0").
	Writer string
	// DryRun runs the whole pipeline and stops short of writing.
	DryRun bool
	// FailFast stops at the first refused or failed file.
	FailFast bool
	// Jobs is the number of workers; 0 is DefaultJobs.
	Jobs int
	// Sync is how files are made durable; "" is SyncAuto.
	Sync SyncMode
	// BatchSize bounds the files a batch holds open; 0 is
	// DefaultBatchSize.
	BatchSize int
	// Wait is how long to wait for a lock held by another process.
	Wait time.Duration
	// Links lets a file with more than one hard link be replaced (which
	// breaks the link); without it such a file fails (ReasonLinked).
	Links bool
	// NoReuse removes each replaced original, as a single write does,
	// instead of reusing it as a later file's temp file
	// (atomicfile.Spares).
	NoReuse bool
	// FS is the write path's filesystem layer (nil: the operating
	// system); tests inject failures with it.
	FS atomicfile.FS
	// KeepContent keeps Before and After in the results (for diffs).
	KeepContent bool
	// OnResult is called with each file's result, one call at a time, in
	// the order the files finish, on a goroutine of Run's own (the
	// workers do not wait for it); Run returns after the last call.
	OnResult func(*Result)
}

// Summary counts the outcomes of a run.
type Summary struct {
	Files, Migrated, Skipped, Refused, Failed int
	// NotDurable counts the files migrated whose sync after the rename
	// failed; Synced those a previous run left so, made durable now.
	NotDurable, Synced int
	// NotRun is the number of files not processed because the run
	// stopped (FailFast or a cancelled context).
	NotRun int
	// Stopped is set when the run stopped early; Interrupted when the
	// context was cancelled.
	Stopped, Interrupted bool
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Sync and Jobs are the mode and workers used, BatchSize the files
	// per batch (SyncBatch).
	Sync      SyncMode
	Jobs      int
	BatchSize int
	// Reasons counts refused and failed files by reason.
	Reasons map[Reason]int
}

// FilesPerSecond is the rate of files processed, all outcomes.
func (s Summary) FilesPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Files-s.NotRun) / s.Elapsed.Seconds()
}

// runner is one Run.
type runner struct {
	o     Options
	step  schema.StepOptions
	ctx   context.Context
	stop  atomic.Bool
	final bool // the last pass: wait for locks, defer nothing
	// syncers is how many fsyncs a batch has in flight at once.
	syncers int
	// noFSSync: a filesystem sync failed, the rest of the run fsyncs
	// each file.
	noFSSync atomic.Bool
	// fsBest is the fastest filesystem sync of a round so far, fsSkip
	// the rounds left that fsync each file after a slow one (commit's,
	// one round at a time).
	fsBest time.Duration
	fsSkip int
	// mem admits files by the memory they need, when memory is limited
	// (memLimited); nil otherwise.
	mem *memGate
	// spares keeps the replaced originals for later files' temp files
	// (atomicfile.Spares); nil with NoReuse, in a dry run and in a
	// per-file run of one file.
	spares *atomicfile.Spares

	// held is set while a batch's commit settles and renames after its
	// sync: the workers take no new file until it is closed (see commit).
	held atomic.Pointer[chan struct{}]

	// results carries each finished file's result to the reporter, the
	// one goroutine that counts it in sum and done and calls OnResult:
	// a worker hands its result over and takes its next file, instead of
	// waiting its turn to write a line (with 64 workers, 21 were seen
	// waiting for the lock the lines were written under).
	results  chan *Result
	reported sync.WaitGroup

	mu       sync.Mutex // guards deferred
	sum      Summary
	done     int
	deferred []string
}

// resultsQueued is how many results may wait for the reporter before a
// worker that finishes a file waits for it: a batch's worth, and more.
const resultsQueued = 4 * DefaultBatchSize

// startReporter starts the reporter (see runner.results).
func (r *runner) startReporter() {
	r.results = make(chan *Result, resultsQueued)
	r.reported.Go(func() {
		for res := range r.results {
			r.count(res)
		}
	})
}

// stopReporter waits until every result handed over is counted and
// reported.
func (r *runner) stopReporter() {
	close(r.results)
	r.reported.Wait()
}

// Run migrates files (paths of lockfiles; directories are the caller's to
// expand) to o.To with o.Jobs workers and reports each file's result to
// o.OnResult. It never stops for one bad file unless o.FailFast; a
// cancelled ctx stops it between files. Two paths to the same file (a
// symbolic link and its target) are processed one after the other.
func Run(ctx context.Context, files []string, o Options) Summary {
	start := time.Now()
	if o.Jobs <= 0 {
		o.Jobs = DefaultJobs()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Sync == "" || o.Sync == SyncAuto {
		o.Sync = SyncFile
		if len(files) > BatchThreshold {
			o.Sync = SyncBatch
		}
	}
	o, syncers := limits(o, len(files))
	r := &runner{o: o, step: schema.StepOptions{AllowLossy: o.AllowLossy, Writer: o.Writer}, ctx: ctx, syncers: syncers}
	// The spares no file took, of every pass (the last, which waits for
	// locks, keeps them too), are removed as the run ends.
	defer func() { r.spares.Close() }()
	if memLimited() {
		r.mem = &memGate{}
	}
	r.sum = Summary{Files: len(files), Sync: o.Sync, Jobs: max(1, min(o.Jobs, len(files))), Reasons: map[Reason]int{}}
	r.startReporter()
	if o.Sync == SyncBatch {
		r.sum.BatchSize = o.BatchSize
	}
	// A file whose lock is taken is put off to the next pass: it is either
	// another path to a file this run is migrating (a symbolic link), or
	// held by another process. When a pass makes no progress, the files
	// left are held by others: the last pass waits for them, one at a
	// time, as long as o.Wait.
	for pass := files; len(pass) > 0 && !r.stopped(); {
		r.pass(pass)
		r.mu.Lock()
		next := r.deferred
		r.deferred = nil
		r.mu.Unlock()
		if len(next) > 0 && len(next) == len(pass) {
			r.final = true
			r.o.Jobs = 1
			r.each(next, r.finishOne)
			break
		}
		pass = next
	}
	r.stopReporter()
	r.sum.NotRun = len(files) - r.done
	r.sum.Stopped = r.sum.NotRun > 0
	r.sum.Interrupted = r.sum.Stopped && ctx != nil && ctx.Err() != nil
	r.sum.Elapsed = time.Since(start)
	return r.sum
}

// pass runs the pipeline over files once.
func (r *runner) pass(files []string) {
	if r.o.Sync == SyncBatch && !r.o.DryRun {
		r.batches(files)
		return
	}
	if !r.o.DryRun && !r.o.NoReuse && r.spares == nil && len(files) > 1 {
		// Each worker's replaced original becomes a later file's temp
		// file; the workers' commits keep them as they go, within the
		// descriptors the workers leave.
		if n := min(r.o.Jobs*sparesPerWorker, fdsLeft()-r.o.Jobs*fdsPerWorker); n > 0 {
			r.spares = atomicfile.NewSpares(n)
		}
	}
	r.each(files, r.finishOne)
}

// sparesPerWorker bounds the spares a per-file run keeps (a descriptor
// each) to a few per worker, where the descriptors allow: each worker's
// commit gives one back for its next file.
const sparesPerWorker = 4

func (r *runner) stopped() bool {
	if r.stop.Load() {
		return true
	}
	if r.ctx != nil && r.ctx.Err() != nil {
		r.stop.Store(true)
		return true
	}
	return false
}

// report hands a finished file's result to the reporter, which counts it
// and passes it to OnResult; with FailFast a failure stops the run here.
func (r *runner) report(res *Result) {
	if r.o.FailFast && (res.Status == StatusRefused || res.Status == StatusFailed || res.Status == StatusNotDurable) {
		r.stop.Store(true) // at once, not when the reporter gets to it
	}
	r.results <- res
}

// count counts a result in the summary and reports it (OnResult); only
// the reporter calls it.
func (r *runner) count(res *Result) {
	r.done++
	switch res.Status {
	case StatusMigrated, StatusWouldMigrate:
		r.sum.Migrated++
	case StatusSkipped:
		r.sum.Skipped++
	case StatusRefused:
		r.sum.Refused++
		r.sum.Reasons[res.Reason]++
	case StatusFailed:
		r.sum.Failed++
		r.sum.Reasons[res.Reason]++
	case StatusNotDurable:
		r.sum.NotDurable++
		r.sum.Reasons[res.Reason]++
	case StatusSynced:
		r.sum.Synced++
	}
	if r.o.OnResult != nil {
		r.o.OnResult(res)
	}
}

// job is a file on its way through the pipeline.
type job struct {
	res     *Result
	h       *atomicfile.Handle
	conv    *Conversion
	verify  func([]byte) error
	pending *atomicfile.Pending
	work    time.Duration
	mem     int64 // what the memory gate admitted
}

// each runs begin on every file with the workers, then fn on each job that
// has something to write, in the same worker. A worker takes its next
// file before fn, and gives fn its path ("" at the end): a per-file
// replace moves its original next to it (atomicfile.Handle.Next).
func (r *runner) each(files []string, fn func(j *job, next string)) {
	var claimed atomic.Int64
	claim := func() int { return int(claimed.Add(1)) - 1 }
	var wg sync.WaitGroup
	for range min(r.o.Jobs, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := claim(); i < len(files) && !r.stopped(); {
				if h := r.held.Load(); h != nil {
					<-*h
				}
				j := r.begin(files[i])
				n := claim()
				if j != nil {
					next := ""
					if n < len(files) {
						next = files[n]
					}
					fn(j, next)
				}
				i = n
			}
		}()
	}
	wg.Wait()
}

// begin opens, converts and verifies one file. It reports the files that
// end here (skipped, refused, failed, dry run) and returns the jobs that
// have new bytes to write.
func (r *runner) begin(path string) *job {
	start := time.Now()
	res := &Result{Path: path, From: -1, To: r.o.To}
	j := &job{res: res}
	end := func(st Status, reason Reason, err error) *job {
		res.Status, res.Reason, res.Err = st, reason, err
		j.work += time.Since(start)
		r.finish(j)
		return nil
	}
	wait := time.Duration(0)
	if r.final {
		wait = r.o.Wait
	}
	if r.mem != nil {
		// Measured before the read: a file that cannot fit is refused
		// here, and the run goes on.
		if st, err := os.Stat(path); err == nil {
			need, err := r.mem.admit(path, st.Size())
			if err != nil {
				return end(StatusFailed, ReasonMemory, err)
			}
			j.mem = need
		}
	}
	h, st, err := atomicfile.OpenArriving(path, atomicfile.Options{Wait: wait, FS: r.o.FS, ReadOnly: r.o.DryRun, Links: r.o.Links, Spares: r.spares})
	if errors.Is(err, atomicfile.ErrLocked) && !r.final {
		r.mu.Lock()
		r.deferred = append(r.deferred, path)
		r.mu.Unlock()
		return nil
	}
	if err != nil {
		st, reason := Classify(err)
		return end(st, reason, err)
	}
	j.h = h
	// The strict decode runs while the file is read: the read of a large
	// file and its check overlap.
	buf := st.Bytes()
	span := trace.Start("migrate.convert")
	conv, err := convertArriving(buf, st.Ready, r.o.To, r.step, !r.inPieces(len(buf)))
	data, rerr := h.Arrived()
	if rerr == nil && len(data) != len(buf) {
		// The file changed size while it was read: convert what was read
		// (the replace will find the change and refuse).
		conv, err = Convert(data, r.o.To, r.step)
	}
	res.From, _ = Sniff(data)
	if trace.Enabled() {
		span.End(fmt.Sprintf("%s v%d->v%d", path, res.From, r.o.To))
	}
	if rerr != nil {
		st, reason := Classify(rerr)
		return end(st, reason, rerr)
	}
	if err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) {
			res.Problems = inv.Problems
		}
		st, reason := Classify(err)
		return end(st, reason, err)
	}
	j.conv = conv
	if conv.From == conv.To {
		if h.Stale() > 0 && !r.o.DryRun {
			// A previous run left a temp file: killed, or its sync after
			// the rename failed. The content is at the target; make it
			// durable.
			if err := h.Sync(); err != nil {
				return end(StatusNotDurable, ReasonSync, err)
			}
			return end(StatusSynced, reasonNone, nil)
		}
		return end(StatusSkipped, reasonNone, nil)
	}
	res.Dropped = conv.Dropped
	if r.o.KeepContent {
		res.Before, res.After = conv.Before, conv.After
	}
	j.verify = Verify(Content(conv.After))
	if r.o.DryRun {
		span := trace.Start("migrate.verify")
		err := j.verify(conv.Data)
		span.End(path)
		if err != nil {
			err = fmt.Errorf("%w: %w", atomicfile.ErrVerify, err)
			st, reason := Classify(err)
			return end(st, reason, err)
		}
		return end(StatusWouldMigrate, reasonNone, nil)
	}
	j.work += time.Since(start)
	return j
}

// finishOne replaces one file with its own fsyncs; next is the file its
// worker takes after it.
func (r *runner) finishOne(j *job, next string) {
	start := time.Now()
	j.h.Next(next)
	verify := j.verify
	var err error
	if j.conv.Data != nil && min(r.o.Jobs, r.sum.Jobs) >= runtime.GOMAXPROCS(0) {
		// Replace would check the new bytes in a goroutine of its own
		// while it writes and fsyncs them; with a worker per processor or
		// more at work, the workers keep the processors busy and that
		// goroutine only adds scheduling, so the check runs here, first.
		// (Fewer files than processors, a single large one above all,
		// leave a processor free for the check while the bytes go to
		// the disk.)
		span := trace.Start("migrate.verify")
		if err = verify(j.conv.Data); err != nil {
			err = fmt.Errorf("%s: %w: %w", j.res.Path, atomicfile.ErrVerify, err)
		}
		span.End(j.res.Path)
		verify = nil
	}
	span := trace.Start("file.replace")
	switch {
	case err == nil && j.conv.Data == nil:
		// A large file (inPieces): encoded, checked and written in pieces.
		err = j.conv.ReplaceInPieces(j.h, Content(j.conv.After))
	case err == nil:
		err = j.h.Replace(j.conv.Data, verify)
	}
	span.End(j.res.Path)
	j.work += time.Since(start)
	if err != nil {
		j.res.Status, j.res.Reason = Classify(err)
		j.res.Err = err
	} else {
		j.res.Status = StatusMigrated
	}
	r.finish(j)
}

// finish releases a job's file and reports its result.
func (r *runner) finish(j *job) {
	if j.h != nil {
		j.h.Close()
	}
	r.releaseMem(j)
	if j.res.Status != StatusMigrated && j.res.Status != StatusWouldMigrate && j.res.Status != StatusNotDurable {
		j.res.Before, j.res.After = nil, nil
		j.res.Dropped = nil
	}
	j.res.Duration = j.work
	r.report(j.res)
}

// releaseMem gives back what the memory gate admitted for j.
func (r *runner) releaseMem(j *job) {
	if r.mem != nil {
		r.mem.release(j.mem)
		j.mem = 0
	}
}

// batches migrates files in batches of at most o.BatchSize: temp files
// without fsync, then a round that syncs them (see commit), the renames,
// and the next round, which syncs those renames together with the next
// batch's temp files. Every file is still old or new after a crash at
// any moment: a file is renamed only after a sync that covered its temp
// file, and reported migrated only after a sync that covered its rename.
// The syncs and renames run while the workers prepare the next batch, so
// at most two batches are open at once.
func (r *runner) batches(files []string) {
	if r.spares == nil && !r.o.NoReuse {
		r.spares = atomicfile.NewSpares(sparesPerBatched * r.o.BatchSize)
	}
	var committing sync.WaitGroup
	var renamed []*job // set by the commit in flight, read after it ends
	head := min(len(files), walkOrderBatches*r.o.BatchSize)
	sorted := r.inodeOrder(files[head:])
	// Each round's filesystem sync is opened before the round's temp
	// files are created and before the previous batch's renames, which
	// it makes durable: it then reports every write error since.
	next := r.openFSSync(files)
	for lo := 0; lo < len(files) && !r.stopped(); lo += r.o.BatchSize {
		if lo == head {
			files = append(files[:head:head], <-sorted...)
		}
		chunk := files[lo:min(lo+r.o.BatchSize, len(files))]
		fss := next
		var mu sync.Mutex
		var ready []*job
		r.each(chunk, func(j *job, _ string) {
			start := time.Now()
			p, err := j.h.Prepare(j.conv.Data, j.verify, false)
			j.work += time.Since(start)
			if err != nil {
				j.res.Status, j.res.Reason = Classify(err)
				j.res.Err = err
				r.finish(j)
				return
			}
			j.pending = p
			// Past its peak: what the file still holds (its bytes, old
			// and new) is in use, and memoryLeft sees it. Kept admitted
			// until the file is reported, a batch's files would make the
			// workers preparing the next batch wait for memory that only
			// that batch's commit gives back, after those workers end.
			r.releaseMem(j)
			mu.Lock()
			ready = append(ready, j)
			mu.Unlock()
		})
		committing.Wait()
		prev := renamed
		rest := files[min(lo+r.o.BatchSize, len(files)):]
		if len(rest) == 0 || r.stopped() {
			rest = chunk // only this batch's renames are left to sync
		}
		next = r.openFSSync(rest)
		committing.Add(1)
		syncing := make(chan struct{})
		go func() {
			defer committing.Done()
			renamed = r.commit(prev, ready, fss, syncing)
		}()
		// The next batch's workers start once this commit is in its
		// sync: started together, the 16 workers on two processors kept
		// it from its first system call for 12 to 42 ms.
		<-syncing
	}
	committing.Wait()
	// The last renames' sync. It runs even when the run is stopping:
	// those files are renamed and their results not yet reported.
	r.commit(renamed, nil, next, nil)
}

// walkOrderBatches is how many batches a run takes in the order it was
// given before it turns to the order of the files' inode numbers (see
// inodeOrder). The first batches have no spares yet, or too few: their
// temp files are new inodes, which the filesystem puts in their
// directories' block groups. In the walk's order those lie in many
// groups; in inode order they would all go to one, where each creation
// also steps over the inodes freed there in the last minute.
const walkOrderBatches = 3

// inodeOrder sends, once, files in the order of their inode numbers (a
// file that cannot be examined goes last, to fail when it is opened).
// A batch's files then lie in a few of the filesystem's inode table
// blocks, and so do the spares they free for the batches after: each
// round's sync writes each of those blocks once, instead of nearly every
// inode table block of a fleet whose files were written in another order
// than the walk's, at every round. Under an injected filesystem layer
// the order is kept.
func (r *runner) inodeOrder(files []string) <-chan []string {
	out := make(chan []string, 1)
	if r.o.FS != nil || len(files) < 2 {
		out <- files
		return out
	}
	go func() {
		type file struct {
			ino  uint64
			path string
		}
		byIno := make([]file, len(files))
		for i, f := range files {
			var st unix.Stat_t
			byIno[i] = file{^uint64(0), f}
			if unix.Lstat(f, &st) == nil {
				byIno[i].ino = st.Ino
			}
		}
		slices.SortStableFunc(byIno, func(a, b file) int { return cmp.Compare(a.ino, b.ino) })
		sorted := make([]string, len(files))
		for i, f := range byIno {
			sorted[i] = f.path
		}
		out <- sorted
	}()
	return out
}

// openFSSync opens, for a round of syncfs, the filesystem of the first
// of files (nil when rounds fsync each file: under an injected
// filesystem layer, after a failed filesystem sync, on a filesystem whose
// syncfs is not known to cover everything, or when it cannot be opened).
func (r *runner) openFSSync(files []string) *atomicfile.FSSync {
	if len(files) == 0 || r.o.FS != nil || forceSync == "fsync" || r.noFSSync.Load() {
		return nil
	}
	s, err := atomicfile.OpenFSSync(filepath.Dir(files[0]))
	if err != nil {
		return nil
	}
	return s
}

// commit makes durable, in one round, the renames of the previous batch
// (renamed) and the temp files of this one (ready), reports the previous
// batch's files, then renames this batch's files over their lockfiles,
// each with its unchanged-underneath checks, and returns those renamed:
// their results wait for the next round's sync.
//
// A round syncs the whole filesystem (syncfs, through fss, opened before
// any of the round's files were written) when all its files are on it and
// other programs have little data waiting to be written, which that sync
// would wait for; otherwise it fsyncs each temp file and each directory
// through its own descriptor, all at once.
//
// Each batch waits for the commit before it, so the commit is the run's
// critical path: syncing (when not nil) is closed when the sync begins,
// and from the sync's end to the last rename the workers take no new
// file (r.held), so that they do not take the processors from it. They
// finish the files they hold; the commit never waits for them.
func (r *runner) commit(renamed, ready []*job, fss *atomicfile.FSSync, syncing chan struct{}) []*job {
	defer fss.Close()
	var began sync.Once
	begin := func() {
		if syncing != nil {
			began.Do(func() { close(syncing) })
		}
	}
	defer begin()
	if len(renamed)+len(ready) == 0 {
		return nil
	}
	fail := func(j *job, reason Reason, err error) {
		j.res.Status, j.res.Reason, j.res.Err = StatusFailed, reason, err
		r.finish(j)
	}
	// 1. The syncs: of this batch's temp files, and of the directories of
	// the previous batch's renames.
	dirs := map[string][]*job{}
	var order []string
	for _, j := range renamed {
		d := filepath.Dir(j.h.Target())
		if _, ok := dirs[d]; !ok {
			order = append(order, d)
		}
		dirs[d] = append(dirs[d], j)
	}
	tempErr := make([]error, len(ready))
	if fss != nil && !r.noFSSync.Load() && onDevice(fss.Dev(), renamed, ready) && r.fsSyncNow(pendingBytes(ready, len(order))) {
		span := trace.Start("batch.syncfs")
		start := time.Now()
		begin()
		err := fss.Sync()
		defer r.hold()()
		r.fsSyncTook(time.Since(start))
		if err != nil {
			// Maybe another program's error, maybe ours: every file the
			// round covers is taken as hit, and the rest of the run
			// fsyncs each file, which tells them apart.
			r.noFSSync.Store(true)
		}
		for i := range ready {
			if err != nil {
				tempErr[i] = fmt.Errorf("%s: %w", ready[i].res.Path, err)
			}
		}
		r.parallel(len(order), func(i int) { r.settle(dirs[order[i]], err) })
		if trace.Enabled() {
			span.End(fmt.Sprintf("%d temp files, %d directories", len(ready), len(order)))
		}
	} else {
		// An fsync through a file's own descriptor reports that file's
		// errors, exactly, and waits for no other program's data. A
		// directory's files are settled (reported, their originals'
		// second names removed) by the goroutine that synced it.
		span := trace.Start("batch.fsync")
		begin()
		r.parallel(len(ready)+len(order), func(i int) {
			if i < len(ready) {
				tempErr[i] = ready[i].pending.Sync()
				return
			}
			d := order[i-len(ready)]
			r.settle(dirs[d], atomicfile.SyncDir(r.o.FS, d))
		})
		defer r.hold()()
		if trace.Enabled() {
			span.End(fmt.Sprintf("%d temp files, %d directories", len(ready), len(order)))
		}
	}
	var ok []*job
	for i, j := range ready {
		if err := tempErr[i]; err != nil {
			j.pending.Abort()
			fail(j, ReasonIO, fmt.Errorf("before the rename: %w", err))
			continue
		}
		ok = append(ok, j)
	}
	// 2. The renames, each with its unchanged-underneath checks. They run
	// even when the run is stopping: the temp files are durable, and the
	// renames take microseconds.
	var mu sync.Mutex
	var out []*job
	r.parallel(len(ok), func(i int) {
		j := ok[i]
		start := time.Now()
		err := j.pending.Commit()
		j.work += time.Since(start)
		if err != nil {
			st, reason := Classify(err)
			j.res.Status, j.res.Reason, j.res.Err = st, reason, err
			r.finish(j)
			return
		}
		mu.Lock()
		out = append(out, j)
		mu.Unlock()
	})
	return out
}

// hold makes the workers take no new file until the function it returns
// is called (see commit).
func (r *runner) hold() (release func()) {
	held := make(chan struct{})
	r.held.Store(&held)
	return func() {
		r.held.Store(nil)
		close(held)
	}
}

// fsSyncNow reports whether a round whose own data is about ours bytes
// syncs the filesystem: not while other programs have much data waiting
// to be written (foreignDirty), nor for a few rounds after a filesystem
// sync that took far longer than the fastest so far (another program's
// writes it waited for, which /proc/meminfo did not show in time).
func (r *runner) fsSyncNow(ours int64) bool {
	if forceSync == "syncfs" {
		return true
	}
	if r.fsSkip > 0 {
		r.fsSkip--
		return false
	}
	return !foreignDirty(ours)
}

// slowRounds is how many rounds fsync each file after a slow filesystem
// sync; slowSync is how long a filesystem sync may take, at least, before
// it counts as slow (four times the fastest also must be exceeded).
const (
	slowRounds = 8
	slowSync   = 100 * time.Millisecond
)

// fsSyncTook records how long a round's filesystem sync took.
func (r *runner) fsSyncTook(d time.Duration) {
	if r.fsBest == 0 || d < r.fsBest {
		r.fsBest = d
	}
	if d > max(slowSync, 4*r.fsBest) {
		r.fsSkip = slowRounds
	}
}

// onDevice reports whether every job's lockfile is on the device dev.
func onDevice(dev uint64, lists ...[]*job) bool {
	for _, l := range lists {
		for _, j := range l {
			st, ok := j.h.Info().Sys().(*syscall.Stat_t)
			if !ok || uint64(st.Dev) != dev {
				return false
			}
		}
	}
	return true
}

// pendingBytes estimates what a sync round of lockfix's own has to
// write: the temp files' bytes and a block per directory.
func pendingBytes(ready []*job, dirs int) int64 {
	n := int64(dirs) * 4096
	for _, j := range ready {
		n += int64(len(j.conv.Data)) + 4096
	}
	return n
}

// foreignSlack is how much data beyond its own a round lets a filesystem
// sync wait for before it fsyncs only its own files instead.
const foreignSlack = 16 << 20

// foreignDirty reports whether more data than ours (and foreignSlack)
// waits to be written back (Dirty and Writeback in /proc/meminfo):
// another program's, which a filesystem sync would wait for. The count is
// the machine's, not the filesystem's, so it errs towards the per-file
// fsyncs, which are always correct. Without /proc/meminfo it says yes.
func foreignDirty(ours int64) bool {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return true
	}
	var pending int64
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Dirty:" || f[0] == "Writeback:") {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return true
			}
			pending += kb << 10
		}
	}
	return pending > ours+foreignSlack
}

// forceSync, when "fsync" or "syncfs", fixes the batch's sync mechanism
// (LOCKFIX_BATCH_SYNC, for tests and measurements); "syncfs" still
// needs every file of a round on one filesystem.
var forceSync = os.Getenv("LOCKFIX_BATCH_SYNC")

// settle reports the renamed files of one directory once its fsync has
// returned err: migrated, their originals' second names removed, or
// not-durable, the second names kept for the next run.
func (r *runner) settle(jobs []*job, err error) {
	for _, j := range jobs {
		if err != nil {
			j.res.Status, j.res.Reason = StatusNotDurable, ReasonSync
			j.res.Err = fmt.Errorf("migrated, but the directory fsync after the rename failed, so the new content may not survive a crash (run migrate again to sync it): %w", err)
			r.finish(j)
			continue
		}
		j.pending.Forget()
		j.res.Status = StatusMigrated
		r.finish(j)
	}
}

// parallel runs fn(0..n-1) with up to r.syncers goroutines: fsyncs in
// flight together are committed together by the filesystem.
func (r *runner) parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(r.syncers, 1), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Classify maps an error of the pipeline to a status and reason.
func Classify(err error) (Status, Reason) {
	var enc *schema.EncodeError
	switch {
	case err == nil:
		return StatusMigrated, reasonNone
	case errors.Is(err, atomicfile.ErrVerify), errors.Is(err, ErrMismatch), errors.As(err, &enc):
		return StatusRefused, ReasonVerify
	case errors.Is(err, ErrInvalid):
		return StatusRefused, ReasonInvalid
	case errors.Is(err, schema.ErrLossy):
		return StatusRefused, ReasonLossy
	case errors.Is(err, ErrNoStep):
		return StatusRefused, ReasonNoStep
	case errors.Is(err, atomicfile.ErrNotDurable):
		return StatusNotDurable, ReasonSync
	case errors.Is(err, atomicfile.ErrLocked):
		return StatusFailed, ReasonLocked
	case errors.Is(err, atomicfile.ErrLinked):
		return StatusFailed, ReasonLinked
	case errors.Is(err, ErrNoMemory):
		return StatusFailed, ReasonMemory

	case errors.Is(err, atomicfile.ErrChanged):
		return StatusFailed, ReasonChanged
	}
	return StatusFailed, ReasonIO
}
