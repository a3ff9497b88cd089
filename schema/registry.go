package schema

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
)

// ErrBadRegistryURL is returned by NormalizeRegistry for a URL that cannot
// name a registry.
var ErrBadRegistryURL = errors.New("bad registry URL")

// RegistryURLHelp says what a good registry URL looks like.
const RegistryURLHelp = "want an absolute http or https URL with a host and no user info, query or fragment, e.g. https://registry.example.org/"

// NormalizeRegistry normalizes a registry URL as docs/format.md section 4 says:
// lower-case scheme and host, no default port, a path ending in exactly one
// "/".
func NormalizeRegistry(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v; %s", ErrBadRegistryURL, raw, err, RegistryURLHelp)
	}
	scheme := strings.ToLower(u.Scheme)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s; %s", ErrBadRegistryURL, raw, why, RegistryURLHelp)
	}
	switch {
	case scheme != "http" && scheme != "https":
		return bad("the scheme is not http or https")
	case u.Opaque != "":
		return bad("it is not a hierarchical URL")
	case u.Host == "" || u.Hostname() == "":
		return bad("it has no host")
	case u.User != nil:
		return bad("it has user info")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("it has a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("it has a fragment")
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	path := u.EscapedPath()
	path = strings.TrimRight(path, "/") + "/"
	return scheme + "://" + host + path, nil
}

// HashString returns the FNV-1a 32-bit hash of s.
func HashString(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// RegistryHash normalizes a registry URL and returns the normalized form and
// its hash. A URL whose hash would be 0 is refused.
func RegistryHash(raw string) (string, uint32, error) {
	norm, err := NormalizeRegistry(raw)
	if err != nil {
		return "", 0, err
	}
	h := HashString(norm)
	if h == 0 {
		return "", 0, fmt.Errorf("%w %q: its hash is 0, which the format reserves for a failed hash", ErrBadRegistryURL, raw)
	}
	return norm, h, nil
}

// PackageRegistry returns the normalized registry of a package from its
// resolved URL, when the URL has the layout
// <registry><name>/-/<basename>-<version>.tgz; otherwise "".
func PackageRegistry(name, version, resolved string) string {
	reg, ok := registryPrefix(name, version, resolved)
	if !ok {
		return ""
	}
	return normalizePrefix(reg)
}

// registryPrefix cuts the registry from a resolved URL of the layout
// <registry><name>/-/<basename>-<version>.tgz, comparing in place (no
// suffix is built).
func registryPrefix(name, version, resolved string) (string, bool) {
	base := name
	if i := strings.IndexByte(name, '/'); name != "" && name[0] == '@' && i >= 0 {
		base = name[i+1:]
	}
	n := len(name) + len("/-/") + len(base) + len("-") + len(version) + len(".tgz")
	if len(resolved) < n {
		return "", false
	}
	reg, s := resolved[:len(resolved)-n], resolved[len(resolved)-n:]
	if s[:len(name)] != name {
		return "", false
	}
	s = s[len(name):]
	if s[:3] != "/-/" || s[3:3+len(base)] != base {
		return "", false
	}
	s = s[3+len(base):]
	if s[0] != '-' || s[1:1+len(version)] != version || s[1+len(version):] != ".tgz" {
		return "", false
	}
	return reg, true
}

// normalizePrefix returns the normalized registry of a prefix cut by
// registryPrefix, or "" when it names none.
func normalizePrefix(reg string) string {
	norm, err := NormalizeRegistry(reg)
	if err != nil || !strings.HasSuffix(reg, "/") {
		return ""
	}
	return norm
}

// RegistryCount is a registry and how many packages resolve from it.
type RegistryCount struct {
	URL   string
	Hash  uint32
	Count int
}

// RegistryTally counts the registries of packages added one at a time
// (see Registries). Each distinct prefix of the resolved URLs is
// normalized once; a run of packages from the same prefix costs one
// comparison each. The zero value is ready to use.
type RegistryTally struct {
	// last and lastAt are the prefix of the previous package and its
	// index in regs (-1 for a prefix that names no registry).
	last   string
	lastAt int
	seen   bool
	// at holds every prefix met.
	at   map[string]prefixEntry
	regs []RegistryCount
}

// Add counts one package. The strings are not kept: they may alias a
// buffer that changes afterwards.
func (t *RegistryTally) Add(name, version, resolved string) {
	reg, ok := registryPrefix(name, version, resolved)
	if !ok {
		return
	}
	if !t.seen || reg != t.last {
		t.lookup(reg)
	}
	if t.lastAt >= 0 {
		t.regs[t.lastAt].Count++
	}
}

// lookup makes reg the last prefix, normalizing it when it is new.
func (t *RegistryTally) lookup(reg string) {
	if t.at == nil {
		t.at = map[string]prefixEntry{}
	}
	e, ok := t.at[reg]
	if !ok {
		e = prefixEntry{key: strings.Clone(reg), at: -1}
		if norm := normalizePrefix(e.key); norm != "" {
			for j := range t.regs {
				if t.regs[j].URL == norm {
					e.at = j
					break
				}
			}
			if e.at < 0 {
				e.at = len(t.regs)
				t.regs = append(t.regs, RegistryCount{URL: norm, Hash: HashString(norm)})
			}
		}
		t.at[e.key] = e
	}
	t.last, t.lastAt, t.seen = e.key, e.at, true
}

// prefixEntry is a prefix met by a tally: its own copy and its index in
// regs, or -1.
type prefixEntry struct {
	key string
	at  int
}

// Merge adds the counts of o, a tally of other packages, to t: a file's
// packages tallied in parts on several goroutines, one tally a part, give
// the tally of the whole.
func (t *RegistryTally) Merge(o *RegistryTally) {
	for _, r := range o.regs {
		if r.Count == 0 {
			continue
		}
		found := false
		for j := range t.regs {
			if t.regs[j].URL == r.URL {
				t.regs[j].Count += r.Count
				found = true
				break
			}
		}
		if !found {
			t.regs = append(t.regs, r)
		}
	}
}

// Registries returns the registries counted, most common first (ties by
// URL).
func (t *RegistryTally) Registries() []RegistryCount {
	out := make([]RegistryCount, 0, len(t.regs))
	for _, r := range t.regs {
		if r.Count > 0 {
			out = append(out, r)
		}
	}
	sortRegistries(out)
	return out
}

// Registries returns the registries of pkgs, most common first (ties by
// URL).
func Registries(pkgs []Package) []RegistryCount {
	var t RegistryTally
	for i := range pkgs {
		p := &pkgs[i]
		t.Add(p.Name, p.Version, p.Resolved)
	}
	return t.Registries()
}

func sortRegistries(rs []RegistryCount) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && lessRegistry(rs[j], rs[j-1]); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

func lessRegistry(a, b RegistryCount) bool {
	if a.Count != b.Count {
		return a.Count > b.Count
	}
	return a.URL < b.URL
}

// RegistryFor returns the registry URL among the packages' registries whose
// hash is h, or "" when none matches.
func RegistryFor(pkgs []Package, h uint32) string {
	for _, r := range Registries(pkgs) {
		if r.Hash == h {
			return r.URL
		}
	}
	return ""
}
