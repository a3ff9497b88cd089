// Package metrics exports the state of watched lockfiles in the Prometheus
// exposition format, for 'lockfix serve'.
//
// A watch.Watcher keeps every file's state current; each read it makes is
// recorded in a store (counters, the read-duration histogram, the time the
// content last changed). A scrape only reads that store: it never rereads
// a file. The metrics are gathered by a private prometheus.Registry with a
// custom Collector (nothing global, no Go runtime metrics mixed in), and the
// encoded response is cached until the store changes, so scraping a
// thousand files costs about as much as serving a static file of the same
// size.
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
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lockfix/lockfix/internal/configcmp"
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

// fileStats is what the store knows about one path.
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
	gen  atomic.Uint64
	hist prometheus.Histogram
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		files: map[string]*fileStats{},
		hist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lockfix_config_read_duration_seconds",
			Help:    "Time to read, check and decode a watched lockfile.",
			Buckets: DurationBuckets,
		}),
	}
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
	st.hist.Observe(s.Duration.Seconds())
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

var (
	descInfo = prometheus.NewDesc("lockfix_config_info",
		"The config of a valid watched lockfile, in labels: its 13 bytes in hex and each field; always 1.",
		infoLabels(), nil)
	descMatches = prometheus.NewDesc("lockfix_config_matches_reference",
		"1 when the valid watched lockfile's 13 config bytes equal the reference lockfile's, else 0.",
		[]string{"path"}, nil)
	descDifference = prometheus.NewDesc("lockfix_config_reference_difference",
		"A config field of the watched lockfile that differs from the reference's, with both values; always 1.",
		[]string{"path", "field", "value", "reference"}, nil)
	descMigrateStatus = prometheus.NewDesc("lockfix_migrate_last_status",
		"The outcome of the last 'lockfix migrate' run for a file, from its --report; always 1.",
		[]string{"path", "status", "reason"}, nil)
	descMigrateOK = prometheus.NewDesc("lockfix_migrate_report_ok",
		"1 when the migrate report exists and every line of it was read, else 0.",
		nil, nil)
	descMigrateTime = prometheus.NewDesc("lockfix_migrate_report_timestamp_seconds",
		"Unix time the migrate report was last modified.",
		nil, nil)
	descValid = prometheus.NewDesc("lockfix_config_valid",
		"1 when the watched lockfile exists and passes every check of the format, else 0.",
		[]string{"path"}, nil)
	descFeature = prometheus.NewDesc("lockfix_feature_enabled",
		"1 when the feature flag is set in a valid watched lockfile, 0 when it is not; only the flags its version defines.",
		[]string{"path", "flag"}, nil)
	descPackages = prometheus.NewDesc("lockfix_packages",
		"Number of packages in a valid watched lockfile.",
		[]string{"path"}, nil)
	descReads = prometheus.NewDesc("lockfix_config_reads_total",
		"Reads of the watched lockfile (at start and after each change seen on disk).",
		[]string{"path"}, nil)
	descReadErrors = prometheus.NewDesc("lockfix_config_read_errors_total",
		"Reads that found the watched lockfile missing, unreadable or invalid.",
		[]string{"path"}, nil)
	descLastChange = prometheus.NewDesc("lockfix_config_last_change_timestamp_seconds",
		"Unix time the watched lockfile's content last changed: its modification time at start, then when a change was seen.",
		[]string{"path"}, nil)
	descViolations = prometheus.NewDesc("lockfix_policy_violations",
		"Findings of 'lockfix lint' in a valid watched lockfile under serve's --policy, by rule; 0 for each rule the policy checks that finds nothing.",
		[]string{"path", "rule"}, nil)
	descBuild = prometheus.NewDesc("lockfix_build_info",
		"The lockfix build that serves these metrics; always 1.",
		[]string{"version", "goversion"}, nil)
)

// infoLabels are the labels of lockfix_config_info: the path, the
// fingerprint and one per exported config field.
func infoLabels() []string {
	labels := []string{"path", "config_fingerprint"}
	for _, f := range configcmp.Fields {
		if f.Label != "" {
			labels = append(labels, f.Label)
		}
	}
	return labels
}

// infoValues are the values of infoLabels for path and cfg.
func infoValues(path string, cfg schema.Config) []string {
	values := []string{path, configcmp.Fingerprint(cfg)}
	for _, f := range configcmp.Fields {
		if f.Label != "" {
			values = append(values, f.Value(cfg))
		}
	}
	return values
}

// collector turns the store into metrics at each gather.
type collector struct {
	store     *Store
	version   string
	reference string         // the reference lockfile's path, or ""
	report    *migrateReport // nil without a migrate report
	rules     []string       // the policy's rules, each a series per valid file
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descValid, descFeature, descPackages, descReads, descReadErrors, descLastChange, descBuild,
		descMatches, descDifference, descMigrateStatus, descMigrateOK, descMigrateTime, descViolations} {
		ch <- d
	}
	c.store.hist.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, c.version, runtime.Version())
	c.store.hist.Collect(ch)
	c.collectReport(ch)
	files := c.store.snapshot()
	var ref *schema.Config
	for _, f := range files {
		if c.reference != "" && f.path == c.reference && f.state.Valid() {
			ref = &f.state.Lockfile.Config
		}
	}
	for _, f := range files {
		s := f.state
		ch <- prometheus.MustNewConstMetric(descReads, prometheus.CounterValue, float64(f.reads), f.path)
		ch <- prometheus.MustNewConstMetric(descReadErrors, prometheus.CounterValue, float64(f.errors), f.path)
		ch <- prometheus.MustNewConstMetric(descValid, prometheus.GaugeValue, bool01(s.Valid()), f.path)
		if !f.lastChange.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastChange, prometheus.GaugeValue,
				float64(f.lastChange.UnixNano())/1e9, f.path)
		}
		if !s.Valid() {
			continue
		}
		cfg := s.Lockfile.Config
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, infoValues(f.path, cfg)...)
		if ref != nil && f.path != c.reference {
			diff := configcmp.Diff(cfg, *ref)
			ch <- prometheus.MustNewConstMetric(descMatches, prometheus.GaugeValue, bool01(len(diff) == 0), f.path)
			for _, d := range diff {
				ch <- prometheus.MustNewConstMetric(descDifference, prometheus.GaugeValue, 1, f.path, d.Field, d.Value, d.Reference)
			}
		}
		ch <- prometheus.MustNewConstMetric(descPackages, prometheus.GaugeValue, float64(len(s.Lockfile.Packages)), f.path)
		if sc, ok := schema.Lookup(cfg.Version); ok {
			for _, fl := range sc.Defines {
				ch <- prometheus.MustNewConstMetric(descFeature, prometheus.GaugeValue, bool01(cfg.Flags&fl.Mask != 0), f.path, fl.Name)
			}
		}
		for _, r := range c.rules {
			ch <- prometheus.MustNewConstMetric(descViolations, prometheus.GaugeValue, float64(f.violations[r]), f.path, r)
		}
	}
}

// collectReport exports the migrate report's lines.
func (c *collector) collectReport(ch chan<- prometheus.Metric) {
	if c.report == nil {
		return
	}
	ok, mod, lines := c.report.snapshot()
	ch <- prometheus.MustNewConstMetric(descMigrateOK, prometheus.GaugeValue, bool01(ok))
	if !mod.IsZero() {
		ch <- prometheus.MustNewConstMetric(descMigrateTime, prometheus.GaugeValue, float64(mod.UnixNano())/1e9)
	}
	// A report names each file once; a path given twice on migrate's
	// command line is shown with its last outcome.
	last := map[string]int{}
	for i, l := range lines {
		last[l.Path] = i
	}
	for i, l := range lines {
		if last[l.Path] == i {
			ch <- prometheus.MustNewConstMetric(descMigrateStatus, prometheus.GaugeValue, 1, l.Path, l.Status, l.Reason)
		}
	}
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
	// Policy, when set, counts the policy findings of a valid lockfile by
	// rule, at each read; PolicyRules are the rules it checks, each
	// exported as lockfix_policy_violations{path,rule}.
	Policy      func(*schema.Lockfile) map[string]int
	PolicyRules []string
}

// Server watches lockfiles and serves their metrics.
type Server struct {
	watcher  *watch.Watcher
	store    *Store
	registry *prometheus.Registry
	metrics  *cachedHandler
	report   *migrateReport
	running  atomic.Bool
}

// New reads every path, starts watching them and prepares the handlers.
// Call Run to keep the state current.
func New(paths []string, opts Options) (*Server, error) {
	store := NewStore()
	store.policy = opts.Policy
	if opts.Reference != "" && !slices.Contains(paths, opts.Reference) {
		paths = append(slices.Clip(paths), opts.Reference)
	}
	var report *migrateReport
	if opts.MigrateReport != "" {
		report = &migrateReport{path: opts.MigrateReport}
		report.refresh()
	}
	w, err := watch.New(paths, watch.Options{Debounce: opts.Debounce, OnRead: store.Observe, OnError: opts.OnError})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(&collector{store: store, version: opts.Version, reference: opts.Reference, report: report, rules: opts.PolicyRules}); err != nil {
		w.Close()
		return nil, err
	}
	s := &Server{watcher: w, store: store, registry: reg, report: report}
	s.metrics = newCachedHandler(s.generation, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.HTTPErrorOnError,
	}))
	return s, nil
}

// generation is the store's generation, first moved on when the migrate
// report changed on disk since the last scrape.
func (s *Server) generation() uint64 {
	if s.report != nil && s.report.refresh() {
		s.store.gen.Add(1)
	}
	return s.store.Generation()
}

// Registry returns the server's private registry.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Store returns the server's store.
func (s *Server) Store() *Store { return s.store }

// States returns the watched files' current states.
func (s *Server) States() []*watch.State { return s.watcher.States() }

// Run keeps the files' state current until ctx is done; emit, when not
// nil, receives every change.
func (s *Server) Run(ctx context.Context, emit func(watch.Event)) error {
	s.running.Store(true)
	defer s.running.Store(false)
	defer s.watcher.Close()
	if emit == nil {
		emit = func(watch.Event) {}
	}
	return s.watcher.Run(ctx, emit)
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
	valid := 0
	states := s.States()
	for _, st := range states {
		if st.Valid() {
			valid++
		}
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
		c = &cached{gen: g, status: rec.status, header: rec.header, body: rec.body.Bytes()}
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
