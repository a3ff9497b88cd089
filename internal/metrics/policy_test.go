package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// TestPolicyViolations checks lockfix_policy_violations: one series per
// policy rule and valid file, with the count the policy gives, and none
// for an invalid file.
func TestPolicyViolations(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.lockb"), filepath.Join(dir, "bad.lockb")
	os.WriteFile(good, lockgen.Bytes(lockgen.Options{Version: 2, Packages: 40, Seed: 1}), 0o644)
	os.WriteFile(bad, []byte("BUN1 broken"), 0o644)
	url := serveOpts(t, Options{
		PolicyRules: []string{"https", "integrity-algorithm"},
		Policy: func(l *schema.Lockfile) map[string]int {
			n := 0
			for _, p := range l.Packages {
				if strings.HasPrefix(p.Integrity, "sha1-") {
					n++
				}
			}
			return map[string]int{"integrity-algorithm": n}
		},
	}, good, bad)
	mf := parse(t, getBody(t, url))
	got := map[string]float64{}
	for _, m := range mf["lockfix_policy_violations"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[filepath.Base(labels["path"])+" "+labels["rule"]] = m.GetGauge().GetValue()
	}
	if len(got) != 2 || got["good.lockb https"] != 0 || got["good.lockb integrity-algorithm"] < 1 {
		t.Fatalf("lockfix_policy_violations: %v", got)
	}
}
