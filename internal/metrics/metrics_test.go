package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// needTool returns the path of a program from Debian's prometheus
// package. It skips the test when the program is missing, unless CI=true.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true): apt-get install -y prometheus", name)
		}
		t.Skipf("%s is not installed: apt-get install -y prometheus to run this test", name)
	}
	return p
}

// fixture writes the files of a small fleet and returns their paths:
// a valid v1, a valid v2 with flags, an invalid file and a missing one.
func fixture(t testing.TB) (dir string, v1, v2, bad, missing string) {
	t.Helper()
	dir = t.TempDir()
	for _, n := range []string{"a", "b", "c", "d"} {
		os.Mkdir(filepath.Join(dir, n), 0o755)
	}
	v1 = filepath.Join(dir, "a", "bun.lockb")
	v2 = filepath.Join(dir, "b", "bun.lockb")
	bad = filepath.Join(dir, "c", "bun.lockb")
	missing = filepath.Join(dir, "d", "bun.lockb")
	write(t, v1, lockgen.Bytes(lockgen.Options{Version: 1, Packages: 3, Seed: 1}))
	write(t, v2, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 5, Seed: 2,
		Flags: schema.FlagDebug | schema.FlagOffline}))
	b := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 1, Seed: 3})
	b[0x12] ^= 1
	write(t, bad, b)
	return
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces path with its content at version v through lockfix's
// own atomic write path.
func rewrite(t testing.TB, path string, v int) {
	t.Helper()
	h, err := atomicfile.Open(path, atomicfile.Options{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := schema.Decode(h.Data())
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Version = v
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Replace(b, func(b []byte) error { _, err := schema.Decode(b); return err }); err != nil {
		t.Fatal(err)
	}
}

// serve starts a Server over paths behind an httptest server on loopback.
func serve(t testing.TB, paths ...string) (*Server, string) {
	t.Helper()
	s, err := New(paths, Options{Version: "0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, nil)
	}()
	<-s.Scanned()                         // the tests look at the files' first state
	ts := httptest.NewServer(s.Handler()) // 127.0.0.1:0
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
	})
	return s, ts.URL
}

func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func parse(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return mf
}

// find returns the value of the series of name whose labels include
// every pair of want, and whether there is one.
func find(mf map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, lp := range m.Label {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	_, v1, v2, bad, missing := fixture(t)
	_, url := serve(t, v1, v2, bad, missing)
	code, body := get(t, url+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	mf := parse(t, body)
	p := func(path string) map[string]string { return map[string]string{"path": path} }
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"lockfix_config_info", map[string]string{"path": v1, "config_version": "1", "registry_hash": "0x52e06bbe", "terminal_mode": "cooked"}, 1},
		{"lockfix_config_info", map[string]string{"path": v2, "config_version": "2"}, 1},
		{"lockfix_config_valid", p(v1), 1},
		{"lockfix_config_valid", p(v2), 1},
		{"lockfix_config_valid", p(bad), 0},
		{"lockfix_config_valid", p(missing), 0},
		{"lockfix_packages", p(v1), 3},
		{"lockfix_packages", p(v2), 5},
		{"lockfix_feature_enabled", map[string]string{"path": v2, "flag": "OFFLINE"}, 1},
		{"lockfix_feature_enabled", map[string]string{"path": v2, "flag": "FROZEN_LOCKFILE"}, 0},
		{"lockfix_feature_enabled", map[string]string{"path": v1, "flag": "DEBUG"}, 1},
		{"lockfix_config_reads_total", p(v1), 1},
		{"lockfix_config_reads_total", p(missing), 1},
		{"lockfix_config_read_errors_total", p(v1), 0},
		{"lockfix_config_read_errors_total", p(bad), 1},
		{"lockfix_config_read_errors_total", p(missing), 1},
		{"lockfix_config_read_duration_seconds", nil, 4},
		{"lockfix_build_info", map[string]string{"version": "0.0.0-test"}, 1},
	}
	for _, c := range checks {
		got, ok := find(mf, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Absent series: no info for invalid files, no v2 flags in a v1 file,
	// no change time for a missing file.
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"lockfix_config_info", p(bad)},
		{"lockfix_packages", p(missing)},
		{"lockfix_feature_enabled", map[string]string{"path": v1, "flag": "OFFLINE"}},
		{"lockfix_config_last_change_timestamp_seconds", p(missing)},
	} {
		if _, ok := find(mf, c.name, c.labels); ok {
			t.Errorf("%s%v is exported", c.name, c.labels)
		}
	}
	st, _ := os.Stat(v1)
	if got, _ := find(mf, "lockfix_config_last_change_timestamp_seconds", p(v1)); got != float64(st.ModTime().UnixNano())/1e9 {
		t.Errorf("last change of %s = %v, want its mtime %v", v1, got, st.ModTime())
	}
	if mf["lockfix_config_reads_total"].GetType() != dto.MetricType_COUNTER ||
		mf["lockfix_config_read_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Error("wrong metric types")
	}
	code, body = get(t, url+"/healthz")
	if code != 200 || !strings.Contains(string(body), "4 lockfiles watched, 2 valid") {
		t.Errorf("/healthz: %d %s", code, body)
	}
}

// waitFor polls /metrics until cond holds.
func waitFor(t testing.TB, url string, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := get(t, url+"/metrics")
		mf := parse(t, body)
		if cond(mf) {
			return mf
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s\n%s", what, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsFollowChanges(t *testing.T) {
	_, v1, _, bad, missing := fixture(t)
	_, url := serve(t, v1, bad, missing)
	before := time.Now()
	rewrite(t, v1, 2)
	mf := waitFor(t, url, "config_version 2 of "+v1, func(mf map[string]*dto.MetricFamily) bool {
		_, ok := find(mf, "lockfix_config_info", map[string]string{"path": v1, "config_version": "2"})
		return ok
	})
	if _, ok := find(mf, "lockfix_config_info", map[string]string{"path": v1, "config_version": "1"}); ok {
		t.Error("the old info series is still exported")
	}
	if n, _ := find(mf, "lockfix_config_reads_total", map[string]string{"path": v1}); n != 2 {
		t.Errorf("reads_total %v, want 2", n)
	}
	if ts, _ := find(mf, "lockfix_config_last_change_timestamp_seconds", map[string]string{"path": v1}); ts < float64(before.Unix()) {
		t.Errorf("last change %v is before the change at %v", ts, before.Unix())
	}
	// The missing file appears, valid; the invalid one is deleted.
	write(t, missing, lockgen.Bytes(lockgen.Options{Version: 0, Packages: 2, Seed: 9}))
	os.Remove(bad)
	waitFor(t, url, "the created file valid and the deleted one counted", func(mf map[string]*dto.MetricFamily) bool {
		ok1, _ := find(mf, "lockfix_config_valid", map[string]string{"path": missing})
		n, _ := find(mf, "lockfix_config_read_errors_total", map[string]string{"path": bad})
		return ok1 == 1 && n == 2
	})
}

func TestCache(t *testing.T) {
	_, v1, _, _, _ := fixture(t)
	s, url := serve(t, v1)
	_, a := get(t, url+"/metrics")
	_, b := get(t, url+"/metrics")
	if !bytes.Equal(a, b) {
		t.Error("two scrapes without a change differ")
	}
	gen := s.Store().Generation()
	rewrite(t, v1, 0)
	waitFor(t, url, "version 0", func(mf map[string]*dto.MetricFamily) bool {
		_, ok := find(mf, "lockfix_config_info", map[string]string{"config_version": "0"})
		return ok
	})
	if s.Store().Generation() == gen {
		t.Error("the generation did not move")
	}
	// Compressed and plain responses are cached apart.
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding %q for a gzip request", resp.Header.Get("Content-Encoding"))
	}
	_, c := get(t, url+"/metrics")
	if !bytes.HasPrefix(c, []byte("# HELP")) {
		t.Errorf("plain scrape after a gzip one starts with %q", c[:min(20, len(c))])
	}
}

func TestHealthzNotRunning(t *testing.T) {
	_, v1, _, _, _ := fixture(t)
	s, err := New([]string{v1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.watcher.Load().Close()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/healthz before Run: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", rec.Code)
	}
}

// TestPromtoolCheckMetrics lints a live scrape with promtool, the linter
// Prometheus ships: naming rules, HELP text, counter suffixes.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := needTool(t, "promtool")
	_, v1, v2, bad, missing := fixture(t)
	_, url := serve(t, v1, v2, bad, missing)
	_, body := get(t, url+"/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- body ---\n%s", err, out, body)
	}
}
