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

// NormalizeRegistry normalizes a registry URL as FORMAT.md section 4 says:
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
	base := name
	if i := strings.IndexByte(name, '/'); name != "" && name[0] == '@' && i >= 0 {
		base = name[i+1:]
	}
	suffix := name + "/-/" + base + "-" + version + ".tgz"
	if !strings.HasSuffix(resolved, suffix) {
		return ""
	}
	reg := resolved[:len(resolved)-len(suffix)]
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

// Registries returns the registries of pkgs, most common first (ties by
// URL).
func Registries(pkgs []Package) []RegistryCount {
	counts := map[string]int{}
	for i := range pkgs {
		p := &pkgs[i]
		if r := PackageRegistry(p.Name, p.Version, p.Resolved); r != "" {
			counts[r]++
		}
	}
	out := make([]RegistryCount, 0, len(counts))
	for u, n := range counts {
		out = append(out, RegistryCount{u, HashString(u), n})
	}
	sortRegistries(out)
	return out
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
