package cli

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needPromtool returns promtool's path from Debian's prometheus package;
// the test is skipped when it is missing, unless CI=true.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (CI=true): apt-get install -y prometheus")
		}
		t.Skip("promtool is not installed: apt-get install -y prometheus to run this test")
	}
	return p
}

var listening = regexp.MustCompile(`metrics on http://([0-9.:]+)/metrics`)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe runs 'lockfix serve' on a free loopback port, scrapes it,
// follows a change, and stops it with SIGTERM.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.MkdirAll(filepath.Join(dir, "b"), 0o755)
	a := filepath.Join(dir, "a", "bun.lockb")
	os.WriteFile(a, lockfile(t, 1, 3, 1), 0o644)
	os.WriteFile(filepath.Join(dir, "b", "bun.lockb"), lockfile(t, 2, 5, 2), 0o644)

	r := start(t, "serve", "--listen", "127.0.0.1:0", dir)
	m := listening.FindStringSubmatch(waitOutput(t, r.err, 0, "/metrics\n"))
	if m == nil {
		t.Fatalf("no address in %q", r.err.String())
	}
	if !strings.Contains(waitOutput(t, r.err, 0, "(2 valid)\n"), "read 2 lockfiles in ") {
		t.Errorf("stderr: %s", r.err.String())
	}
	base := "http://" + m[1]
	code, body := httpGet(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, `lockfix_config_info{config_fingerprint="0152e06bbe00000001011850`+`00",config_version="1",feature_flags="DEBUG",path="`+a+`",registry_hash="0x52e06bbe",terminal_cols="80",terminal_mode="cooked",terminal_rows="24"} 1`) {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	if code, h := httpGet(t, base+"/healthz"); code != 200 || !strings.HasPrefix(h, "ok") {
		t.Errorf("GET /healthz: %d %s", code, h)
	}

	pos := len(r.err.String())
	os.WriteFile(a+".new", atVersion(t, lockfile(t, 1, 3, 1), 2), 0o644)
	os.Rename(a+".new", a)
	waitOutput(t, r.err, pos, a+": changed (config.version: 1 -> 2)\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = httpGet(t, base+"/metrics")
		if strings.Contains(body, `config_version="2",feature_flags="DEBUG",path="`+a+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change never reached /metrics:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if code := r.interrupt(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0\n%s", code, r.err.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after exit")
	}
}

// TestServePromtool pipes a live scrape of 'lockfix serve' through
// 'promtool check metrics'.
func TestServePromtool(t *testing.T) {
	promtool := needPromtool(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "bun.lockb")
	os.WriteFile(good, lockfile(t, 2, 3, 1), 0o644)
	r := start(t, "serve", "--quiet", "--listen", "127.0.0.1:0", good, filepath.Join(dir, "missing.lockb"))
	m := listening.FindStringSubmatch(waitOutput(t, r.err, 0, "/metrics\n"))
	if m == nil {
		t.Fatalf("no address in %q", r.err.String())
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = resp.Body
	out, err := cmd.CombinedOutput()
	resp.Body.Close()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if code := r.interrupt(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestServeErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file := filepath.Join(t.TempDir(), "bun.lockb")
	os.WriteFile(file, lockfile(t, 1, 1, 1), 0o644)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve"}, ExitUsage, "no FILE"},
		{[]string{"serve", "--listen", "9090", file}, ExitUsage, "want host:port"},
		{[]string{"serve", "--listen", l.Addr().String(), file}, ExitOperational, "address already in use"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "/no/such/dir/bun.lockb"}, ExitOperational, "/no/such/dir"},
	} {
		var out bytes.Buffer
		if code := runWith(&out, &out, c.args...); code != c.code || !strings.Contains(out.String(), c.msg) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, code, c.code, c.msg, out.String())
		}
	}
}
