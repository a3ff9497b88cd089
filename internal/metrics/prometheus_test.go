package metrics

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
	"testing"
	"time"
)

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

// startPrometheus runs Debian's prometheus on loopback, scraping target
// every 500ms with the project's alert rules loaded, and returns its
// base URL.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join("..", "..", "ops", "prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: lockfix
    static_configs:
      - targets: [%q]
`, rules, target)
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
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, log.String())
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query runs an instant query and returns the label sets of the result.
func query(t *testing.T, base, q string) []map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	var out []map[string]string
	for _, x := range r.Data.Result {
		out = append(out, x.Metric)
	}
	return out
}

// eventually polls a query until it returns n series, for at most 30s.
func eventually(t *testing.T, base, q string, n int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := query(t, base, q)
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, %s returns %d series, want %d: %v", q, len(got), n, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPrometheusScrapes has a real Prometheus server scrape lockfix's
// metrics, changes a lockfile from version 1 to 2 by lockfix's atomic
// rewrite, and waits until Prometheus sees the new version.
func TestPrometheusScrapes(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: this test starts a Prometheus server")
	}
	_, v1, _, _, _ := fixture(t)
	_, srvURL := serve(t, v1)
	u, _ := url.Parse(srvURL)
	base := startPrometheus(t, u.Host)

	sel := fmt.Sprintf(`lockfix_config_info{job="lockfix",path=%q`, v1)
	got := eventually(t, base, sel+`,config_version="1"}`, 1)
	if got[0]["registry_hash"] != "0x52e06bbe" || got[0]["terminal_mode"] != "cooked" {
		t.Errorf("labels %v", got[0])
	}
	rewrite(t, v1, 2)
	eventually(t, base, sel+`,config_version="2"}`, 1)
	// The old series went stale at the first scrape without it.
	eventually(t, base, sel+`,config_version="1"}`, 0)
	eventually(t, base, fmt.Sprintf(`lockfix_config_reads_total{path=%q} == 2`, v1), 1)

	// The alert rules loaded into a real server too.
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health == "err" {
				t.Errorf("rule %s fails to evaluate", rule.Name)
			}
		}
	}
	if n < 6 {
		t.Errorf("prometheus loaded %d rules, want at least 6", n)
	}
}
