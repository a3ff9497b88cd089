package migrate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
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
	// SyncBatch writes the temp files of a batch without fsync, makes them
	// durable with one syncfs(2) per filesystem, renames each over its
	// lockfile (each checked unchanged just before its rename) and syncs
	// once more. Every file is old or new after a crash at any moment;
	// results are reported when their batch is durable.
	SyncBatch SyncMode = "batch"
)

// BatchThreshold is the number of files above which SyncAuto batches.
// Below it the per-file fsyncs cost little, and a filesystem sync would
// also flush whatever unrelated data other programs have pending.
const BatchThreshold = 64

// DefaultBatchSize is how many files a batch holds open and locked at
// once (two descriptors each: the lock and the temp file). Run takes less
// when the limit of open files (RLIMIT_NOFILE) is too low for three
// batches.
const DefaultBatchSize = 256

// batchSize is DefaultBatchSize, or less when the limit of open files is
// low: three batches are open at once (one renamed and waiting for the
// sync that makes its renames durable, one whose temp files that sync
// makes durable, one being prepared), each file with two descriptors (its
// lock and its temp file).
func batchSize() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return DefaultBatchSize
	}
	return max(8, min(DefaultBatchSize, (int(lim.Cur)-64)/6))
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

// DefaultJobs is the number of workers when Options.Jobs is 0: four per
// processor, at least 4 and at most 16. Migrating a file takes
// microseconds of processor time and milliseconds of waiting for the disk
// (fsync, rename, directory fsync), so a worker mostly waits; more workers
// than processors keep the disk's queue full and let the filesystem's
// journal commit many fsyncs together. Past a few per processor the gain
// stops while memory and open files grow.
func DefaultJobs() int {
	return min(16, max(4, 4*runtime.GOMAXPROCS(0)))
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
)

// Reason says why a file was refused or failed.
type Reason string

// The reasons.
const (
	ReasonInvalid Reason = "invalid" // the file fails FORMAT.md section 6
	ReasonLossy   Reason = "lossy"   // a step would drop data (--allow-lossy)
	ReasonNoStep  Reason = "no-step" // no registered chain leads to the target
	ReasonVerify  Reason = "verify"  // the new bytes failed verification
	ReasonIO      Reason = "io"      // reading, writing or syncing failed
	ReasonLocked  Reason = "locked"  // another lockfix holds the file
	ReasonChanged Reason = "changed" // another program changed the file meanwhile

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
	// Duration is the time spent on the file (a batch's filesystem syncs,
	// shared by its files, are not included).
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
	// FS is the write path's filesystem layer (nil: the operating
	// system); tests inject failures with it.
	FS atomicfile.FS
	// KeepContent keeps Before and After in the results (for diffs).
	KeepContent bool
	// OnResult is called with each file's result, one call at a time, in
	// the order the files finish.
	OnResult func(*Result)
}

// Summary counts the outcomes of a run.
type Summary struct {
	Files, Migrated, Skipped, Refused, Failed int
	// NotRun is the number of files not processed because the run
	// stopped (FailFast or a cancelled context).
	NotRun int
	// Stopped is set when the run stopped early; Interrupted when the
	// context was cancelled.
	Stopped, Interrupted bool
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Sync and Jobs are the mode and workers used.
	Sync SyncMode
	Jobs int
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

// ExitCode is the run's exit code (CLI.md): 4 when any file was refused,
// plus 8 when any failed or the run was interrupted.
func (s Summary) ExitCode() int {
	code := 0
	if s.Refused > 0 {
		code |= 4
	}
	if s.Failed > 0 || s.Interrupted {
		code |= 8
	}
	return code
}

// runner is one Run.
type runner struct {
	o     Options
	step  schema.StepOptions
	ctx   context.Context
	stop  atomic.Bool
	final bool // the last pass: wait for locks, defer nothing

	mu       sync.Mutex
	sum      Summary
	done     int
	deferred []string
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
		o.BatchSize = batchSize()
	}
	if o.Sync == "" || o.Sync == SyncAuto {
		o.Sync = SyncFile
		if len(files) > BatchThreshold {
			o.Sync = SyncBatch
		}
	}
	r := &runner{o: o, step: schema.StepOptions{AllowLossy: o.AllowLossy, Writer: o.Writer}, ctx: ctx}
	r.sum = Summary{Files: len(files), Sync: o.Sync, Jobs: max(1, min(o.Jobs, len(files))), Reasons: map[Reason]int{}}
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
	r.each(files, r.finishOne)
}

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

// report records a finished file and hands it to OnResult.
func (r *runner) report(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
	}
	if r.o.FailFast && (res.Status == StatusRefused || res.Status == StatusFailed) {
		r.stop.Store(true)
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
}

// each runs begin on every file with the workers, then fn on each job that
// has something to write, in the same worker.
func (r *runner) each(files []string, fn func(*job)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(r.o.Jobs, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !r.stopped() {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if j := r.begin(files[i]); j != nil {
					fn(j)
				}
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
	h, err := atomicfile.Open(path, atomicfile.Options{Wait: wait, FS: r.o.FS, ReadOnly: r.o.DryRun})
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
	res.From, _ = Sniff(h.Data())
	span := trace.Start("migrate.convert")
	conv, err := Convert(h.Data(), r.o.To, r.step)
	if trace.Enabled() {
		span.End(fmt.Sprintf("%s v%d->v%d", path, res.From, r.o.To))
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
		return end(StatusSkipped, reasonNone, nil)
	}
	res.Dropped = conv.Dropped
	if r.o.KeepContent {
		res.Before, res.After = conv.Before, conv.After
	}
	j.verify = Verify(conv.After)
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

// finishOne replaces one file with its own fsyncs.
func (r *runner) finishOne(j *job) {
	start := time.Now()
	verify := j.verify
	var err error
	if r.o.Jobs >= runtime.GOMAXPROCS(0) {
		// Replace would check the new bytes in a goroutine of its own
		// while it writes and fsyncs them; with a worker per processor or
		// more, the workers keep the processors busy and that goroutine
		// only adds scheduling, so the check runs here, first.
		span := trace.Start("migrate.verify")
		if err = verify(j.conv.Data); err != nil {
			err = fmt.Errorf("%s: %w: %w", j.res.Path, atomicfile.ErrVerify, err)
		}
		span.End(j.res.Path)
		verify = nil
	}
	span := trace.Start("file.replace")
	if err == nil {
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
	if j.res.Status != StatusMigrated && j.res.Status != StatusWouldMigrate {
		j.res.Before, j.res.After = nil, nil
		j.res.Dropped = nil
	}
	j.res.Duration = j.work
	r.report(j.res)
}

// batches migrates files in batches of at most o.BatchSize: temp files
// without fsync, one filesystem sync, the renames, one more sync. The sync
// after a batch's renames is the sync before the next batch's renames:
// one syncfs(2) per filesystem makes the previous batch's renames and this
// batch's temp files durable at once, so a fleet costs one filesystem sync
// per batch, not two. Every file is still old or new after a crash at any
// moment: a file is renamed only after a sync that covered its temp
// file's data, and reported migrated only after a sync that covered its
// rename. The syncs and renames run while the workers prepare the next
// batch, so at most three batches are open at once.
func (r *runner) batches(files []string) {
	var committing sync.WaitGroup
	var renamed []*job // set by the commit in flight, read after it ends
	for lo := 0; lo < len(files) && !r.stopped(); lo += r.o.BatchSize {
		chunk := files[lo:min(lo+r.o.BatchSize, len(files))]
		var mu sync.Mutex
		var ready []*job
		r.each(chunk, func(j *job) {
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
			mu.Lock()
			ready = append(ready, j)
			mu.Unlock()
		})
		committing.Wait()
		prev := renamed
		committing.Add(1)
		go func() {
			defer committing.Done()
			renamed = r.commit(prev, ready)
		}()
	}
	committing.Wait()
	// The last renames' sync. It runs even when the run is stopping:
	// those files are renamed and their results not yet reported.
	r.commit(renamed, nil)
}

// commit syncs, once per filesystem, the renames of the previous batch
// (renamed) and the temp files of this one (ready), reports the previous
// batch's files, then renames this batch's files over their lockfiles,
// each after its unchanged-underneath check, and returns those renamed:
// their results wait for the next sync.
func (r *runner) commit(renamed, ready []*job) []*job {
	if len(renamed)+len(ready) == 0 {
		return nil
	}
	fail := func(j *job, reason Reason, err error) {
		j.res.Status, j.res.Reason, j.res.Err = StatusFailed, reason, err
		r.finish(j)
	}
	// 1. The previous batch's renames and this batch's temp files' data,
	// all at once.
	prepared := make(map[*job]bool, len(ready))
	for _, j := range ready {
		prepared[j] = true
	}
	var ok []*job
	for _, group := range byFilesystem(append(renamed[:len(renamed):len(renamed)], ready...)) {
		err := syncFS(group[0])
		for _, j := range group {
			switch {
			case !prepared[j] && err != nil:
				fail(j, ReasonIO, fmt.Errorf("renamed, but the filesystem sync after the rename failed, so the new content may not survive a crash: %w", err))
			case !prepared[j]:
				j.res.Status = StatusMigrated
				r.finish(j)
			case err != nil:
				j.pending.Abort()
				fail(j, ReasonIO, fmt.Errorf("before the rename: %w", err))
			default:
				ok = append(ok, j)
			}
		}
	}
	// 2. The renames, each after its unchanged-underneath check. They run
	// even when the run is stopping: the temp files are durable, and the
	// renames take microseconds.
	var mu sync.Mutex
	var out []*job
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(r.o.Jobs, len(ok)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ok) {
					return
				}
				j := ok[i]
				start := time.Now()
				err := j.pending.Commit()
				j.work += time.Since(start)
				if err != nil {
					st, reason := Classify(err)
					j.res.Status, j.res.Reason, j.res.Err = st, reason, err
					r.finish(j)
					continue
				}
				mu.Lock()
				out = append(out, j)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// syncFS syncs the filesystem of a job's lockfile, traced.
func syncFS(j *job) error {
	span := trace.Start("fs.syncfs")
	err := atomicfile.SyncFS(filepath.Dir(j.h.Target()))
	span.End(filepath.Dir(j.h.Target()))
	return err
}

// byFilesystem groups jobs by the device of their lockfile, in order of
// first appearance.
func byFilesystem(jobs []*job) [][]*job {
	idx := map[uint64]int{}
	var out [][]*job
	for _, j := range jobs {
		var dev uint64
		if st, ok := j.h.Info().Sys().(*syscall.Stat_t); ok {
			dev = uint64(st.Dev)
		}
		i, seen := idx[dev]
		if !seen {
			i = len(out)
			idx[dev] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], j)
	}
	return out
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
	case errors.Is(err, atomicfile.ErrLocked):
		return StatusFailed, ReasonLocked
	case errors.Is(err, atomicfile.ErrChanged):
		return StatusFailed, ReasonChanged
	}
	return StatusFailed, ReasonIO
}
