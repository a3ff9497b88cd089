// Package npmlock reads the packages of an npm package-lock.json of
// lockfileVersion 2 or 3, for 'lockfix pack'.
//
// Only the "packages" map is read. Its keys are install paths
// ("node_modules/a", "node_modules/a/node_modules/@s/b"); the root entry ""
// and entries that are not under node_modules (workspace folders) are the
// project's own code and are skipped, as are symbolic links ("link": true).
// A package's name is the last "node_modules/" segment of its key, the
// name it is installed under. When one string carries several integrity
// hashes (space separated), the strongest is kept: sha512 > sha384 >
// sha256 > sha1. A (name, version) pair installed at several paths is kept
// once; two entries of one pair that disagree on resolved or integrity are
// an error, as are versions, names, resolved URLs and integrity strings
// that a lockfile cannot hold (docs/format.md section 5).
package npmlock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// ErrVersion is returned for a package-lock.json whose lockfileVersion is
// not 2 or 3.
var ErrVersion = errors.New("unsupported lockfileVersion")

// ErrInvalid is returned for a package-lock.json that cannot be read or
// whose packages a lockfile cannot hold. The error's message says which
// entry and what rule.
var ErrInvalid = errors.New("invalid package-lock.json")

// Lock is what a package-lock.json says about its packages.
type Lock struct {
	// Name and Version are the project's, from the top level.
	Name    string
	Version string
	// LockfileVersion is 2 or 3.
	LockfileVersion int
	// Packages are sorted by name, then version, and unique.
	Packages []schema.Package
	// Skipped lists the keys of the entries left out and why, one
	// sentence each, in key order.
	Skipped []string
	// Duplicates is how many entries repeated a (name, version) pair.
	Duplicates int
}

// entry is one value of the "packages" map.
type entry struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Resolved  string `json:"resolved"`
	Integrity string `json:"integrity"`
	Link      bool   `json:"link"`
}

type document struct {
	Name            string                      `json:"name"`
	Version         string                      `json:"version"`
	LockfileVersion *int                        `json:"lockfileVersion"`
	Packages        map[string]*json.RawMessage `json:"packages"`
}

// IsPackageLock reports whether b looks like a package-lock.json: a JSON
// object with a "lockfileVersion" member. It does not validate.
func IsPackageLock(b []byte) bool {
	var probe struct {
		LockfileVersion json.RawMessage `json:"lockfileVersion"`
	}
	return json.Unmarshal(b, &probe) == nil && probe.LockfileVersion != nil
}

const nodeModules = "node_modules/"

// Parse reads the packages of a package-lock.json. Errors wrap ErrVersion
// or ErrInvalid and name the offending key.
func Parse(b []byte) (*Lock, error) {
	var doc document
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the top-level object", ErrInvalid)
	}
	if doc.LockfileVersion == nil {
		return nil, fmt.Errorf("%w: no lockfileVersion member", ErrInvalid)
	}
	lv := *doc.LockfileVersion
	if lv != 2 && lv != 3 {
		return nil, fmt.Errorf("%w %d: lockfix reads lockfileVersion 2 and 3 (npm 7 and later); run 'npm install --lockfile-version 3' to upgrade it", ErrVersion, lv)
	}
	if doc.Packages == nil {
		return nil, fmt.Errorf("%w: lockfileVersion %d without a \"packages\" object", ErrInvalid, lv)
	}
	l := &Lock{Name: doc.Name, Version: doc.Version, LockfileVersion: lv}
	keys := make([]string, 0, len(doc.Packages))
	for k := range doc.Packages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type origin struct {
		key string
		pkg schema.Package
	}
	seen := map[[2]string]*origin{}
	var order [][2]string
	for _, key := range keys {
		raw := doc.Packages[key]
		if key == "" {
			continue // the project itself
		}
		if raw == nil {
			return nil, fmt.Errorf("%w: packages[%q] is null, want an object", ErrInvalid, key)
		}
		var e entry
		if err := json.Unmarshal(*raw, &e); err != nil {
			return nil, fmt.Errorf("%w: packages[%q]: %v", ErrInvalid, key, err)
		}
		i := strings.LastIndex(key, nodeModules)
		if i < 0 || (i > 0 && key[i-1] != '/') {
			l.Skipped = append(l.Skipped, fmt.Sprintf("%s: not under node_modules (a workspace folder)", key))
			continue
		}
		if e.Link {
			l.Skipped = append(l.Skipped, fmt.Sprintf("%s: a link to %s", key, linkTarget(*raw)))
			continue
		}
		name := key[i+len(nodeModules):]
		if name == "" {
			return nil, fmt.Errorf("%w: packages[%q]: the key ends in node_modules/, want node_modules/NAME", ErrInvalid, key)
		}
		if e.Version == "" {
			return nil, fmt.Errorf("%w: packages[%q] has no version", ErrInvalid, key)
		}
		integrity, err := Strongest(e.Integrity)
		if err != nil {
			return nil, fmt.Errorf("%w: packages[%q]: %v", ErrInvalid, key, err)
		}
		p := schema.Package{Name: name, Version: e.Version, Resolved: e.Resolved, Integrity: integrity}
		if field, rule := schema.CheckPackage(&p); rule != "" {
			return nil, fmt.Errorf("%w: packages[%q]: %s: %s", ErrInvalid, key, field, rule)
		}
		k := [2]string{p.Name, p.Version}
		if o, dup := seen[k]; dup {
			l.Duplicates++
			merged, err := merge(o.pkg, p)
			if err != nil {
				return nil, fmt.Errorf("%w: packages[%q] and packages[%q] are both %s@%s but %v", ErrInvalid, o.key, key, p.Name, p.Version, err)
			}
			o.pkg = merged
			continue
		}
		seen[k] = &origin{key, p}
		order = append(order, k)
	}
	l.Packages = make([]schema.Package, 0, len(order))
	for _, k := range order {
		l.Packages = append(l.Packages, seen[k].pkg)
	}
	schema.SortPackages(l.Packages)
	return l, nil
}

// merge combines two entries of one (name, version): a field empty in one
// is taken from the other; two different non-empty values are an error.
// Integrity strings of different algorithms keep the stronger.
func merge(a, b schema.Package) (schema.Package, error) {
	switch {
	case a.Resolved == "":
		a.Resolved = b.Resolved
	case b.Resolved != "" && a.Resolved != b.Resolved:
		return a, fmt.Errorf("resolve to %q and %q", a.Resolved, b.Resolved)
	}
	switch {
	case a.Integrity == "":
		a.Integrity = b.Integrity
	case b.Integrity == "" || a.Integrity == b.Integrity:
	case algorithm(a.Integrity) == algorithm(b.Integrity):
		return a, fmt.Errorf("have different integrity %q and %q", a.Integrity, b.Integrity)
	case strength(algorithm(b.Integrity)) > strength(algorithm(a.Integrity)):
		a.Integrity = b.Integrity
	}
	return a, nil
}

func linkTarget(raw json.RawMessage) string {
	var l struct {
		Resolved string `json:"resolved"`
	}
	if json.Unmarshal(raw, &l) == nil && l.Resolved != "" {
		return l.Resolved
	}
	return "a local folder"
}

func algorithm(sri string) string {
	if i := strings.IndexByte(sri, '-'); i > 0 {
		return sri[:i]
	}
	return ""
}

// strength ranks an integrity algorithm: 0 for unknown, 1 (sha1) to 4
// (sha512).
func strength(alg string) int {
	for i, a := range schema.IntegrityAlgorithms {
		if a.Name == alg {
			return i + 1
		}
	}
	return 0
}

// Strongest returns the strongest hash of a Subresource Integrity string
// that may hold several, separated by white space ("sha512-... sha1-...").
// Options after a '?' are dropped. Hashes of algorithms other than sha1,
// sha256, sha384 and sha512 are ignored; a string with none of them, or
// whose chosen hash is malformed, is an error. "" gives "".
func Strongest(s string) (string, error) {
	best, bestRank := "", 0
	var unknown []string
	for _, h := range strings.Fields(s) {
		if i := strings.IndexByte(h, '?'); i >= 0 {
			h = h[:i]
		}
		r := strength(algorithm(h))
		if r == 0 {
			unknown = append(unknown, algorithm(h))
			continue
		}
		if r > bestRank {
			best, bestRank = h, r
		}
	}
	if best == "" {
		if len(unknown) > 0 {
			return "", fmt.Errorf("integrity %q has no sha1, sha256, sha384 or sha512 hash", s)
		}
		return "", nil
	}
	p := schema.Package{Name: "x", Version: "0.0.0", Integrity: best}
	if _, rule := schema.CheckPackage(&p); rule != "" {
		return "", fmt.Errorf("integrity: %s", rule)
	}
	return best, nil
}
