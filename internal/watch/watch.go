// Package watch follows lockfiles as they change on disk and reports each
// change of their decoded state: content changed (config fields and
// packages), became invalid (with the FORMAT.md error names), became valid
// again, deleted, created.
//
// It watches the DIRECTORIES that hold the files, never the files
// themselves, with fsnotify (inotify on Linux). A watch on a file dies
// with the inode when the file is replaced by rename, which is how editors,
// lockfix's own atomic writes and Kubernetes ConfigMap volumes update a
// file; a watch on the directory sees the new file arrive. A ConfigMap
// mounts "bun.lockb" as a symlink to "..data/bun.lockb", where "..data" is
// itself a symlink to a timestamped directory that the kubelet swaps by
// renaming a new "..data" over the old one. So for every watched path the
// watcher records every symlink met while resolving it, watches the
// directories of the path, of those links and of the final target, and
// treats an event on any of those names as a possible change of the path.
//
// Events come in bursts (an editor's save is a create, a few writes and a
// rename; a ConfigMap swap is several renames and removals), so a path is
// read only after a quiet period (Options.Debounce) with no event for it.
// Then the path is resolved again, read (regular files only, through
// atomicfile.Open), sniffed, checked and decoded, and its content digest is
// compared with the last read: nothing is reported when the bytes are the
// same. lockfix's own temp files are ignored.
package watch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockload"
	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// DefaultDebounce is the quiet period after the last event for a file
// before it is read: long enough to swallow an editor's or the kubelet's
// burst, short enough to feel immediate.
const DefaultDebounce = 25 * time.Millisecond

// Kind is what happened to a watched file.
type Kind string

// The kinds of event.
const (
	// Initial is the state of a file when watching starts.
	Initial Kind = "initial"
	// Changed: a valid file is still valid with other bytes.
	Changed Kind = "changed"
	// Invalid: a file that existed became invalid or unreadable, or an
	// invalid file changed and is still invalid.
	Invalid Kind = "invalid"
	// Valid: an invalid or unreadable file became valid again.
	Valid Kind = "valid"
	// Deleted: the file no longer exists.
	Deleted Kind = "deleted"
	// Created: a file that did not exist exists now (valid or not).
	Created Kind = "created"
)

// State is one read of a watched file. A State is never modified once
// made, so it may be shared between goroutines.
type State struct {
	// Path is the path as given to New.
	Path string
	// Target is Path with its symlinks resolved ("" when it does not
	// resolve).
	Target string
	// Exists is false when the path does not resolve to a file.
	Exists bool
	// Size and ModTime describe the file that was read.
	Size    int64
	ModTime time.Time
	// Sum is the SHA-256 of the bytes read.
	Sum [sha256.Size]byte
	// Time is when the read finished and Duration how long it took
	// (read, sniff, check and decode).
	Time     time.Time
	Duration time.Duration
	// Version is the configVersion when the header was recognised, else -1.
	Version int
	// Lockfile is the decoded content; nil unless the file is valid. With
	// Options.Summary it holds the config only, no packages.
	Lockfile *schema.Lockfile
	// Packages is the package count of a valid file.
	Packages int
	// Problems are the format problems (docs/format.md section 6) found in the
	// file, or the error that kept it from being read (not a regular file,
	// permission denied, too large). Empty when the file is valid or does
	// not exist. With Options.Summary, only the first MaxSummaryProblems.
	Problems []error
	// ProblemCount is the number of problems found, kept or not.
	ProblemCount int
}

// MaxSummaryProblems is how many problems a State keeps with
// Options.Summary: enough to name the damage, bounded however damaged the
// file.
const MaxSummaryProblems = 8

// Valid reports whether the file exists and decoded without a problem.
func (s *State) Valid() bool { return s != nil && s.Lockfile != nil }

// ReadError reports whether the read did not yield a valid lockfile: the
// file is missing, unreadable or invalid.
func (s *State) ReadError() bool { return !s.Valid() }

// ProblemNames returns the FORMAT.md names of the problems, in order and
// without repeats; an error that is no format problem is "IOError".
func (s *State) ProblemNames() []string {
	var names []string
	for _, p := range s.Problems {
		n := schema.AsProblem(p, "").Name()
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Event is a change of a watched file's state.
type Event struct {
	Time time.Time
	Path string
	Kind Kind
	// Old is the state before (nil for Initial) and New the state now.
	Old, New *State
	// Changes are the differences of the decoded content from the valid
	// state From to New: for Changed (From is Old), and for Valid and
	// Created when an earlier valid state is known (From is the last
	// one). Nil otherwise.
	Changes *render.Changes
	From    *State
}

// Options tune a Watcher.
type Options struct {
	// Debounce is the quiet period after an event before the file is
	// read; 0 means DefaultDebounce.
	Debounce time.Duration
	// MaxDelay bounds how long a stream of events can postpone a read;
	// 0 means 20 times Debounce, at least one second.
	MaxDelay time.Duration
	// OnRead, when set, is called after every read of a file, including
	// the first ones made by New and reads that find nothing changed. It
	// runs on the watcher's goroutine and must not block.
	OnRead func(s *State)
	// OnError, when set, receives errors that do not stop the watcher
	// (a directory that can no longer be watched, an fsnotify error).
	OnError func(err error)
	// Summary keeps of each read only what a summary needs: the config,
	// the package count and the first problems. A valid file is checked
	// in full (as 'lockfix validate' does) but its packages are not
	// decoded, so memory does not grow with the files' sizes; Changes
	// then hold config changes only.
	Summary bool
	// Background leaves the first read of each file to Run, which makes
	// it before watching for changes, in the order of the paths: New
	// returns at once, and States holds nil for a file not read yet.
	Background bool
	// OnScanned, when set, is called by Run once every file has been read
	// a first time (with Background; at the start of Run otherwise).
	OnScanned func(n int, elapsed time.Duration)
}

// file is one watched path.
type file struct {
	path      string // as given
	abs       string // absolute, cleaned
	state     *State
	lastValid *State
	names     []string // absolute names whose events concern the file
	dirs      []string // directories to watch for it
}

// Watcher watches a set of lockfiles. Its methods may be called from any
// goroutine; Run runs the watch loop.
type Watcher struct {
	opts  Options
	fw    *fsnotify.Watcher
	files []*file

	mu     sync.RWMutex
	byName map[string][]*file // event name -> files it concerns
	byDir  map[string][]*file // watched directory -> files it concerns
	dirs   map[string]bool    // directories being watched
}

// New reads every path once and starts watching their directories. Paths
// need not exist yet, but their directories must. The first states are
// available from States at once, and OnRead has been called for each.
func New(paths []string, opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = max(20*opts.Debounce, time.Second)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{opts: opts, fw: fw, dirs: map[string]bool{}}
	seen := map[string]bool{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		dir := filepath.Dir(abs)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			fw.Close()
			if err == nil {
				err = fmt.Errorf("%s is not a directory", dir)
			}
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		w.files = append(w.files, &file{path: p, abs: abs})
	}
	if !opts.Background {
		w.scan()
	} else {
		// Watch each path's own directory now, so that New fails at
		// once for one that cannot be watched; Run resolves the links.
		for _, f := range w.files {
			f.dirs = []string{filepath.Dir(f.abs)}
		}
		w.mu.Lock()
		w.reindex()
		w.mu.Unlock()
	}
	for _, f := range w.files {
		if !w.dirs[filepath.Dir(f.abs)] {
			fw.Close()
			return nil, fmt.Errorf("watch %s: cannot watch its directory", f.path)
		}
	}
	return w, nil
}

// scan reads every file a first time and watches what they resolve
// through.
func (w *Watcher) scan() {
	for _, f := range w.files {
		st := w.read(f)
		w.mu.Lock()
		f.state = st
		w.mu.Unlock()
		if st.Valid() {
			f.lastValid = st
		}
	}
	w.mu.Lock()
	w.reindex()
	w.mu.Unlock()
}

// Close stops watching. Run returns after Close.
func (w *Watcher) Close() error { return w.fw.Close() }

// States returns the current state of every file, in the order of the
// paths given to New.
func (w *Watcher) States() []*State {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]*State, len(w.files))
	for i, f := range w.files {
		out[i] = f.state
	}
	return out
}

// Initial returns an Initial event for every file, in order, for callers
// that print the starting state.
func (w *Watcher) Initial() []Event {
	var out []Event
	for _, s := range w.States() {
		out = append(out, Event{Time: s.Time, Path: s.Path, Kind: Initial, New: s})
	}
	return out
}

// Run watches until ctx is done or the watcher is closed, calling emit
// for every change, on the calling goroutine. It returns nil when ctx is
// done or Close was called. With Options.Background it first reads every
// file; a change made meanwhile to a file already read is seen.
func (w *Watcher) Run(ctx context.Context, emit func(Event)) error {
	start := time.Now()
	if w.opts.Background {
		w.scan()
	}
	if w.opts.OnScanned != nil {
		w.opts.OnScanned(len(w.files), time.Since(start))
	}
	due := map[*file]time.Time{}   // when to read
	first := map[*file]time.Time{} // first pending event
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	mark := func(fs []*file) {
		if len(fs) == 0 {
			return
		}
		now := time.Now()
		for _, f := range fs {
			if _, ok := first[f]; !ok {
				first[f] = now
			}
			d := now.Add(w.opts.Debounce)
			if limit := first[f].Add(w.opts.MaxDelay); limit.Before(d) {
				d = limit
			}
			due[f] = d
		}
		next := time.Time{}
		for _, d := range due {
			if next.IsZero() || d.Before(next) {
				next = d
			}
		}
		timer.Reset(time.Until(next))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			if atomicfile.IsTemp(filepath.Base(ev.Name)) {
				continue
			}
			mark(w.concerned(ev.Name))
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: read everything again.
				mark(w.files)
				continue
			}
			w.report(fmt.Errorf("watch: %w", err))
		case <-timer.C:
			now := time.Now()
			var ready []*file
			for f, d := range due {
				if !d.After(now) {
					ready = append(ready, f)
				}
			}
			var events []Event
			for _, f := range w.files { // in the order given
				if !slices.Contains(ready, f) {
					continue
				}
				delete(due, f)
				delete(first, f)
				if ev, ok := w.update(f); ok {
					events = append(events, ev)
				}
			}
			if len(ready) > 0 {
				w.mu.Lock()
				w.reindex()
				w.mu.Unlock()
			}
			// Emitted once the new targets are watched, so that a
			// change made by whoever reacts to an event is seen.
			for _, ev := range events {
				emit(ev)
			}
			if len(due) > 0 {
				next := time.Time{}
				for _, d := range due {
					if next.IsZero() || d.Before(next) {
						next = d
					}
				}
				timer.Reset(time.Until(next))
			}
		}
	}
}

func (w *Watcher) report(err error) {
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}

// concerned returns the files an event on name may have changed: those
// for which name is the path, a symlink on the way or the target, and
// those whose watched directory name is (the directory itself was
// removed or moved).
func (w *Watcher) concerned(name string) []*file {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := slices.Clone(w.byName[name])
	for _, f := range w.byDir[name] {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// update reads f again and returns the event its new state makes, if any.
func (w *Watcher) update(f *file) (Event, bool) {
	old := f.state
	if old == nil { // not read yet: the scan will
		return Event{}, false
	}
	now := w.read(f)
	w.mu.Lock()
	f.state = now
	w.mu.Unlock()
	ev := Event{Time: now.Time, Path: f.path, Old: old, New: now}
	lastValid := f.lastValid
	if now.Valid() {
		f.lastValid = now
	}
	switch {
	case !old.Exists && !now.Exists:
		return ev, false
	case old.Exists && !now.Exists:
		ev.Kind = Deleted
	case !old.Exists:
		ev.Kind = Created
		if now.Valid() && lastValid != nil {
			ev.From = lastValid
			ev.Changes = render.Compare(lastValid.Lockfile, now.Lockfile)
		}
	case old.Sum == now.Sum && problemText(old) == problemText(now):
		return ev, false
	case !now.Valid():
		ev.Kind = Invalid
	case old.Valid():
		ev.Kind = Changed
		ev.From = old
		ev.Changes = render.Compare(old.Lockfile, now.Lockfile)
	default:
		ev.Kind = Valid
		if lastValid != nil {
			ev.From = lastValid
			ev.Changes = render.Compare(lastValid.Lockfile, now.Lockfile)
		}
	}
	return ev, true
}

func problemText(s *State) string {
	var b []byte
	for _, p := range s.Problems {
		b = append(b, p.Error()...)
		b = append(b, '\n')
	}
	return string(b)
}

// read resolves, reads, checks and decodes f, then records the names and
// directories that concern it. OnRead is called with the result.
func (w *Watcher) read(f *file) *State {
	start := time.Now()
	names, dirs, target := resolve(f.abs)
	s := &State{Path: f.path, Version: -1}
	span := trace.Start("file.read")
	h, err := atomicfile.Open(f.abs, atomicfile.Options{ReadOnly: true})
	var b []byte
	switch {
	case errors.Is(err, fs.ErrNotExist):
		span.End(f.path + " missing")
	case err != nil:
		span.End(f.path + " " + err.Error())
		s.Exists = true
		s.Target = target
		s.Problems = []error{schema.AsProblem(err, f.path)}
		s.ProblemCount = 1
		s.Sum = sha256.Sum256([]byte(err.Error()))
	default:
		b = h.Data()
		h.Close()
		span.End(fmt.Sprintf("%s %dB", f.path, len(b)))
		s.Exists = true
		s.Target = h.Target()
		if st := h.Info(); st != nil {
			s.Size, s.ModTime = st.Size(), st.ModTime()
		}
		s.Sum = sha256.Sum256(b)
		decode(s, b, w.opts.Summary)
	}
	s.Time = time.Now()
	s.Duration = s.Time.Sub(start)
	f.names, f.dirs = names, dirs
	if w.opts.OnRead != nil {
		w.opts.OnRead(s)
	}
	return s
}

// decode sniffs, checks and decodes b into s (lockload.Parse, which
// traces each step). A summary is checked the same way but not decoded:
// it keeps the config block and the package count.
func decode(s *State, b []byte, summary bool) {
	if !summary {
		p := lockload.Parse(s.Path, b)
		if p.Schema != nil {
			s.Version = p.Schema.Version
		}
		s.Problems, s.Lockfile = p.Problems, p.Lockfile
		s.ProblemCount = len(p.Problems)
		if p.Lockfile != nil {
			s.Packages = len(p.Lockfile.Packages)
		}
		return
	}
	sc, err := lockload.Sniff(b)
	if err != nil {
		s.Problems = []error{schema.AsProblem(err, s.Path)}
		s.ProblemCount = 1
		return
	}
	s.Version = sc.Version
	start := time.Now()
	errs := sc.Check(b)
	trace.Line("validate", time.Since(start), fmt.Sprintf("schema/v%d", sc.Version))
	if len(errs) > 0 {
		s.ProblemCount = len(errs)
		if len(errs) > MaxSummaryProblems {
			errs = errs[:MaxSummaryProblems]
		}
		for _, e := range errs {
			s.Problems = append(s.Problems, schema.AsProblem(e, s.Path))
		}
		return
	}
	// Check passed: the block and the count are what the file says.
	f := sc.FieldOf(schema.KindCount)
	s.Lockfile = &schema.Lockfile{Config: schema.DecodeConfig(b[schema.OffConfigVersion:])}
	s.Packages = int(schema.Uint(b[f.Offset:f.End()]))
}

// reindex rebuilds the name and directory indexes from every file's last
// resolution and brings the set of watched directories in line: new ones
// are added, ones no file needs any more are removed. The directory of
// each path as given is always kept. w.mu must be held.
func (w *Watcher) reindex() {
	w.byName = map[string][]*file{}
	w.byDir = map[string][]*file{}
	want := map[string]bool{}
	for _, f := range w.files {
		for _, n := range f.names {
			w.byName[n] = append(w.byName[n], f)
		}
		for _, d := range f.dirs {
			if !slices.Contains(w.byDir[d], f) {
				w.byDir[d] = append(w.byDir[d], f)
			}
			want[d] = true
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.fw.Add(d); err != nil {
			// A target directory may vanish between resolving and
			// watching (a ConfigMap swap in progress); the next event
			// in the parent resolves again.
			if !errors.Is(err, fs.ErrNotExist) {
				w.report(fmt.Errorf("watch %s: %w", d, err))
			}
			continue
		}
		w.dirs[d] = true
	}
	for d := range w.dirs {
		if !want[d] {
			w.fw.Remove(d) // fails harmlessly when the directory is gone
			delete(w.dirs, d)
		}
	}
}

// maxLinks bounds symlink resolution, as the kernel's ELOOP does.
const maxLinks = 40

// resolve follows path's symlinks component by component. It returns the
// names whose events concern the path (the path itself, every symlink met
// and the final target), the directories holding them, and the target
// ("" when the path does not resolve). A missing component ends the walk;
// the names found so far are still returned, so that the file's arrival is
// noticed.
func resolve(path string) (names, dirs []string, target string) {
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
		if d := filepath.Dir(n); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	add(path)
	// Component walk: done is resolved (no links), todo what remains.
	done := string(filepath.Separator)
	todo := splitPath(path)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		next := filepath.Join(done, c)
		st, err := os.Lstat(next)
		if err != nil {
			// Watch where the missing piece would appear, unless it is
			// only an ancestor of the path's own directory.
			if len(todo) == 0 || filepath.Dir(next) == filepath.Dir(path) || links > 0 {
				add(next)
			}
			return names, dirs, ""
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		links++
		if links > maxLinks {
			return names, dirs, ""
		}
		dest, err := os.Readlink(next)
		if err != nil {
			return names, dirs, ""
		}
		// Only links at or below the path's own directory matter for
		// events: a symlinked ancestor (/var -> /private/var) changes
		// no more often than the mount table.
		if len(todo) == 0 || isWithin(next, filepath.Dir(path)) || links > 1 {
			add(next)
		}
		if filepath.IsAbs(dest) {
			done = string(filepath.Separator)
		}
		todo = append(splitPath(dest), todo...)
	}
	if done != path {
		add(done)
	}
	return names, dirs, done
}

// isWithin reports whether p is dir or below it.
func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !filepath.IsAbs(rel) && (len(rel) < 3 || rel[:3] != ".."+string(filepath.Separator))
}

// splitPath splits a path into its components, dropping empty ones and
// ".", and keeping "..".
func splitPath(p string) []string {
	var out []string
	for _, c := range filepathSplit(p) {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

func filepathSplit(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if os.IsPathSeparator(p[i]) {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}
