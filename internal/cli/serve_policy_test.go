package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServePolicy runs serve --policy and wants the policy's findings
// per rule in lockfix_policy_violations, 0 for a rule that finds nothing.
func TestServePolicy(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "bun.lockb")
	os.WriteFile(a, lockfile(t, 2, 40, 1), 0o644)
	policy := filepath.Join(dir, "policy.yml")
	os.WriteFile(policy, []byte("require-https: true\nintegrity: [sha512]\nforbid-flags: [DEBUG]\n"), 0o644)

	r := start(t, "serve", "--listen", "127.0.0.1:0", "--policy", policy, a)
	m := listening.FindStringSubmatch(waitOutput(t, r.err, 0, "/metrics\n"))
	if m == nil {
		t.Fatalf("no address in %q", r.err.String())
	}
	_, body := httpGet(t, "http://"+m[1]+"/metrics")
	for _, want := range []string{
		`lockfix_policy_violations{path="` + a + `",rule="https"} 0`,
		`lockfix_policy_violations{path="` + a + `",rule="forbidden-flag"} 1`,
		`lockfix_policy_violations{path="` + a + `",rule="name-matches-url"} 0`,
		`lockfix_policy_violations{path="` + a + `",rule="integrity-algorithm"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `rule="integrity-algorithm"} 0`) {
		t.Errorf("no integrity-algorithm finding in a file with sha1 and sha256 integrity")
	}
	if code := r.interrupt(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0\n%s", code, r.err.String())
	}

	// A bad policy is a usage error before anything is served.
	os.WriteFile(policy, []byte("require-http: true\n"), 0o644)
	if code := runWith(io.Discard, io.Discard, "serve", "--listen", "127.0.0.1:0", "--policy", policy, a); code != ExitUsage {
		t.Errorf("serve with a bad policy: exit %d, want %d", code, ExitUsage)
	}
}
