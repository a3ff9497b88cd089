// Package metrics exports the state of watched lockfiles in the Prometheus
// exposition format, for 'lockfix serve'.
//
// A watch.Watcher keeps every file's state current, as a summary (its
// config, package count and validity; the packages are checked but not
// kept); each read it makes is recorded in a store (counters, the
// read-duration histogram, the time the content last changed). A scrape
// only reads that store: it never rereads a file. The exposition is
// written straight from the store in the text format (exposition.go;
// only lockfix's metrics, no Go runtime series), and the response is
// cached until the store changes, so scraping a thousand files costs
// about as much as serving a static file of the same size. The files are
// first read in the background: serve answers at once, with the files
// read so far.
//
// The metrics, one series per watched path:
//
//	lockfix_config_info{path,config_fingerprint,config_version,registry_hash,
//	    feature_flags,terminal_mode,terminal_rows,terminal_cols} 1        (valid files)
//	lockfix_config_valid{path}                                            1 or 0
//	lockfix_feature_enabled{path,flag}                                    1 or 0, for each flag the version defines (valid files)
//	lockfix_packages{path}                                                package count (valid files)
//	lockfix_config_reads_total{path}                                      reads of the file
//	lockfix_config_read_errors_total{path}                                reads that found it missing, unreadable or invalid
//	lockfix_config_last_change_timestamp_seconds{path}                    when its content last changed (files that exist)
//	lockfix_config_read_duration_seconds                                  histogram of read+check+decode time
//	lockfix_build_info{version,goversion}                                 1
//	lockfix_first_read_done                                               1 once every file was read
//	lockfix_files_pending_first_read                                      files not read yet
//	lockfix_policy_violations{path,rule}                                  findings per policy rule (valid files; with Options.Policy)
//
// With Options.Reference (a lockfile every watched file should agree with):
//
//	lockfix_config_matches_reference{path}                                1 or 0 (valid files, valid reference)
//	lockfix_config_reference_difference{path,field,value,reference}       1 for each field that differs
//
// With Options.MigrateReport (the --report file of 'lockfix migrate'):
//
//	lockfix_migrate_last_status{path,status,reason}                      1, one per file of the report
//	lockfix_migrate_report_ok                                             1 when the report was read whole, else 0
//	lockfix_migrate_report_timestamp_seconds                              its modification time (when it exists)
//
// config_fingerprint is the 13 config bytes in hex, so two series with
// the same fingerprint have the same config; the other labels are its
// fields (internal/configcmp), so a rule can say which differ.
package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockfix/lockfix/internal/watch"
	"github.com/lockfix/lockfix/schema"
)

// DurationBuckets are the buckets of lockfix_config_read_duration_seconds,
// from 10µs (a small file from the page cache) to 1s (a large file on a
// struggling disk).
var DurationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
}

// fileStats is what the store knows about one path: the last state (a
// summary, see watch.Options.Summary), counters and a time. It is all
// serve keeps per file, besides the watcher's record of its names.
type fileStats struct {
	state      *watch.State
	reads      uint64
	errors     uint64
	lastChange time.Time
	violations map[string]int // findings per policy rule, for a valid state
}

// Store records every read of the watched files. It is safe for
// concurrent use.
type Store struct {
	// policy, when set, counts a valid lockfile's policy findings by rule.
	policy func(*schema.Lockfile) map[string]int
	mu     sync.RWMutex
	order  []string
	files  map[string]*fileStats
	// gen counts changes of anything a scrape shows.
	gen atomic.Uint64
	// The read-duration histogram: a count per bucket of
	// DurationBuckets (not cumulative) and one above, the sum and count.
	buckets []uint64
	sum     float64
	count   uint64
	// watched is the number of files watched, read or not.
	watched atomic.Int64
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{files: map[string]*fileStats{}, buckets: make([]uint64, len(DurationBuckets)+1)}
}

// observeDuration records a read's duration in the histogram; st.mu is
// held.
func (st *Store) observeDuration(sec float64) {
	i := sort.SearchFloat64s(DurationBuckets, sec) // the first bound >= sec
	st.buckets[i]++
	st.sum += sec
	st.count++
}

// writeHistogram writes lockfix_config_read_duration_seconds.
func (st *Store) writeHistogram(t *textWriter) {
	st.mu.RLock()
	counts := slices.Clone(st.buckets)
	sum, count := st.sum, st.count
	st.mu.RUnlock()
	t.begin()
	var cum uint64
	for i, le := range DurationBuckets {
		cum += counts[i]
		t.series(famDuration, "_bucket", float64(cum), "le", strconv.FormatFloat(le, 'g', -1, 64))
	}
	t.series(famDuration, "_bucket", float64(count), "le", "+Inf")
	t.series(famDuration, "_sum", sum)
	t.series(famDuration, "_count", float64(count))
}

// Observe records a read. It is the watcher's OnRead hook.
func (st *Store) Observe(s *watch.State) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := st.files[s.Path]
	if f == nil {
		f = &fileStats{}
		st.files[s.Path] = f
		st.order = append(st.order, s.Path)
		// The first read: the content last changed when the file was
		// last modified.
		if s.Exists {
			f.lastChange = s.ModTime
		}
	} else if s.Exists && (!f.state.Exists || f.state.Sum != s.Sum) {
		f.lastChange = s.Time
	}
	f.state = s
	f.violations = nil
	if st.policy != nil && s.Valid() {
		f.violations = st.policy(s.Lockfile)
	}
	f.reads++
	if s.ReadError() {
		f.errors++
	}
	st.observeDuration(s.Duration.Seconds())
	st.gen.Add(1)
}

// Generation changes whenever anything a scrape shows changes.
func (st *Store) Generation() uint64 { return st.gen.Load() }

// snapshot is the state of one file at a scrape.
type snapshot struct {
	path string
	fileStats
}

func (st *Store) snapshot() []snapshot {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make([]snapshot, len(st.order))
	for i, p := range st.order {
		out[i] = snapshot{p, *st.files[p]}
	}
	return out
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Options tune a Server.
type Options struct {
	// Debounce is the watcher's quiet period (watch.DefaultDebounce when 0).
	Debounce time.Duration
	// Version is lockfix's version, for lockfix_build_info.
	Version string
	// OnError receives errors that do not stop watching.
	OnError func(error)
	// Reference is a lockfile every other watched file is compared
	// with (lockfix_config_matches_reference); it is watched too.
	Reference string
	// MigrateReport is the --report file of a 'lockfix migrate' run,
	// reread when it changes (lockfix_migrate_last_status).
	MigrateReport string
	// OnScanned, when set, is called once Run has read every file a
	// first time, with the time since it began finding them.
	OnScanned func(n int, elapsed time.Duration)
	// Find, when set, gives the paths to watch instead of New's (a
	// directory walk): Run calls it, so that the handlers answer while
	// it runs. Its error ends Run.
	Find func() ([]string, error)
	// Policy, when set, counts the policy findings of a valid lockfile by
	// rule, at each read; PolicyRules are the rules it checks, each
	// exported as lockfix_policy_violations{path,rule}.
	Policy      func(*schema.Lockfile) map[string]int
	PolicyRules []string
}

// Server watches lockfiles and serves their metrics.
type Server struct {
	watcher   atomic.Pointer[watch.Watcher] // nil until the files are found
	opts      Options
	started   time.Time // when finding or reading the files began
	store     *Store
	version   string
	reference string // the reference lockfile's path, or ""
	metrics   *cachedHandler
	report    *migrateReport
	scanned   chan struct{} // closed when every file has been read once
	running   atomic.Bool
}

// Scanned is closed once Run has read every file a first time.
func (s *Server) Scanned() <-chan struct{} { return s.scanned }

// New starts watching every path and prepares the handlers; Run reads
// the files a first time (the handlers answer meanwhile with the files
// read so far, and lockfix_files_pending_first_read counts the others)
// and then keeps their state current.
func New(paths []string, opts Options) (*Server, error) {
	store := NewStore()
	store.watched.Store(-1)
	store.policy = opts.Policy
	var report *migrateReport
	if opts.MigrateReport != "" {
		report = &migrateReport{path: opts.MigrateReport}
		report.refresh()
	}
	s := &Server{store: store, opts: opts, version: opts.Version, reference: opts.Reference, report: report,
		scanned: make(chan struct{}), started: time.Now()}
	s.metrics = newCachedHandler(s.generation, http.HandlerFunc(s.serveExposition))
	if opts.Find == nil {
		if err := s.watch(paths); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// watch creates the watcher of paths (and of the reference). Summary: the
// metrics need each file's config, package count and validity, not its
// packages. Background: the files are read by Run, while the handlers
// already answer with what has been read.
func (s *Server) watch(paths []string) error {
	if ref := s.opts.Reference; ref != "" && !slices.Contains(paths, ref) {
		paths = append(slices.Clip(paths), ref)
	}
	// A policy lints the packages, so with one they are kept.
	w, err := watch.New(paths, watch.Options{Debounce: s.opts.Debounce, OnRead: s.store.Observe, OnError: s.opts.OnError,
		Summary: s.opts.Policy == nil, Background: true, OnScanned: s.onScanned})
	if err != nil {
		return err
	}
	s.store.watched.Store(int64(len(w.States())))
	s.watcher.Store(w)
	s.store.gen.Add(1)
	return nil
}

// onScanned is called by the watcher once every file has been read.
func (s *Server) onScanned(n int, _ time.Duration) {
	close(s.scanned)
	s.store.gen.Add(1)
	if s.opts.OnScanned != nil {
		s.opts.OnScanned(n, time.Since(s.started))
	}
}

// generation is the store's generation, first moved on when the migrate
// report changed on disk since the last scrape.
func (s *Server) generation() uint64 {
	if s.report != nil && s.report.refresh() {
		s.store.gen.Add(1)
	}
	return s.store.Generation()
}

// Store returns the server's store.
func (s *Server) Store() *Store { return s.store }

// States returns the watched files' current states (nil for a file not
// read yet, and no states before Options.Find has returned).
func (s *Server) States() []*watch.State {
	if w := s.watcher.Load(); w != nil {
		return w.States()
	}
	return nil
}

// Run finds the files (Options.Find), reads them a first time and keeps
// their state current until ctx is done; emit, when not nil, receives
// every change. An error of Find or of watching ends it.
func (s *Server) Run(ctx context.Context, emit func(watch.Event)) error {
	s.running.Store(true)
	defer s.running.Store(false)
	if s.opts.Find != nil && s.watcher.Load() == nil {
		s.started = time.Now()
		paths, err := s.opts.Find()
		if err != nil {
			return err
		}
		if err := s.watch(paths); err != nil {
			return err
		}
	}
	w := s.watcher.Load()
	defer w.Close()
	if emit == nil {
		emit = func(watch.Event) {}
	}
	return w.Run(ctx, emit)
}

// Handler serves /metrics, /healthz and an index at /.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "lockfix serve: %d lockfiles watched\n\n/metrics  Prometheus metrics\n/healthz  health check\n", len(s.States()))
	})
	return mux
}

// healthz answers 200 while the watcher runs, 503 otherwise. Invalid
// files do not make the server unhealthy: they are what it reports.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !s.running.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not watching")
		return
	}
	if s.watcher.Load() == nil {
		fmt.Fprintln(w, "ok: finding the lockfiles to watch")
		return
	}
	valid, read := 0, 0
	states := s.States()
	for _, st := range states {
		if st != nil {
			read++
		}
		if st.Valid() {
			valid++
		}
	}
	if read < len(states) {
		fmt.Fprintf(w, "ok: %d lockfiles watched, %d read so far, %d valid\n", len(states), read, valid)
		return
	}
	fmt.Fprintf(w, "ok: %d lockfiles watched, %d valid\n", len(states), valid)
}

// cachedHandler serves the last response of next for the same request
// headers as long as the generation has not changed.
type cachedHandler struct {
	gen  func() uint64
	next http.Handler

	mu      sync.Mutex // held while filling, so a burst gathers once
	entries sync.Map   // key -> *cached
}

type cached struct {
	gen    uint64
	status int
	header http.Header
	body   []byte
}

// maxCached bounds the number of header combinations kept.
const maxCached = 16

func newCachedHandler(gen func() uint64, next http.Handler) *cachedHandler {
	return &cachedHandler{gen: gen, next: next}
}

func (h *cachedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The response depends on content negotiation and compression.
	key := r.Header.Get("Accept") + "\x00" + r.Header.Get("Accept-Encoding")
	if c, ok := h.entries.Load(key); ok && c.(*cached).gen == h.gen() {
		c.(*cached).write(w)
		return
	}
	h.mu.Lock()
	g := h.gen()
	c, ok := h.entries.Load(key)
	if !ok || c.(*cached).gen != g {
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		h.next.ServeHTTP(rec, r)
		rec.header.Set("Content-Length", strconv.Itoa(rec.body.Len()))
		// A clone: the buffer grew by doubling, and the cache keeps the
		// body until the next change.
		c = &cached{gen: g, status: rec.status, header: rec.header, body: bytes.Clone(rec.body.Bytes())}
		n := 0
		h.entries.Range(func(any, any) bool { n++; return true })
		if n >= maxCached {
			h.entries.Clear()
		}
		if rec.status == http.StatusOK {
			h.entries.Store(key, c)
		}
	}
	h.mu.Unlock()
	c.(*cached).write(w)
}

func (c *cached) write(w http.ResponseWriter) {
	hdr := w.Header()
	for k, v := range c.header {
		hdr[k] = v
	}
	w.WriteHeader(c.status)
	w.Write(c.body)
}

// recorder captures a response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
