package metrics

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

// TestAnswersWhileFinding: with Options.Find, the handlers answer before
// the files are found and read, and say so; once read, the files show.
func TestAnswersWhileFinding(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.lockb")
	withConfig(t, a, func(*schema.Config) {})
	release := make(chan struct{})
	s, err := New(nil, Options{Find: func() ([]string, error) {
		<-release // a directory walk that takes its time
		return []string{a}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, nil) }()
	ts := httptest.NewServer(s.Handler())
	defer func() {
		ts.Close()
		cancel()
		<-done
	}()

	mf := parse(t, getBody(t, ts.URL))
	if v, ok := find(mf, "lockfix_first_read_done", nil); !ok || v != 0 {
		t.Errorf("while finding: lockfix_first_read_done %v %v, want 0", v, ok)
	}
	if _, ok := mf["lockfix_config_valid"]; ok {
		t.Error("a file is shown before it was found")
	}
	if code, body := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz while finding: %d %s", code, body)
	}

	close(release)
	<-s.Scanned()
	mf = parse(t, getBody(t, ts.URL))
	if v, _ := find(mf, "lockfix_first_read_done", nil); v != 1 {
		t.Errorf("after the first read: lockfix_first_read_done %v, want 1", v)
	}
	if v, _ := find(mf, "lockfix_files_pending_first_read", nil); v != 0 {
		t.Errorf("lockfix_files_pending_first_read %v, want 0", v)
	}
	if v, ok := find(mf, "lockfix_config_valid", map[string]string{"path": a}); !ok || v != 1 {
		t.Errorf("lockfix_config_valid %v %v, want 1", v, ok)
	}
	if v, _ := find(mf, "lockfix_packages", map[string]string{"path": a}); v != 3 {
		t.Errorf("lockfix_packages %v, want 3 (from the header, the packages not kept)", v)
	}
}
