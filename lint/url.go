package lint

import (
	"net/url"
	"strings"
)

// resolvedURL is a package's resolved URL taken apart without
// allocating. The format's check has made sure it is empty or an absolute
// http or https URL with a host, so a split is all it takes.
type resolvedURL struct {
	ok     bool   // false for an empty resolved
	scheme string // lower case
	host   string // host[:port] as written, without user info or a default port
	path   string // up to a query or fragment
	pathAt int    // where path starts in the URL
	named  int8   // names' answer: 0 not asked yet, 1 yes, -1 no
}

// splitURL takes a resolved URL apart.
func splitURL(s string) resolvedURL {
	var u resolvedURL
	var i int
	switch {
	case len(s) > 8 && s[:8] == "https://":
		u, i = resolvedURL{ok: true, scheme: "https"}, 5
	case len(s) > 7 && s[:7] == "http://":
		u, i = resolvedURL{ok: true, scheme: "http"}, 4
	default:
		if i = strings.Index(s, "://"); i <= 0 {
			return resolvedURL{}
		}
		u = resolvedURL{ok: true, scheme: strings.ToLower(s[:i])}
	}
	rest := s[i+3:]
	end := 0
	for end < len(rest) && rest[end] != '/' && rest[end] != '?' && rest[end] != '#' {
		end++
	}
	u.host = rest[:end]
	if at := strings.LastIndexByte(u.host, '@'); at >= 0 {
		u.host = u.host[at+1:]
	}
	switch {
	case u.scheme == "https" && strings.HasSuffix(u.host, ":443"):
		u.host = u.host[:len(u.host)-4]
	case u.scheme == "http" && strings.HasSuffix(u.host, ":80"):
		u.host = u.host[:len(u.host)-3]
	}
	u.setPath(s, i+3+end)
	return u
}

// setPath sets the path of u to that of s, the URL, whose path starts
// at pathAt.
func (u *resolvedURL) setPath(s string, pathAt int) {
	u.path, u.pathAt, u.named = s[pathAt:], pathAt, 0
	if q := strings.IndexByte(u.path, '?'); q >= 0 {
		u.path = u.path[:q]
	}
	if q := strings.IndexByte(u.path, '#'); q >= 0 {
		u.path = u.path[:q]
	}
}

// origin is the scheme and host of a resolved URL and whether the rules
// that read only those (https, allowed-host, allowed-scheme) passed for
// it.
type origin struct {
	prefix string      // the URL up to its path: scheme "://" host, as written
	u      resolvedURL // its split
	clean  bool        // no origin rule has a finding for it
}

// origins are the last few origins a run of records had. The records of
// one registry share one, so the URLs are taken apart and the origin
// rules run once per distinct origin in a run, not once per record.
type origins struct {
	seen [4]origin
	n    int // origins added so far; the oldest is replaced when all are taken
}

// split takes s apart as splitURL does. When s has the prefix of an
// origin seen (the same scheme and host), it takes only the path apart
// and returns that origin with seen true; else it adds s's origin and
// returns it, nil for a URL that splitURL refuses.
func (r *origins) split(s string) (u resolvedURL, o *origin, seen bool) {
	for k := range min(r.n, len(r.seen)) {
		o = &r.seen[k]
		p := o.prefix
		if len(s) >= len(p) && s[:len(p)] == p && (len(s) == len(p) || s[len(p)] == '/' || s[len(p)] == '?' || s[len(p)] == '#') {
			u = o.u
			u.setPath(s, len(p))
			return u, o, true
		}
	}
	if u = splitURL(s); !u.ok {
		return u, nil, false
	}
	o = &r.seen[r.n%len(r.seen)]
	*o = origin{prefix: s[:u.pathAt], u: u}
	r.n++
	return u, o, false
}

// names reports whether the path ends in the registry layout of exactly
// name@version: "/<name>/-/<basename>-<version>.tgz". It is the fast path
// of the URL checks, comparing from the end without allocating.
func (u *resolvedURL) names(name, version string) bool {
	if u.named == 0 {
		u.named = -1
		if u.layoutOf(name, version) {
			u.named = 1
		}
	}
	return u.named > 0
}

func (u *resolvedURL) layoutOf(name, version string) bool {
	// The path ends in "/" name "/-/" base "-" version ".tgz".
	p, base := u.path, baseName(name)
	n := 1 + len(name) + 3 + len(base) + 1 + len(version) + 4
	if len(p) < n {
		return false
	}
	at := len(p) - n
	tail := p[at:]
	if tail[0] != '/' || tail[1:1+len(name)] != name {
		return false
	}
	tail = tail[1+len(name):]
	if tail[:3] != "/-/" || tail[3:3+len(base)] != base || tail[3+len(base)] != '-' {
		return false
	}
	tail = tail[4+len(base):]
	if tail[:len(version)] != version || tail[len(version):] != ".tgz" {
		return false
	}
	// An unscoped name must not sit under a scope: /@evil/util/-/...
	if len(name) > 0 && name[0] != '@' {
		dir := p[:at]
		if strings.HasPrefix(dir[strings.LastIndexByte(dir, '/')+1:], "@") {
			return false
		}
	}
	return true
}

// folded reports whether the host has upper-case letters (hosts compare
// case-insensitively).
func (u *resolvedURL) folded() bool {
	for i := 0; i < len(u.host); i++ {
		if c := u.host[i]; 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// registryLayout is a resolved path of the registry layout
// <registry><name>/-/<basename>-<version>.tgz (docs/format.md section 4) taken
// apart: scope is "@scope" or "", name the last segment before "/-/",
// file the tarball's name; dirAt is where the package's directory (its
// scope's, for a scoped name) starts in the path.
type registryLayout struct {
	scope, name, file string
	dirAt             int
}

// layout returns the URL's registry layout, when it has one.
func (u *resolvedURL) layout() (registryLayout, bool) {
	if !u.ok {
		return registryLayout{}, false
	}
	i := strings.LastIndex(u.path, "/-/")
	if i < 0 {
		return registryLayout{}, false
	}
	l := registryLayout{file: u.path[i+3:]}
	if !strings.HasSuffix(l.file, ".tgz") || strings.IndexByte(l.file, '/') >= 0 {
		return registryLayout{}, false
	}
	dir := u.path[:i]
	slash := strings.LastIndexByte(dir, '/')
	if slash < 0 {
		return registryLayout{}, false
	}
	l.name, l.dirAt = dir[slash+1:], slash+1
	if strings.IndexByte(l.name, '%') >= 0 {
		// An escaped scoped name, @scope%2fname.
		if n, err := url.PathUnescape(l.name); err == nil {
			l.name = n
		}
		if s, n, ok := strings.Cut(l.name, "/"); ok {
			l.scope, l.name = s, n
		}
	} else if prev := dir[:slash]; strings.LastIndexByte(prev, '/') >= 0 {
		seg := prev[strings.LastIndexByte(prev, '/')+1:]
		if strings.HasPrefix(seg, "@") {
			l.scope, l.dirAt = seg, slash-len(seg)
		}
	}
	if l.name == "" {
		return registryLayout{}, false
	}
	return l, true
}

// nameMatches reports whether both the directory and the tarball of the
// layout name the package name.
func (l *registryLayout) nameMatches(name string) bool {
	if l.scope == "" {
		if name != l.name {
			return false
		}
	} else if len(name) != len(l.scope)+1+len(l.name) || !strings.HasPrefix(name, l.scope) ||
		name[len(l.scope)] != '/' || name[len(l.scope)+1:] != l.name {
		return false
	}
	base := baseName(name)
	return len(l.file) > len(base)+len(".tgz") && strings.HasPrefix(l.file, base) && l.file[len(base)] == '-'
}

// urlName is the package name the layout's directory names.
func (l *registryLayout) urlName() string {
	if l.scope != "" {
		return l.scope + "/" + l.name
	}
	return l.name
}

// want is the URL that the layout of u would have for the package
// name@version.
func (l *registryLayout) want(u *resolvedURL, resolved, name, version string) string {
	return resolved[:u.pathAt+l.dirAt] + name + "/-/" + baseName(name) + "-" + version + ".tgz"
}

// version is the version the tarball names, for a layout whose name
// matches name.
func (l *registryLayout) version(name string) string {
	return l.file[len(baseName(name))+1 : len(l.file)-len(".tgz")]
}
