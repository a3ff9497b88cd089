package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"

	"github.com/lockfix/lockfix/schema"
)

// Policy is what a fleet's lockfiles must keep, as a user writes it in a
// policy file (YAML, the keys below) or with flags. The zero Policy
// checks names and versions against the URLs (MatchNames and
// MatchVersions nil mean on) and nothing else.
type Policy struct {
	RequireHTTPS bool `yaml:"require-https"`
	// AllowedHosts are host names (or host:port), URLs whose host is
	// taken, or names of HostAliases.
	AllowedHosts     []string `yaml:"allowed-hosts"`
	AllowedSchemes   []string `yaml:"allowed-schemes"`
	RequireIntegrity bool     `yaml:"require-integrity"`
	// Integrity lists the allowed integrity algorithms (sha512, ...).
	Integrity     []string `yaml:"integrity"`
	MatchNames    *bool    `yaml:"match-names"`
	MatchVersions *bool    `yaml:"match-versions"`
	// Registry is the default registry URL the header must name.
	Registry     string   `yaml:"registry"`
	RequireFlags []string `yaml:"require-flags"`
	ForbidFlags  []string `yaml:"forbid-flags"`
	MinVersion   *int     `yaml:"min-version"`
	// Deny lists NAME@RANGE (npm semver ranges) or NAME for every version.
	Deny []string `yaml:"deny"`
	// HostAliases names hosts for AllowedHosts, as lockfile-lint's npm
	// and yarn aliases do; lockfix defines none itself.
	HostAliases map[string]string `yaml:"host-aliases"`
}

// ErrPolicy is wrapped by every error about a policy that cannot be
// checked.
var ErrPolicy = errors.New("bad policy")

// ParsePolicy reads a YAML policy strictly: an unknown key, a value of
// the wrong type or a second document is an error.
func ParsePolicy(r io.Reader) (Policy, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPolicy+1))
	if err != nil {
		return Policy{}, err
	}
	if len(b) > maxPolicy {
		return Policy{}, fmt.Errorf("%w: the policy is larger than %d bytes", ErrPolicy, maxPolicy)
	}
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Policy{}, fmt.Errorf("%w: a policy file holds one YAML document", ErrPolicy)
	}
	return p, nil
}

// maxPolicy bounds a policy file.
const maxPolicy = 1 << 20

// lockfileLintAliases are the names lockfile-lint resolves to public
// registries itself. lockfix ships no public host names, so these must be
// defined in HostAliases to be used.
var lockfileLintAliases = []string{"npm", "yarn", "verdaccio"}

// denyRule is one NAME@RANGE of a deny list.
type denyRule struct {
	spec       string
	all        bool
	constraint *semver.Constraints
}

// Checker is a compiled Policy, ready to check lockfiles.
type Checker struct {
	policy Policy

	hosts         map[string]bool
	hostSlice     []string // the hosts, when there are few
	hostList      string
	schemes       map[string]bool
	schemeList    string
	algorithms    []string
	algorithmList string
	registry      string
	registryHash  uint32
	require       []schema.FlagInfo
	forbid        []schema.FlagInfo
	minVersion    int
	deny          map[string][]denyRule
	denyNames     []string // deny's names, when there are few

	// originChecks read only the scheme and host of a resolved URL;
	// recordChecks the rest of a record. Each is in the order of Rules,
	// the origin ones first.
	originChecks []recordCheck
	recordChecks []recordCheck
	perPackage   bool
	needsURL     bool // a record check reads the resolved URL
}

// Compile checks p and returns its Checker. Every problem is an error
// wrapping ErrPolicy that names the setting.
func Compile(p Policy) (*Checker, error) {
	c := &Checker{policy: p, minVersion: -1}
	bad := func(format string, args ...any) (*Checker, error) {
		return nil, fmt.Errorf("%w: %s", ErrPolicy, fmt.Sprintf(format, args...))
	}
	if p.RequireHTTPS {
		c.originChecks = append(c.originChecks, ruleHTTPS)
	}
	if len(p.AllowedHosts) > 0 {
		c.hosts = map[string]bool{}
		var list []string
		for _, h := range p.AllowedHosts {
			host, err := resolveHost(h, p.HostAliases)
			if err != nil {
				return bad("allowed host %q: %v", h, err)
			}
			if !c.hosts[host] {
				list = append(list, host)
			}
			c.hosts[host] = true
		}
		c.hostList = strings.Join(list, ", ")
		if len(list) <= 8 {
			c.hostSlice = list
		}
		c.originChecks = append(c.originChecks, ruleAllowedHost)
	}
	if len(p.AllowedSchemes) > 0 {
		c.schemes = map[string]bool{}
		var list []string
		for _, s := range p.AllowedSchemes {
			s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ":"))
			if s == "" || strings.ContainsAny(s, ":/ ") {
				return bad("allowed scheme %q is not a URL scheme (want https or http)", s)
			}
			if !c.schemes[s] {
				list = append(list, s)
			}
			c.schemes[s] = true
		}
		c.schemeList = strings.Join(list, ", ")
		c.originChecks = append(c.originChecks, ruleAllowedScheme)
	}
	if p.RequireIntegrity {
		c.recordChecks = append(c.recordChecks, ruleIntegrityMissing)
	}
	if len(p.Integrity) > 0 {
		for _, a := range p.Integrity {
			a = strings.ToLower(strings.TrimSpace(a))
			known := false
			for _, k := range schema.IntegrityAlgorithms {
				known = known || k.Name == a
			}
			if !known {
				return bad("integrity algorithm %q is not sha1, sha256, sha384 or sha512", a)
			}
			if !slices.Contains(c.algorithms, a) {
				c.algorithms = append(c.algorithms, a)
			}
		}
		c.algorithmList = strings.Join(c.algorithms, " or ")
		c.recordChecks = append(c.recordChecks, ruleIntegrityAlgorithm)
	}
	if p.MatchNames == nil || *p.MatchNames {
		c.recordChecks = append(c.recordChecks, ruleNameMatchesURL)
	}
	if p.MatchVersions == nil || *p.MatchVersions {
		c.recordChecks = append(c.recordChecks, ruleVersionMatchesURL)
	}
	if p.Registry != "" {
		norm, h, err := schema.RegistryHash(p.Registry)
		if err != nil {
			return bad("registry: %v", err)
		}
		c.registry, c.registryHash = norm, h
	}
	for _, list := range []struct {
		names []string
		into  *[]schema.FlagInfo
		what  string
	}{{p.RequireFlags, &c.require, "required flag"}, {p.ForbidFlags, &c.forbid, "forbidden flag"}} {
		for _, n := range list.names {
			for _, part := range strings.Split(n, ",") {
				f, err := schema.ParseFlag(strings.TrimSpace(part))
				if err != nil {
					return bad("%s: %v", list.what, err)
				}
				if !slices.ContainsFunc(*list.into, func(x schema.FlagInfo) bool { return x.Mask == f.Mask }) {
					*list.into = append(*list.into, f)
				}
			}
		}
	}
	for _, r := range c.require {
		if slices.ContainsFunc(c.forbid, func(f schema.FlagInfo) bool { return f.Mask == r.Mask }) {
			return bad("flag %s is both required and forbidden", r.Name)
		}
	}
	if p.MinVersion != nil {
		if *p.MinVersion < 0 || *p.MinVersion > 255 {
			return bad("min-version %d is not a config version (0-255)", *p.MinVersion)
		}
		c.minVersion = *p.MinVersion
	}
	for _, spec := range p.Deny {
		name, d, err := parseDeny(spec)
		if err != nil {
			return bad("deny %q: %v", spec, err)
		}
		if c.deny == nil {
			c.deny = map[string][]denyRule{}
		}
		if c.deny[name] == nil {
			c.denyNames = append(c.denyNames, name)
		}
		c.deny[name] = append(c.deny[name], d)
	}
	if len(c.denyNames) > 8 {
		c.denyNames = nil
	}
	c.needsURL = len(c.originChecks) > 0 || slices.Contains(c.recordChecks, ruleNameMatchesURL) ||
		slices.Contains(c.recordChecks, ruleVersionMatchesURL)
	if len(c.deny) > 0 {
		c.recordChecks = append(c.recordChecks, ruleDenied)
	}
	c.perPackage = len(c.originChecks)+len(c.recordChecks) > 0
	return c, nil
}

// Policy returns the policy c was compiled from.
func (c *Checker) Policy() Policy { return c.policy }

// resolveHost turns an allowed-host value into the host it names: an
// alias's host, the host of a URL, or the value itself, in lower case.
func resolveHost(h string, aliases map[string]string) (string, error) {
	h = strings.TrimSpace(h)
	if a, ok := aliases[h]; ok {
		h = strings.TrimSpace(a)
	} else if slices.Contains(lockfileLintAliases, h) {
		return "", fmt.Errorf("lockfile-lint resolves %q to a public registry itself; lockfix names no public registry: define it with --host-alias %s=HOST or host-aliases in the policy file", h, h)
	}
	if strings.Contains(h, "://") {
		u, err := url.Parse(h)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%q is neither a host nor a URL with a host", h)
		}
		r := splitURL(h)
		h = r.host
	}
	if h == "" || strings.ContainsAny(h, "/?#@ ") {
		return "", fmt.Errorf("%q is not a host name (want registry.example.org, host:port or a URL)", h)
	}
	return strings.ToLower(h), nil
}

// ParseAlias parses NAME=HOST, the form of the --host-alias flag.
func ParseAlias(s string) (name, host string, err error) {
	name, host, ok := strings.Cut(s, "=")
	name, host = strings.TrimSpace(name), strings.TrimSpace(host)
	if !ok || name == "" || host == "" {
		return "", "", fmt.Errorf("%w: host alias %q: want NAME=HOST, e.g. corp=registry.example.org", ErrPolicy, s)
	}
	return name, host, nil
}

// parseDeny parses NAME@RANGE or NAME. A scoped name's own '@' comes
// first, so the range starts at the next one.
func parseDeny(spec string) (string, denyRule, error) {
	spec = strings.TrimSpace(spec)
	d := denyRule{spec: spec}
	at := strings.IndexByte(spec[min(1, len(spec)):], '@')
	name, rng := spec, ""
	if at >= 0 {
		at++
		name, rng = spec[:at], strings.TrimSpace(spec[at+1:])
	}
	if field, rule := schema.CheckPackage(&schema.Package{Name: name, Version: "0.0.0"}); field != "" {
		return "", d, fmt.Errorf("%s (want NAME@RANGE, e.g. left-pad@<1.3.0)", rule)
	}
	if rng == "" || rng == "*" {
		d.all = true
		return name, d, nil
	}
	cs, err := semver.NewConstraint(rng)
	if err != nil {
		return "", d, fmt.Errorf("range %q: %v (want an npm semver range such as 1.2.3, <2.0.0, ^1.4 or >=1.0.0 <1.2.5)", rng, err)
	}
	// A denied range takes its pre-releases with it: 2.0.0-rc.1 of a
	// package denied at >=1.0.0 is just as bad.
	cs.IncludePrerelease = true
	d.constraint = cs
	return name, d, nil
}

// Rules returns the ids of the rules c checks, in the order of Rules.
func (c *Checker) Rules() []string {
	p := c.policy
	on := map[string]bool{
		RuleRegistry:           c.registry != "",
		RuleRequiredFlag:       len(c.require) > 0,
		RuleForbiddenFlag:      len(c.forbid) > 0,
		RuleMinVersion:         c.minVersion >= 0,
		RuleHTTPS:              p.RequireHTTPS,
		RuleAllowedHost:        c.hosts != nil,
		RuleAllowedScheme:      c.schemes != nil,
		RuleIntegrityMissing:   p.RequireIntegrity,
		RuleIntegrityAlgorithm: len(c.algorithms) > 0,
		RuleNameMatchesURL:     p.MatchNames == nil || *p.MatchNames,
		RuleVersionMatchesURL:  p.MatchVersions == nil || *p.MatchVersions,
		RuleDeniedPackage:      len(c.deny) > 0,
	}
	var ids []string
	for _, r := range Rules {
		if on[r.ID] {
			ids = append(ids, r.ID)
		}
	}
	return ids
}
