package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lockfix/lockfix/internal/cli"
)

func init() {
	scriptCmds["sarifvalid"] = cmdSarifValid
}

// npmToolsDir is where .ci/run installs the npm tools the lint tests run
// (npm install --prefix), unless LOCKFIX_NPM_TOOLS names another.
func npmToolsDir() string {
	if d := os.Getenv("LOCKFIX_NPM_TOOLS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "lockfix-npm")
}

// npmTool finds the command of an npm package: on PATH, or in
// npmToolsDir. It returns "" and why when it is missing; in CI
// (CI=true), where .ci/run installs it, a missing tool is a failure, not
// a reason to skip.
func npmTool(name string) (path, missing string) {
	if p, err := exec.LookPath(name); err == nil {
		return p, ""
	}
	p := filepath.Join(npmToolsDir(), "node_modules", ".bin", name)
	if _, err := os.Stat(p); err == nil {
		return p, ""
	}
	return "", fmt.Sprintf("%s is not installed (npm install --prefix %s lockfile-lint @microsoft/sarif-multitool, as .ci/run does)", name, npmToolsDir())
}

// cmdSarifValid checks a SARIF log with Microsoft's SARIF validator
// (sarif-multitool validate, the npm package @microsoft/sarif-multitool)
// and fails on any error it reports; its warnings are logged:
//
//	sarifvalid FILE
//
// Without the validator the check is skipped with a message (a testscript
// command cannot skip its script), except in CI, where it fails.
func cmdSarifValid(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sarifvalid")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: sarifvalid FILE")
	}
	tool, missing := npmTool("sarif-multitool")
	if tool == "" {
		if os.Getenv("CI") == "true" {
			ts.Fatalf("%s", missing)
		}
		ts.Logf("sarifvalid %s: skipped outside CI: %s", args[0], missing)
		return
	}
	out, err := exec.Command(tool, "validate", ts.MkAbs(args[0])).CombinedOutput()
	ts.Logf("sarif-multitool validate %s:\n%s", args[0], out)
	if err != nil {
		ts.Fatalf("sarif-multitool validate %s: %v", args[0], err)
	}
	if errLine.Match(out) || !bytes.Contains(out, []byte("Analysis completed successfully")) {
		ts.Fatalf("sarif-multitool validate %s reports errors", args[0])
	}
}

// errLine matches the validator's report of an error ("file(1,2): error
// SARIF1234: ...", or its own "error ERR997...").
var errLine = regexp.MustCompile(`(?m):\s*error\s`)

// lockfileLintFindings runs the real lockfile-lint (the npm package) on
// an npm package-lock.json and returns, per lockfile-lint check, the
// name@version of the packages it reports.
func lockfileLintFindings(t *testing.T, tool, lock string, args ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command(tool, append([]string{"--path", lock, "--type", "npm", "--format", "plain"}, args...)...)
	cmd.Dir = filepath.Dir(lock) // a directory with no lockfile-lint configuration
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("lockfile-lint: %v", err)
	}
	checks := map[string]string{
		"detected invalid protocol for package: ":            "https",
		"detected invalid host(s) for package: ":             "allowed-host",
		"detected invalid integrity hash type for package: ": "integrity-algorithm",
		// This one names the package without version or hash.
		"detected resolved URL for package with a different name: ": "name-matches-url",
	}
	found := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for prefix, rule := range checks {
			if key, ok := strings.CutPrefix(line, prefix); ok {
				// lockfile-lint keys a package as name@version-hash.
				if i := strings.LastIndexByte(key, '-'); i > 0 && rule != "name-matches-url" {
					key = key[:i]
				}
				found[rule] = append(found[rule], key)
			}
		}
	}
	if len(found) == 0 {
		t.Logf("lockfile-lint found nothing:\n%s", out)
	}
	return dedupe(found)
}

func dedupe(m map[string][]string) map[string][]string {
	for k, v := range m {
		slices.Sort(v)
		m[k] = slices.Compact(v)
	}
	return m
}

// runLockfix runs lockfix in this process and returns its stdout, stderr
// and exit code.
func runLockfix(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	app := cli.New(cli.Commands(), cli.Streams{Stdin: os.Stdin, Stdout: &out, Stderr: &errb})
	code := cli.Run(app, append([]string{"lockfix"}, args...))
	return out.String(), errb.String(), code
}

// plant changes every entry of the package-lock.json d whose name@version
// is key.
func plant(t *testing.T, d map[string]any, key string, change func(e map[string]any)) {
	t.Helper()
	n := 0
	for path, v := range d["packages"].(map[string]any) {
		e := v.(map[string]any)
		i := strings.LastIndex(path, "node_modules/")
		if i < 0 || e["link"] == true {
			continue
		}
		if path[i+len("node_modules/"):]+"@"+fmt.Sprint(e["version"]) == key {
			change(e)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("plant: no entry %s in the lockfile", key)
	}
}

// TestLintAgainstLockfileLint runs lockfix lint and the real
// lockfile-lint with the same policy on a real project's
// package-lock.json (testdata/npm, lockfile-lint's own, its hosts
// replaced by example names) with violations planted, and wants the same
// packages per check. Then the checks lockfile-lint lacks off the public
// registries: a URL naming another package, and another version.
func TestLintAgainstLockfileLint(t *testing.T) {
	tool, missing := npmTool("lockfile-lint")
	if tool == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing + "; skipped outside CI")
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "npm", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const reg = "https://registry.example.org/"
	// http URLs, another host, sha1 integrity; one package twice over.
	http := []string{"yargs@17.7.2", "@babel/core@7.22.9", "debug@4.3.4"}
	host := []string{"semver@6.3.1", "@jest/core@29.6.2", "debug@4.3.4"}
	sha1 := []string{"chalk@4.1.2", "ms@2.1.2"}
	for _, k := range http {
		plant(t, d, k, func(e map[string]any) {
			e["resolved"] = strings.Replace(e["resolved"].(string), "https://", "http://", 1)
		})
	}
	for _, k := range host {
		plant(t, d, k, func(e map[string]any) {
			e["resolved"] = strings.Replace(e["resolved"].(string), "registry.example.org", "evil.example.com", 1)
		})
	}
	for _, k := range sha1 {
		plant(t, d, k, func(e map[string]any) { e["integrity"] = "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=" })
	}
	// What lockfile-lint cannot see on a private registry: a trusted
	// host serving another package's tarball, or another version.
	plant(t, d, "lodash@4.17.21", func(e map[string]any) { e["resolved"] = reg + "lodash-es/-/lodash-es-4.17.21.tgz" })
	plant(t, d, "minimist@1.2.8", func(e map[string]any) { e["resolved"] = reg + "minimist/-/minimist-1.2.5.tgz" })
	lock := filepath.Join(dir, "package-lock.json")
	b, _ := json.MarshalIndent(d, "", "  ")
	if err := os.WriteFile(lock, b, 0o644); err != nil {
		t.Fatal(err)
	}

	want := lockfileLintFindings(t, tool, lock, "--validate-https", "--allowed-hosts", "registry.example.org", "--validate-integrity")
	lockb := filepath.Join(dir, "bun.lockb")
	if _, stderr, code := runLockfix("pack", "--to", "2", "-o", lockb, lock); code != 0 {
		t.Fatalf("pack: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := runLockfix("lint", "--format", "json", "--require-https", "--allowed-host", "registry.example.org", "--integrity", "sha512", lockb)
	if code != 4 {
		t.Fatalf("lint: exit %d, want 4: %s", code, stderr)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f struct{ Rule, Package string }
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("lint --format json line %q: %v", line, err)
		}
		got[f.Rule] = append(got[f.Rule], f.Package)
	}
	got = dedupe(got)
	planted := map[string][]string{"https": http, "allowed-host": host, "integrity-algorithm": sha1}
	for rule, pkgs := range dedupe(planted) {
		if !slices.Equal(want[rule], pkgs) {
			t.Errorf("lockfile-lint %s: %q, planted %q", rule, want[rule], pkgs)
		}
		if !slices.Equal(got[rule], want[rule]) {
			t.Errorf("%s: lockfix found %q, lockfile-lint %q", rule, got[rule], want[rule])
		}
	}
	if w := []string{"lodash@4.17.21"}; !slices.Equal(got["name-matches-url"], w) {
		t.Errorf("name-matches-url: %q, want %q", got["name-matches-url"], w)
	}
	if w := []string{"minimist@1.2.8"}; !slices.Equal(got["version-matches-url"], w) {
		t.Errorf("version-matches-url: %q, want %q", got["version-matches-url"], w)
	}
	if extra := slices.DeleteFunc(slices.Collect(maps.Keys(got)), func(r string) bool {
		_, ok := planted[r]
		return ok || r == "name-matches-url" || r == "version-matches-url"
	}); len(extra) > 0 {
		t.Errorf("lockfix found more: %q in %v", extra, got)
	}
	// lockfile-lint's own name check passes both: it checks names on the
	// public registries only.
	if names := lockfileLintFindings(t, tool, lock, "--allowed-hosts", "registry.example.org", "--validate-package-names"); len(names["name-matches-url"]) > 0 {
		t.Errorf("lockfile-lint --validate-package-names found %v", names["name-matches-url"])
	}
}
