package lint_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/lint"
	"github.com/lockfix/lockfix/schema"
)

const (
	sha512 = "sha512-DWa0nT1TYt5cnVkx9QxA+6uQ/Mh4maIiPkArWOAWFuEMJIqfBkMnk3rznjpsGdNZh6O0RYlay14yuI9gRkDm+w=="
	sha1   = "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk="
	reg    = "https://registry.example.org/"
)

func pkg(name, version, resolved, integrity string) schema.Package {
	return schema.Package{Name: name, Version: version, Resolved: resolved, Integrity: integrity}
}

func tarball(registry, name, version string) string {
	base := name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		base = name[i+1:]
	}
	return registry + name + "/-/" + base + "-" + version + ".tgz"
}

func lockfile(pkgs ...schema.Package) *schema.Lockfile {
	_, h, _ := schema.RegistryHash(reg)
	return &schema.Lockfile{
		Config:   schema.Config{Version: 2, RegistryHash: h, TerminalMode: schema.ModeCooked, Rows: 24, Cols: 80},
		Packages: pkgs,
	}
}

func no() *bool { b := false; return &b }

// off is a policy with the default URL checks switched off, so that a
// test sees only the rule it is about.
func off(p lint.Policy) lint.Policy {
	if p.MatchNames == nil {
		p.MatchNames = no()
	}
	if p.MatchVersions == nil {
		p.MatchVersions = no()
	}
	return p
}

// TestRules runs each rule on records that keep it and records that break
// it, and wants findings for exactly the breaking ones.
func TestRules(t *testing.T) {
	good := pkg("left-pad", "1.3.0", tarball(reg, "left-pad", "1.3.0"), sha512)
	tests := []struct {
		name   string
		policy lint.Policy
		pkgs   []schema.Package
		want   []string // rule package, one per finding
	}{
		{"https", off(lint.Policy{RequireHTTPS: true}), []schema.Package{
			good,
			pkg("a", "1.0.0", tarball("http://registry.example.org/", "a", "1.0.0"), ""),
			pkg("b", "1.0.0", tarball("HTTP://registry.example.org/", "b", "1.0.0"), ""),
			pkg("c", "1.0.0", "", ""),
		}, []string{"https a@1.0.0", "https b@1.0.0"}},
		{"allowed-host", off(lint.Policy{AllowedHosts: []string{"registry.example.org", "https://mirror.example.net:8443/npm/"}}), []schema.Package{
			good,
			pkg("a", "1.0.0", tarball("https://evil.example.com/", "a", "1.0.0"), ""),
			pkg("b", "1.0.0", tarball("https://REGISTRY.example.ORG:443/", "b", "1.0.0"), ""),
			pkg("c", "1.0.0", tarball("https://mirror.example.net:8443/npm/", "c", "1.0.0"), ""),
			pkg("d", "1.0.0", tarball("https://mirror.example.net/npm/", "d", "1.0.0"), ""),
			pkg("e", "1.0.0", tarball("https://user@registry.example.org.evil.example.com/", "e", "1.0.0"), ""),
			pkg("f", "1.0.0", tarball("http://registry.example.org:80/", "f", "1.0.0"), ""),
			pkg("g", "1.0.0", "", ""),
		}, []string{"allowed-host a@1.0.0", "allowed-host d@1.0.0", "allowed-host e@1.0.0"}},
		{"allowed-host alias", off(lint.Policy{AllowedHosts: []string{"corp"}, HostAliases: map[string]string{"corp": "https://npm.corp.example.com/"}}), []schema.Package{
			pkg("a", "1.0.0", tarball("https://npm.corp.example.com/", "a", "1.0.0"), ""),
			pkg("b", "1.0.0", tarball(reg, "b", "1.0.0"), ""),
		}, []string{"allowed-host b@1.0.0"}},
		{"allowed-scheme", off(lint.Policy{AllowedSchemes: []string{"https:"}}), []schema.Package{
			good,
			pkg("a", "1.0.0", tarball("http://registry.example.org/", "a", "1.0.0"), ""),
		}, []string{"allowed-scheme a@1.0.0"}},
		{"integrity-missing", off(lint.Policy{RequireIntegrity: true}), []schema.Package{
			good,
			pkg("a", "1.0.0", "", ""),
			pkg("b", "1.0.0", "", sha1),
		}, []string{"integrity-missing a@1.0.0"}},
		{"integrity-algorithm", off(lint.Policy{Integrity: []string{"SHA512"}}), []schema.Package{
			good,
			pkg("a", "1.0.0", "", ""),
			pkg("b", "1.0.0", "", sha1),
		}, []string{"integrity-algorithm b@1.0.0"}},
		{"name-matches-url", lint.Policy{MatchVersions: no()}, []schema.Package{
			good,
			pkg("@scope/util", "2.0.0", tarball(reg, "@scope/util", "2.0.0"), ""),
			pkg("@scope/x", "2.0.0", reg+"@scope%2fx/-/x-2.0.0.tgz", ""),
			pkg("lodash", "4.17.21", tarball(reg, "evil-twin", "4.17.21"), ""),
			pkg("lodash", "4.17.22", reg+"lodash/-/evil-twin-4.17.22.tgz", ""),
			pkg("util", "2.0.0", tarball(reg, "@evil/util", "2.0.0"), ""),
			pkg("@scope/y", "1.0.0", tarball(reg, "y", "1.0.0"), ""),
			pkg("git", "1.0.0", "https://git.example.com/other/repo/archive/v1.tar.gz", ""),
			pkg("nested", "1.0.0", "https://registry.example.org/npm/private/nested/-/nested-1.0.0.tgz?token=x", ""),
		}, []string{"name-matches-url lodash@4.17.21", "name-matches-url lodash@4.17.22", "name-matches-url util@2.0.0", "name-matches-url @scope/y@1.0.0"}},
		{"version-matches-url", lint.Policy{MatchNames: no()}, []schema.Package{
			good,
			pkg("a", "1.0.0", tarball(reg, "a", "1.0.1"), ""),
			pkg("b", "1.0.0-rc.1", tarball(reg, "b", "1.0.0-rc.1"), ""),
			pkg("c", "1.0.0", tarball(reg, "other", "2.0.0"), ""),
		}, []string{"version-matches-url a@1.0.0"}},
		{"denied-package", off(lint.Policy{Deny: []string{"event-stream@3.3.6", "left-pad@<1.3.0", "@scope/bad", "flat@>=5.0.0 <5.0.3 || 6.x"}}), []schema.Package{
			good,
			pkg("left-pad", "1.2.0", "", ""),
			pkg("event-stream", "3.3.6", "", ""),
			pkg("event-stream", "3.3.5", "", ""),
			pkg("@scope/bad", "9.9.9", "", ""),
			pkg("flat", "5.0.2", "", ""),
			pkg("flat", "5.0.3", "", ""),
			pkg("flat", "6.1.0-rc.1", "", ""),
		}, []string{"denied-package left-pad@1.2.0", "denied-package event-stream@3.3.6", "denied-package @scope/bad@9.9.9", "denied-package flat@5.0.2", "denied-package flat@6.1.0-rc.1"}},
		{"defaults", lint.Policy{}, []schema.Package{
			good,
			pkg("a", "1.0.0", tarball("http://evil.example.com/", "a", "1.0.0"), sha1),
			pkg("b", "1.0.0", tarball(reg, "c", "2.0.0"), ""),
		}, []string{"name-matches-url b@1.0.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := lint.Compile(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range lint.Lint(lockfile(tt.pkgs...), nil, c) {
				got = append(got, f.Rule+" "+f.Package)
				if f.Message == "" || f.Expected == "" || f.Field == "" {
					t.Errorf("finding without message, expected or field: %+v", f)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

// TestHeaderRules checks the registry, flag and version rules and where
// their findings point.
func TestHeaderRules(t *testing.T) {
	l := lockfile(pkg("a", "1.0.0", tarball("https://mirror.example.net/", "a", "1.0.0"), ""))
	l.Config.Version = 1
	l.Config.Flags = schema.FlagDebug
	_, l.Config.RegistryHash, _ = schema.RegistryHash("https://mirror.example.net/")
	mv := 2
	_, err := lint.Compile(lint.Policy{Registry: "HTTPS://Registry.Example.org:443", RequireFlags: []string{"frozen_lockfile,debug"},
		ForbidFlags: []string{"offline", "Debug"}, MinVersion: &mv})
	if err == nil {
		t.Fatalf("DEBUG both required and forbidden: compiled")
	}
	c, err := lint.Compile(lint.Policy{Registry: "HTTPS://Registry.Example.org:443", RequireFlags: []string{"frozen_lockfile,debug"},
		ForbidFlags: []string{"offline", "DISABLE_ISOLATED_LINKER"}, MinVersion: &mv})
	if err != nil {
		t.Fatal(err)
	}
	fs := lint.Lint(l, nil, c)
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule)
		if f.Record != schema.NoRecord || f.Package != "" {
			t.Errorf("header finding with a record: %+v", f)
		}
	}
	want := []string{"registry", "required-flag", "min-version"}
	if !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q: %+v", got, want, fs)
	}
	if fs[0].Offset != schema.OffRegistryHash || fs[0].Length != 4 || !strings.Contains(fs[0].Value, "https://mirror.example.net/") ||
		!strings.Contains(fs[0].Expected, "0x52e06bbe (https://registry.example.org/)") {
		t.Errorf("registry finding %+v", fs[0])
	}
	if fs[1].Offset != schema.OffFeatureFlags || !strings.Contains(fs[1].Message, "FROZEN_LOCKFILE") || !strings.Contains(fs[1].Message, "migrate to version 2") {
		t.Errorf("required-flag finding %+v", fs[1])
	}
	if fs[2].Offset != schema.OffConfigVersion || fs[2].Value != "1" {
		t.Errorf("min-version finding %+v", fs[2])
	}
	l.Config.Version, l.Config.Flags = 2, schema.FlagFrozenLockfile|schema.FlagDebug|schema.FlagOffline
	_, l.Config.RegistryHash, _ = schema.RegistryHash(reg)
	got = got[:0]
	for _, f := range lint.Lint(l, nil, c) {
		got = append(got, f.Rule+" "+f.Expected)
	}
	if want := []string{"forbidden-flag OFFLINE not set"}; !slices.Equal(got, want) {
		t.Errorf("findings %q, want %q", got, want)
	}
}

// TestLocations checks that a finding carries its record's span and that
// the strings it keeps are copies.
func TestLocations(t *testing.T) {
	l := lockfile(pkg("a", "1.0.0", tarball(reg, "a", "1.0.0"), ""), pkg("b", "1.0.0", tarball(reg, "b", "2.0.0"), ""))
	spans := []schema.Span{{Offset: 0x68, Length: 100}, {Offset: 0xcc, Length: 120}}
	c, _ := lint.Compile(lint.Policy{})
	fs := lint.Lint(l, spans, c)
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Rule != lint.RuleVersionMatchesURL || f.Record != 1 || f.Offset != 0xcc || f.Length != 120 || f.Package != "b@1.0.0" ||
		f.Value != l.Packages[1].Resolved || f.Expected != tarball(reg, "b", "1.0.0") {
		t.Fatalf("finding %+v", f)
	}
}

// TestCompileRefuses lists policies that cannot be checked.
func TestCompileRefuses(t *testing.T) {
	mv := 300
	for _, p := range []lint.Policy{
		{AllowedHosts: []string{"npm"}},
		{AllowedHosts: []string{"yarn"}},
		{AllowedHosts: []string{"a/b"}},
		{AllowedHosts: []string{"https://"}},
		{AllowedSchemes: []string{"git+ssh://"}},
		{Integrity: []string{"md5"}},
		{Registry: "ftp://registry.example.org/"},
		{RequireFlags: []string{"FAST"}},
		{ForbidFlags: []string{"DEBUG,"}},
		{MinVersion: &mv},
		{Deny: []string{"left-pad@>>1"}},
		{Deny: []string{"Bad Name@1.0.0"}},
		{Deny: []string{"@1.0.0"}},
	} {
		if _, err := lint.Compile(p); !errors.Is(err, lint.ErrPolicy) {
			t.Errorf("Compile(%+v) = %v, want ErrPolicy", p, err)
		}
	}
	if _, err := lint.Compile(lint.Policy{AllowedHosts: []string{"npm"}, HostAliases: map[string]string{"npm": "registry.example.org"}}); err != nil {
		t.Errorf("a defined npm alias: %v", err)
	}
}

// TestParsePolicy reads a policy file and refuses unknown keys.
func TestParsePolicy(t *testing.T) {
	p, err := lint.ParsePolicy(strings.NewReader(`
require-https: true
allowed-hosts: [corp, registry.example.org]
host-aliases: {corp: npm.corp.example.com}
integrity: [sha512]
match-names: false
min-version: 2
deny: ["left-pad@<1.3.0"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.RequireHTTPS || len(p.AllowedHosts) != 2 || p.HostAliases["corp"] != "npm.corp.example.com" || *p.MatchNames || p.MatchVersions != nil || *p.MinVersion != 2 {
		t.Fatalf("policy %+v", p)
	}
	if _, err := lint.Compile(p); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"require-http: true\n", "allowed-hosts: registry.example.org\n", "min-version: two\n", "a: 1\n---\nb: 2\n", "[1, 2]\n"} {
		if _, err := lint.ParsePolicy(strings.NewReader(bad)); !errors.Is(err, lint.ErrPolicy) {
			t.Errorf("ParsePolicy(%q) = %v, want ErrPolicy", bad, err)
		}
	}
	if _, err := lint.ParsePolicy(strings.NewReader("")); err != nil {
		t.Errorf("an empty policy: %v", err)
	}
}

// FuzzParsePolicy checks that no policy file makes the parser or the
// compiler panic.
func FuzzParsePolicy(f *testing.F) {
	f.Add("require-https: true\nallowed-hosts: [a]\ndeny: [x@^1]\n")
	f.Add("host-aliases: {a: b}\nallowed-hosts: [a]\n")
	f.Add("min-version: 2\nregistry: https://registry.example.org/\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := lint.ParsePolicy(strings.NewReader(s))
		if err != nil {
			return
		}
		if c, err := lint.Compile(p); err == nil {
			lint.Lint(lockfile(pkg("a", "1.0.0", "https://x/a/-/a-1.0.0.tgz", "")), nil, c)
		}
	})
}

// TestCheckerRules lists the rules a policy turns on.
func TestCheckerRules(t *testing.T) {
	c, err := lint.Compile(lint.Policy{RequireHTTPS: true, ForbidFlags: []string{"DEBUG"}, MatchVersions: no()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Rules(), []string{"forbidden-flag", "https", "name-matches-url"}; !slices.Equal(got, want) {
		t.Errorf("Rules() = %q, want %q", got, want)
	}
}
