package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// watchedPath is the path both instances watch, relative to each one's
// working directory, so that their series carry the same path label as
// two nodes' would.
const watchedPath = "srv/app/bun.lockb"

// fleetLockfile is a v2 lockfile whose config mess changes.
func fleetLockfile(t *testing.T, mess func(*schema.Config)) []byte {
	t.Helper()
	l := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 6, Seed: 42, Flags: schema.FlagDebug | schema.FlagVerifyIntegrity})
	mess(&l.Config)
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceFile replaces path with b the way lockfix and installers do:
// a new file renamed over the old one.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// instance is one 'lockfix serve' process standing for a node.
type instance struct {
	dir  string // its working directory, the node's root
	addr string // host:port of its /metrics
}

// startInstance writes b at watchedPath under a new directory and runs
// 'lockfix serve' there on a free loopback port.
func startInstance(t *testing.T, b []byte, extra ...string) instance {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, watchedPath)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0"}, extra...)
	args = append(args, watchedPath)
	base := startLockfix(t, dir, nil, args...)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return instance{dir, u.Host}
}

// promServer is a Prometheus server for a test.
type promServer struct {
	base string
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shortRules writes a copy of the repository's rules.yml with every
// 'for:' shortened to forDur, and returns its path.
func shortRules(t *testing.T, forDur string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`)
	if len(re.FindAll(b, -1)) < 5 {
		t.Fatal("rules.yml has fewer 'for:' lines than expected: has the format changed?")
	}
	b = re.ReplaceAll(b, []byte("${1}"+forDur))
	p := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startPrometheus runs Debian's prometheus on loopback, scraping the
// targets every 250ms and evaluating the rules file every 250ms.
func startPrometheus(t *testing.T, rules string, targets ...string) promServer {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 250ms
  scrape_timeout: 200ms
  evaluation_interval: 250ms
rule_files:
  - %q
scrape_configs:
  - job_name: lockfix
    static_configs:
      - targets: [%s]
`, rules, strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel() // kills the process this test started, by its handle
		<-exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	p := promServer{"http://" + addr}
	waitFor(t, 30*time.Second, "prometheus to be ready", func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, log.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

// waitFor polls cond until it holds, for at most d; cond also says what
// it saw, for the failure message.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still waiting for %s; last saw: %s", d, what, saw)
		}
		time.Sleep(100 * time.Millisecond) // the poll's period, not a wait for the condition
	}
}

// alert is one entry of Prometheus's /api/v1/alerts.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p promServer) alerts(t *testing.T, name string) []alert {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []alert `json:"alerts"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/alerts", &r)
	var out []alert
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

// query runs an instant query and returns the number of series.
func (p promServer) query(t *testing.T, q string) int {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(q), &r)
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	return len(r.Data.Result)
}

// lastEvaluation is when the rule group last ran.
func (p promServer) lastEvaluation(t *testing.T) time.Time {
	t.Helper()
	var r struct {
		Data struct {
			Groups []struct {
				LastEvaluation time.Time `json:"lastEvaluation"`
				Rules          []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
					Error  string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/rules", &r)
	if len(r.Data.Groups) != 1 {
		t.Fatalf("%d rule groups loaded, want 1", len(r.Data.Groups))
	}
	for _, rule := range r.Data.Groups[0].Rules {
		if rule.Health == "err" {
			t.Errorf("rule %s fails: %s", rule.Name, rule.Error)
		}
	}
	return r.Data.Groups[0].LastEvaluation
}

func (p promServer) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// firing waits until the alert fires with labels including want, and
// returns it.
func (p promServer) firing(t *testing.T, name string, want map[string]string, check func(alert) bool) alert {
	t.Helper()
	var got alert
	waitFor(t, 60*time.Second, name+" to fire", func() (bool, string) {
		as := p.alerts(t, name)
	next:
		for _, a := range as {
			for k, v := range want {
				if a.Labels[k] != v {
					continue next
				}
			}
			if a.State == "firing" && (check == nil || check(a)) {
				got = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", as)
	})
	return got
}

// TestPrometheusConfigDrift: a real Prometheus scrapes two lockfix serve
// instances whose lockfiles differ only in a flag, then only in the
// terminal rows, with the repository's rules (the 'for:' shortened), and
// ConfigDrift fires each time naming the field; ReferenceMismatch fires
// for the instance whose file differs from the reference.
func TestPrometheusConfigDrift(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: this test starts a Prometheus server")
	}
	needTool(t, "prometheus")
	good := fleetLockfile(t, func(*schema.Config) {})
	ref := filepath.Join(t.TempDir(), "reference.lockb")
	if err := os.WriteFile(ref, good, 0o644); err != nil {
		t.Fatal(err)
	}
	a := startInstance(t, good, "--reference", ref)
	b := startInstance(t, fleetLockfile(t, func(c *schema.Config) { c.Flags &^= schema.FlagDebug }), "--reference", ref)
	p := startPrometheus(t, shortRules(t, "1s"), a.addr, b.addr)

	drift := p.firing(t, "ConfigDrift", map[string]string{"path": watchedPath}, nil)
	if d := drift.Annotations["description"]; !strings.Contains(d, "Instances disagree on flags (2 values) of "+watchedPath) {
		t.Errorf("ConfigDrift description %q does not name the flags alone", d)
	}
	mism := p.firing(t, "ReferenceMismatch", map[string]string{"instance": b.addr, "path": watchedPath}, nil)
	if d := mism.Annotations["description"]; !strings.Contains(d, "flags (VERIFY_INTEGRITY, the reference has DEBUG|VERIFY_INTEGRITY)") {
		t.Errorf("ReferenceMismatch description %q", d)
	}
	if as := p.alerts(t, "ReferenceMismatch"); len(as) != 1 {
		t.Errorf("ReferenceMismatch alerts %+v, want node b's only", as)
	}

	// Now only the rows differ: the alert names terminal.rows, not flags.
	replaceFile(t, filepath.Join(b.dir, watchedPath), fleetLockfile(t, func(c *schema.Config) { c.Rows = 25 }))
	drift = p.firing(t, "ConfigDrift", map[string]string{"path": watchedPath}, func(a alert) bool {
		return strings.Contains(a.Annotations["description"], "terminal.rows")
	})
	if d := drift.Annotations["description"]; !strings.Contains(d, "Instances disagree on terminal.rows (2 values) of "+watchedPath) {
		t.Errorf("ConfigDrift description %q does not name terminal.rows alone", d)
	}
}

// TestPrometheusNoDrift: two instances with identical lockfiles, scraped
// and evaluated for longer than the shortened 'for:', never raise
// ConfigDrift (neither pending nor firing).
func TestPrometheusNoDrift(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: this test starts a Prometheus server")
	}
	needTool(t, "prometheus")
	b := fleetLockfile(t, func(c *schema.Config) { c.TerminalMode = schema.ModeRaw; c.Rows = 50 })
	x, y := startInstance(t, b), startInstance(t, b)
	p := startPrometheus(t, shortRules(t, "1s"), x.addr, y.addr)

	both := fmt.Sprintf(`count(lockfix_config_info{path=%q}) == 2`, watchedPath)
	waitFor(t, 60*time.Second, "both instances' lockfix_config_info", func() (bool, string) {
		return p.query(t, both) == 1, both
	})
	// Both were scraped by now; let the rules run for twice the 'for:'
	// past this moment, then no ConfigDrift may have been raised.
	seen := time.Now()
	waitFor(t, 60*time.Second, "two seconds of rule evaluations", func() (bool, string) {
		last := p.lastEvaluation(t)
		return last.After(seen.Add(2 * time.Second)), last.String()
	})
	if as := p.alerts(t, "ConfigDrift"); len(as) != 0 {
		t.Errorf("ConfigDrift raised for identical instances: %+v", as)
	}
	if n := p.query(t, `ALERTS{alertname="ConfigDrift"} or ALERTS_FOR_STATE{alertname="ConfigDrift"}`); n != 0 {
		t.Errorf("ConfigDrift was pending or firing: %d series", n)
	}
	if n := p.query(t, fmt.Sprintf(`path_field:lockfix_config_values:count{path=%q} == 1`, watchedPath)); n != 5 {
		t.Errorf("%d fields of %s have one value, want 5 (the recording rule did not run?)", n, watchedPath)
	}
}
