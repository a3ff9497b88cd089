// Package ops holds the deployment files of lockfix (docker/, kubernetes/,
// prometheus/); its tests check each against the tool that consumes it.
package ops

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"gopkg.in/yaml.v3"

	"github.com/lockfix/lockfix/internal/configcmp"
)

// needTool returns the path of a program from Debian's prometheus
// package. It skips the test when the program is missing, unless CI=true.
func needTool(t *testing.T, name string) string {
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

func TestPromtoolCheckRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	out, err := exec.Command(promtool, "check", "rules", filepath.Join("prometheus", "rules.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	out, err := exec.Command(promtool, "test", "rules", filepath.Join("prometheus", "rules_test.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestRulesCoverage checks, without promtool, that every alert has a
// severity, a summary and a description naming a lockfix command, and
// that the unit tests have a firing and a not-firing case for each.
func TestRulesCoverage(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record      string            `yaml:"record"`
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	decodeFile(t, filepath.Join("prometheus", "rules.yml"), &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	decodeFile(t, filepath.Join("prometheus", "rules_test.yml"), &tests)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				if !strings.Contains(r.Expr, "lockfix_") {
					t.Errorf("%s: expression %q uses no lockfix metric", r.Record, r.Expr)
				}
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || !strings.Contains(r.Annotations["description"], "`lockfix ") {
				t.Errorf("%s: the annotations must have a summary and a description that names a lockfix command", r.Alert)
			}
			if !strings.Contains(r.Expr, "lockfix_") {
				t.Errorf("%s: expression %q uses no lockfix metric", r.Alert, r.Expr)
			}
			if !firing[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: rules_test.yml needs a firing case (%v) and a not-firing case (%v)", r.Alert, firing[r.Alert], quiet[r.Alert])
			}
		}
	}
	for _, want := range []string{"ExcessiveConfigReads", "ConfigDrift", "TerminalModeLeak", "ConfigVersionDrift", "RegistryHashChanged", "ConfigReadLatency",
		"LockfileInvalid", "ReferenceMismatch", "MigrationFailed", "MigrateReportMissing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

func decodeFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// instruction is one line of a Dockerfile, continuations joined.
type instruction struct {
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends in a continuation", path)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join("docker", "Dockerfile"))
	known := map[string]bool{"ARG": true, "FROM": true, "WORKDIR": true, "COPY": true, "RUN": true, "ENV": true,
		"USER": true, "EXPOSE": true, "ENTRYPOINT": true, "CMD": true, "LABEL": true}
	var stages []string
	var lastStage []instruction
	staticBuild := false
	for _, in := range ins {
		if !known[in.cmd] {
			t.Errorf("unknown instruction %s %s", in.cmd, in.args)
		}
		switch in.cmd {
		case "FROM":
			f := strings.Fields(in.args)
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stages = append(stages, f[2])
			} else {
				stages = append(stages, "")
			}
			lastStage = nil
		case "RUN":
			if strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/lockfix") {
				staticBuild = true
			}
		}
		lastStage = append(lastStage, in)
	}
	if len(stages) < 2 || stages[0] == "" {
		t.Errorf("want a multi-stage build with a named build stage, got stages %q", stages)
	}
	if !staticBuild {
		t.Error("no RUN builds ./cmd/lockfix with CGO_ENABLED=0")
	}
	var user, entry string
	copied := false
	for _, in := range lastStage {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "COPY":
			if strings.Contains(in.args, "--from="+stages[0]) && strings.Contains(in.args, "lockfix") {
				copied = true
			}
		}
	}
	if !copied {
		t.Errorf("the final stage does not copy the binary from %q", stages[0])
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("the final stage runs as %q, want a non-root user", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entry), &ep); err != nil || !slices.Equal(ep, []string{"lockfix"}) {
		t.Errorf(`ENTRYPOINT %s, want ["lockfix"] (exec form)`, entry)
	}
}

// TestDockerignore applies the repository's .dockerignore the way docker
// does (moby's own pattern matcher) to the files of the checkout: the
// build context keeps every file 'go build ./cmd/lockfix' reads and
// leaves out .git, the tests and their fixtures.
func TestDockerignore(t *testing.T) {
	root := ".."
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	sent := func(path string) bool {
		ignored, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return !ignored
	}
	// What the build reads: go.mod, go.sum, and the Go and embedded
	// files of every package of this module that ./cmd/lockfix imports.
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}", "./cmd/lockfix")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(l)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(abs, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		for _, name := range fields[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %d files: %q", len(needed), needed)
	}
	for _, p := range needed {
		if !sent(p) {
			t.Errorf("the build needs %s, which .dockerignore leaves out", p)
		}
	}
	for _, p := range []string{".git", ".git/HEAD", ".git/objects/pack/x.pack", "ops/ops_test.go",
		"schema/v2/v2_test.go", "testdata/script/validate.txtar", "schema/testdata/fuzz/FuzzDecode/0", "docs/operations.md", ".ci/run"} {
		if sent(p) {
			t.Errorf("%s is sent to the docker daemon", p)
		}
	}
}

// TestConfigDriftCoversEveryField checks that the recording rule behind
// ConfigDrift counts every config field serve exports as a label, but the
// version (ConfigVersionDrift's), so that a field added to serve cannot be
// left out of the drift alert.
func TestConfigDriftCoversEveryField(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	decodeFile(t, filepath.Join("prometheus", "rules.yml"), &rules)
	expr := ""
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record == "path_field:lockfix_config_values:count" {
				expr = r.Expr
			}
		}
	}
	if expr == "" {
		t.Fatal("no recording rule path_field:lockfix_config_values:count")
	}
	for _, f := range configcmp.Fields {
		if f.Label == "" || f.Label == "config_version" {
			continue
		}
		want := fmt.Sprintf(`count by (path, %s) (lockfix_config_info)), "field", %q`, f.Label, f.Name)
		if !strings.Contains(expr, want) {
			t.Errorf("the drift rule does not count %s (label %s): want %s", f.Name, f.Label, want)
		}
	}
}
