package metrics

import (
	"bufio"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/lockfix/lockfix/internal/configcmp"
	"github.com/lockfix/lockfix/schema"
)

// The exposition is written by hand in the Prometheus text format 0.0.4,
// straight from the store, series by series: going through
// client_golang's registry built a protobuf message per series (some 150
// allocations and 7 KB per watched file at each scrape), too slow and too
// large for the first scrape of thousands of files. The format is small:
// '# HELP' and '# TYPE' lines, then 'name{label="value",...} value' lines,
// every series of a family together; promtool check metrics and the
// Prometheus server read it (the tests run both).

// contentType is the text format's media type.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// family is one metric family: its name, type and help text.
type family struct {
	name, typ, help string
}

// The families, in the order they are written (by name).
var (
	famBuild       = family{"lockfix_build_info", "gauge", "The lockfix build that serves these metrics; always 1."}
	famInfo        = family{"lockfix_config_info", "gauge", "The config of a valid watched lockfile, in labels: its 13 bytes in hex and each field; always 1."}
	famLastChange  = family{"lockfix_config_last_change_timestamp_seconds", "gauge", "Unix time the watched lockfile's content last changed: its modification time at start, then when a change was seen."}
	famMatches     = family{"lockfix_config_matches_reference", "gauge", "1 when the valid watched lockfile's 13 config bytes equal the reference lockfile's, else 0."}
	famDuration    = family{"lockfix_config_read_duration_seconds", "histogram", "Time to read, check and decode a watched lockfile."}
	famReadErrors  = family{"lockfix_config_read_errors_total", "counter", "Reads that found the watched lockfile missing, unreadable or invalid."}
	famReads       = family{"lockfix_config_reads_total", "counter", "Reads of the watched lockfile (at start and after each change seen on disk)."}
	famDifference  = family{"lockfix_config_reference_difference", "gauge", "A config field of the watched lockfile that differs from the reference's, with both values; always 1."}
	famValid       = family{"lockfix_config_valid", "gauge", "1 when the watched lockfile exists and passes every check of the format, else 0."}
	famFeature     = family{"lockfix_feature_enabled", "gauge", "1 when the feature flag is set in a valid watched lockfile, 0 when it is not; only the flags its version defines."}
	famFirstRead   = family{"lockfix_first_read_done", "gauge", "1 once serve has found and read every watched lockfile a first time, 0 before."}
	famPending     = family{"lockfix_files_pending_first_read", "gauge", "Watched lockfiles not read yet: serve answers while its first read of the files runs."}
	famMigStatus   = family{"lockfix_migrate_last_status", "gauge", "The outcome of the last 'lockfix migrate' run for a file, from its --report; always 1."}
	famMigOK       = family{"lockfix_migrate_report_ok", "gauge", "1 when the migrate report exists and every line of it was read, else 0."}
	famMigTime     = family{"lockfix_migrate_report_timestamp_seconds", "gauge", "Unix time the migrate report was last modified."}
	famViolations  = family{"lockfix_policy_violations", "gauge", "Findings of 'lockfix lint' in a valid watched lockfile under serve's --policy, by rule; 0 for each rule the policy checks that finds nothing."}
	famPackages    = family{"lockfix_packages", "gauge", "Number of packages in a valid watched lockfile."}
	infoLabelNames = infoLabels()
)

// infoLabels are the labels of lockfix_config_info, sorted: the path, the
// fingerprint and one per exported config field.
func infoLabels() []string {
	labels := []string{"path", "config_fingerprint"}
	for _, f := range configcmp.Fields {
		if f.Label != "" {
			labels = append(labels, f.Label)
		}
	}
	return sortedCopy(labels)
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// textWriter writes families and series; a family's header is written
// with its first series, so a family without series is left out.
type textWriter struct {
	w       *bufio.Writer
	started bool
	scratch []byte
}

func (t *textWriter) begin() { t.started = false }

// series writes one series of f: labels are name, value pairs in the
// order given (the callers give them sorted).
func (t *textWriter) series(f family, suffix string, v float64, labels ...string) {
	if !t.started {
		t.started = true
		t.w.WriteString("# HELP ")
		t.w.WriteString(f.name)
		t.w.WriteByte(' ')
		writeEscaped(t.w, f.help, false)
		t.w.WriteString("\n# TYPE ")
		t.w.WriteString(f.name)
		t.w.WriteByte(' ')
		t.w.WriteString(f.typ)
		t.w.WriteByte('\n')
	}
	t.w.WriteString(f.name)
	t.w.WriteString(suffix)
	if len(labels) > 0 {
		t.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				t.w.WriteByte(',')
			}
			t.w.WriteString(labels[i])
			t.w.WriteString(`="`)
			writeEscaped(t.w, labels[i+1], true)
			t.w.WriteByte('"')
		}
		t.w.WriteByte('}')
	}
	t.w.WriteByte(' ')
	t.scratch = appendValue(t.scratch[:0], v)
	t.w.Write(t.scratch)
	t.w.WriteByte('\n')
}

// appendValue appends v as the text format writes a sample value.
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// writeEscaped writes s escaped as the text format wants: a backslash and
// a newline always, a double quote in a label value.
func writeEscaped(w *bufio.Writer, s string, quote bool) {
	if !strings.ContainsAny(s, "\\\n\"") {
		w.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			w.WriteString(`\\`)
		case c == '\n':
			w.WriteString(`\n`)
		case c == '"' && quote:
			w.WriteString(`\"`)
		default:
			w.WriteByte(c)
		}
	}
}

// write writes every metric of the server.
func (s *Server) write(out io.Writer) error {
	t := &textWriter{w: bufio.NewWriterSize(out, 64<<10)}
	st := s.store
	files := st.snapshot()

	t.begin()
	t.series(famBuild, "", 1, "goversion", runtime.Version(), "version", s.version)

	// The reference's config, when it is valid.
	var ref *schema.Config
	for _, f := range files {
		if s.reference != "" && f.path == s.reference && f.state.Valid() {
			ref = &f.state.Lockfile.Config
		}
	}

	t.begin()
	// A fleet has few distinct configs: their label values are made
	// once per scrape, not once per file.
	byConfig := map[schema.Config][]string{}
	vals := make([]string, 0, 2*len(infoLabelNames))
	for _, f := range files {
		if !f.state.Valid() {
			continue
		}
		cfg := f.state.Lockfile.Config
		cv, ok := byConfig[cfg]
		if !ok {
			for _, name := range infoLabelNames {
				cv = append(cv, infoValue(name, "", cfg))
			}
			byConfig[cfg] = cv
		}
		vals = vals[:0]
		for i, name := range infoLabelNames {
			v := cv[i]
			if name == "path" {
				v = f.path
			}
			vals = append(vals, name, v)
		}
		t.series(famInfo, "", 1, vals...)
	}
	t.begin()
	for _, f := range files {
		if !f.lastChange.IsZero() {
			t.series(famLastChange, "", float64(f.lastChange.UnixNano())/1e9, "path", f.path)
		}
	}
	if ref != nil {
		t.begin()
		for _, f := range files {
			if f.state.Valid() && f.path != s.reference {
				t.series(famMatches, "", bool01(f.state.Lockfile.Config == *ref), "path", f.path)
			}
		}
	}
	st.writeHistogram(t)
	t.begin()
	for _, f := range files {
		t.series(famReadErrors, "", float64(f.errors), "path", f.path)
	}
	t.begin()
	for _, f := range files {
		t.series(famReads, "", float64(f.reads), "path", f.path)
	}
	if ref != nil {
		t.begin()
		diffs := map[schema.Config][]configcmp.Difference{} // per distinct config, as above
		for _, f := range files {
			if f.state.Valid() && f.path != s.reference {
				cfg := f.state.Lockfile.Config
				d, ok := diffs[cfg]
				if !ok {
					d = configcmp.Diff(cfg, *ref)
					diffs[cfg] = d
				}
				for _, d := range d {
					t.series(famDifference, "", 1, "field", d.Field, "path", f.path, "reference", d.Reference, "value", d.Value)
				}
			}
		}
	}
	t.begin()
	for _, f := range files {
		t.series(famValid, "", bool01(f.state.Valid()), "path", f.path)
	}
	t.begin()
	for _, f := range files {
		if !f.state.Valid() {
			continue
		}
		cfg := f.state.Lockfile.Config
		if sc, ok := schema.Lookup(cfg.Version); ok {
			for _, fl := range sc.Defines {
				t.series(famFeature, "", bool01(cfg.Flags&fl.Mask != 0), "flag", fl.Name, "path", f.path)
			}
		}
	}
	t.begin()
	done := false
	select {
	case <-s.scanned:
		done = true
	default:
	}
	t.series(famFirstRead, "", bool01(done))
	if n := st.watched.Load(); n >= 0 {
		t.begin()
		t.series(famPending, "", float64(max(n-int64(len(files)), 0)))
	}
	if s.report != nil {
		ok, mod, lines := s.report.snapshot()
		t.begin()
		// A report names each file once; a path given twice on
		// migrate's command line is shown with its last outcome.
		last := map[string]int{}
		for i, l := range lines {
			last[l.Path] = i
		}
		for i, l := range lines {
			if last[l.Path] == i {
				t.series(famMigStatus, "", 1, "path", l.Path, "reason", l.Reason, "status", l.Status)
			}
		}
		t.begin()
		t.series(famMigOK, "", bool01(ok))
		if !mod.IsZero() {
			t.begin()
			t.series(famMigTime, "", float64(mod.UnixNano())/1e9)
		}
	}
	t.begin()
	for _, f := range files {
		if f.state.Valid() {
			t.series(famPackages, "", float64(f.state.Packages), "path", f.path)
		}
	}
	t.begin()
	for _, f := range files {
		if f.state.Valid() {
			for _, r := range s.opts.PolicyRules {
				t.series(famViolations, "", float64(f.violations[r]), "path", f.path, "rule", r)
			}
		}
	}
	return t.w.Flush()
}

// infoValue is the value of the lockfix_config_info label name.
func infoValue(name, path string, cfg schema.Config) string {
	switch name {
	case "path":
		return path
	case "config_fingerprint":
		return configcmp.Fingerprint(cfg)
	}
	for _, f := range configcmp.Fields {
		if f.Label == name {
			return f.Value(cfg)
		}
	}
	return ""
}

// serveExposition answers a scrape, gzipped when the client accepts it.
func (s *Server) serveExposition(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", contentType)
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		s.write(w)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	// BestSpeed: a scrape of thousands of files compresses some 30 to 1
	// at this level, several times faster than the default level.
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	s.write(zw)
	zw.Close()
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}
