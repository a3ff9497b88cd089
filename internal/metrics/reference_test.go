package metrics

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// serveOpts is serve with options.
func serveOpts(t testing.TB, opts Options, paths ...string) string {
	t.Helper()
	s, err := New(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, nil)
	}()
	<-s.Scanned() // the tests look at the files' first state
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
	})
	return ts.URL
}

// withConfig writes a v2 lockfile whose config is changed by mess.
func withConfig(t testing.TB, path string, mess func(*schema.Config)) {
	t.Helper()
	l := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 3, Seed: 7, Flags: schema.FlagDebug | schema.FlagVerifyIntegrity})
	mess(&l.Config)
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, b)
}

func TestConfigInfoLabelsEveryField(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.lockb")
	withConfig(t, a, func(c *schema.Config) { c.Rows, c.Cols, c.TerminalMode = 50, 132, schema.ModeCbreak })
	_, body := get(t, serveOpts(t, Options{}, a)+"/metrics")
	want := map[string]string{"path": a, "config_version": "2", "registry_hash": "0x52e06bbe",
		"feature_flags": "DEBUG|VERIFY_INTEGRITY", "terminal_mode": "cbreak", "terminal_rows": "50", "terminal_cols": "132",
		"config_fingerprint": "0252e06bbe00000009023284" + "00"}
	if _, ok := find(parse(t, body), "lockfix_config_info", want); !ok {
		t.Errorf("no lockfix_config_info with %v:\n%s", want, body)
	}
}

func TestReference(t *testing.T) {
	dir := t.TempDir()
	ref, same, flag, rows := filepath.Join(dir, "ref.lockb"), filepath.Join(dir, "same.lockb"), filepath.Join(dir, "flag.lockb"), filepath.Join(dir, "rows.lockb")
	withConfig(t, ref, func(*schema.Config) {})
	withConfig(t, same, func(*schema.Config) {})
	withConfig(t, flag, func(c *schema.Config) { c.Flags &^= schema.FlagDebug })
	withConfig(t, rows, func(c *schema.Config) { c.Rows = 25; c.Cols = 100 })
	// The reference is watched without being named among the paths.
	url := serveOpts(t, Options{Reference: ref}, same, flag, rows)
	_, body := get(t, url+"/metrics")
	mf := parse(t, body)
	for path, want := range map[string]float64{same: 1, flag: 0, rows: 0} {
		if v, ok := find(mf, "lockfix_config_matches_reference", map[string]string{"path": path}); !ok || v != want {
			t.Errorf("%s: lockfix_config_matches_reference %v (found %v), want %v", path, v, ok, want)
		}
	}
	if _, ok := find(mf, "lockfix_config_matches_reference", map[string]string{"path": ref}); ok {
		t.Error("the reference is compared with itself")
	}
	if _, ok := find(mf, "lockfix_config_valid", map[string]string{"path": ref}); !ok {
		t.Error("the reference is not watched")
	}
	for _, d := range []map[string]string{
		{"path": flag, "field": "flags", "value": "VERIFY_INTEGRITY", "reference": "DEBUG|VERIFY_INTEGRITY"},
		{"path": rows, "field": "terminal.rows", "value": "25", "reference": "24"},
		{"path": rows, "field": "terminal.cols", "value": "100", "reference": "80"},
	} {
		if _, ok := find(mf, "lockfix_config_reference_difference", d); !ok {
			t.Errorf("no lockfix_config_reference_difference %v", d)
		}
	}
	if n := len(mf["lockfix_config_reference_difference"].GetMetric()); n != 3 {
		t.Errorf("%d differences, want 3", n)
	}

	// An invalid reference compares nothing (LockfileInvalid names it).
	b, _ := os.ReadFile(ref)
	b[0x12] ^= 1
	write(t, ref, b)
	_, body = get(t, serveOpts(t, Options{Reference: ref}, same)+"/metrics")
	if _, ok := parse(t, body)["lockfix_config_matches_reference"]; ok {
		t.Errorf("an invalid reference was compared:\n%s", body)
	}
}

func TestMigrateReport(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "migrate.jsonl")
	a := filepath.Join(dir, "a.lockb")
	withConfig(t, a, func(*schema.Config) {})
	url := serveOpts(t, Options{MigrateReport: report}, a)

	// Missing: not ok, no status.
	mf := parse(t, getBody(t, url))
	if v, ok := find(mf, "lockfix_migrate_report_ok", nil); !ok || v != 0 {
		t.Errorf("missing report: lockfix_migrate_report_ok %v %v, want 0", v, ok)
	}
	// Written after the start: the next scrape reads it.
	write(t, report, []byte(`{"path":"/srv/app/a/bun.lockb","from":1,"to":2,"status":"migrated","duration":0.001,"error":"","dropped":[]}
{"path":"/srv/app/b/bun.lockb","from":1,"to":2,"status":"refused","reason":"invalid","duration":0.001,"error":"ChecksumMismatch","dropped":[]}
`))
	mf = parse(t, getBody(t, url))
	if v, _ := find(mf, "lockfix_migrate_report_ok", nil); v != 1 {
		t.Errorf("lockfix_migrate_report_ok %v, want 1", v)
	}
	if _, ok := find(mf, "lockfix_migrate_report_timestamp_seconds", nil); !ok {
		t.Error("no lockfix_migrate_report_timestamp_seconds")
	}
	for _, want := range []map[string]string{
		{"path": "/srv/app/a/bun.lockb", "status": "migrated", "reason": ""},
		{"path": "/srv/app/b/bun.lockb", "status": "refused", "reason": "invalid"},
	} {
		if _, ok := find(mf, "lockfix_migrate_last_status", want); !ok {
			t.Errorf("no lockfix_migrate_last_status %v", want)
		}
	}
	// A torn line: what parses is shown, and the report is not ok.
	write(t, report, []byte(`{"path":"/srv/app/a/bun.lockb","from":2,"to":2,"status":"skipped","duration":0,"error":"","dropped":[]}
{"path":"/srv/app/b/bun.lo`))
	mf = parse(t, getBody(t, url))
	if v, _ := find(mf, "lockfix_migrate_report_ok", nil); v != 0 {
		t.Errorf("torn report: lockfix_migrate_report_ok %v, want 0", v)
	}
	if _, ok := find(mf, "lockfix_migrate_last_status", map[string]string{"path": "/srv/app/a/bun.lockb", "status": "skipped"}); !ok {
		t.Error("the torn report's first line is not shown")
	}
	if n := len(mf["lockfix_migrate_last_status"].GetMetric()); n != 1 {
		t.Errorf("%d statuses, want 1", n)
	}
}

func getBody(t testing.TB, url string) []byte {
	t.Helper()
	code, body := get(t, url+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	return body
}
