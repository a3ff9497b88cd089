// Package lint checks a decoded lockfile against a supply-chain policy:
// which hosts and schemes its packages may resolve from, which integrity
// algorithms they must carry, that a resolved URL in the registry layout
// names the record's own package and version, the header's registry,
// feature flags and config version, and a list of denied package
// versions. It has the checks of lockfile-lint (https, allowed hosts and
// schemes, integrity) and those it lacks for private registries.
//
// A Policy is what a user writes (a YAML file, command-line flags);
// Compile turns it into a Checker, refusing what cannot be checked (an
// unknown flag, a bad range, a host alias that is not defined). Lint
// returns the findings as values, each locating its record in the file;
// it never prints. lockfix ships no public registry's host name: the
// aliases lockfile-lint has built in are defined by the policy.
package lint

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/Masterminds/semver/v3"

	"github.com/lockfix/lockfix/schema"
)

// Rule ids, one per check.
const (
	RuleHTTPS              = "https"
	RuleAllowedHost        = "allowed-host"
	RuleAllowedScheme      = "allowed-scheme"
	RuleIntegrityMissing   = "integrity-missing"
	RuleIntegrityAlgorithm = "integrity-algorithm"
	RuleNameMatchesURL     = "name-matches-url"
	RuleVersionMatchesURL  = "version-matches-url"
	RuleRegistry           = "registry"
	RuleRequiredFlag       = "required-flag"
	RuleForbiddenFlag      = "forbidden-flag"
	RuleMinVersion         = "min-version"
	RuleDeniedPackage      = "denied-package"
	// RuleInvalidLockfile is not a policy check: it reports a file that
	// fails the strict check of the format, which is never clean.
	RuleInvalidLockfile = "invalid-lockfile"
)

// RuleInfo describes a check for people and for SARIF: its id, the flag
// that turns it on, a one-line summary and a longer help text.
type RuleInfo struct {
	ID string
	// Name is the rule's name for SARIF, in PascalCase.
	Name    string
	Flag    string
	Summary string
	Help    string
}

// Rules lists every check, in the order findings of one record come.
var Rules = []RuleInfo{
	{RuleInvalidLockfile, "InvalidLockfile", "(always)", "The lockfile fails the strict check of the format.",
		"The file breaks a rule of the bun.lockb format (a checksum, a field out of range, a damaged record), so its packages cannot be trusted or checked. Run 'lockfix validate' for every problem and 'lockfix recover' to repair it."},
	{RuleRegistry, "DefaultRegistry", "--registry URL", "The header's default registry is not the one the policy names.",
		"The registryHash in the header is the FNV-1a hash of the default registry URL. A file whose hash is not the hash of the policy's registry installs from another registry by default. Set it with 'lockfix set FILE registry URL'."},
	{RuleRequiredFlag, "RequiredFeatureFlag", "--require-flag FLAG", "A feature flag the policy requires is not set.",
		"The policy requires a feature flag (for example FROZEN_LOCKFILE in production) that the file's header does not set. Enable it with 'lockfix feature enable FILE FLAG'; a flag the file's config version cannot hold needs 'lockfix migrate' first."},
	{RuleForbiddenFlag, "ForbiddenFeatureFlag", "--forbid-flag FLAG", "A feature flag the policy forbids is set.",
		"The policy forbids a feature flag (for example DEBUG) that the file's header sets. Disable it with 'lockfix feature disable FILE FLAG'."},
	{RuleMinVersion, "MinimumConfigVersion", "--min-version N", "The file's config version is below the policy's minimum.",
		"Older config versions have weaker integrity protection (version 0 has no checksum, version 2 checksums every record). Upgrade with 'lockfix migrate --to N'."},
	{RuleHTTPS, "ResolvedOverHttps", "--require-https", "A package's resolved URL is not https.",
		"A package downloaded over plain http can be replaced in transit. Resolve it from an https registry."},
	{RuleAllowedHost, "AllowedHost", "--allowed-host HOST", "A package resolves from a host the policy does not allow.",
		"Every resolved URL must name one of the allowed hosts (host names, host:port, or aliases defined with --host-alias or host-aliases in the policy). A package from another host may come from an untrusted registry."},
	{RuleAllowedScheme, "AllowedScheme", "--allowed-scheme SCHEME", "A package's resolved URL uses a scheme the policy does not allow.",
		"Every resolved URL must use one of the allowed schemes (https, http)."},
	{RuleIntegrityMissing, "IntegrityMissing", "--require-integrity", "A package has no integrity string.",
		"Without an integrity string the package manager cannot tell a tampered tarball from the one that was locked."},
	{RuleIntegrityAlgorithm, "IntegrityAlgorithm", "--integrity ALG", "A package's integrity string uses an algorithm the policy does not allow.",
		"An integrity string of a weak algorithm (sha1) does not protect the download. Relock the package so that it carries a sha512 integrity."},
	{RuleNameMatchesURL, "NameMatchesUrl", "on unless --no-match-names", "A resolved URL in the registry layout names another package.",
		"A resolved URL of the form <registry><name>/-/<name>-<version>.tgz must name the record's own package, or a trusted registry can serve one package under another's name. URLs in another layout (git tarballs) are not checked."},
	{RuleVersionMatchesURL, "VersionMatchesUrl", "on unless --no-match-versions", "A resolved URL in the registry layout names another version.",
		"A resolved URL of the form <registry><name>/-/<name>-<version>.tgz must name the record's own version, or the tarball installed is not the version the lockfile says."},
	{RuleDeniedPackage, "DeniedPackage", "--deny NAME@RANGE", "A package version the policy denies is locked.",
		"The policy denies this package at these versions (a known-bad release, a compromised package). Ranges are npm semver ranges and include pre-releases."},
}

// Info returns the description of a rule id.
func Info(id string) (RuleInfo, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return RuleInfo{}, false
}

// Finding is one policy violation. Record is the package record's index,
// or schema.NoRecord for a header field; Offset and Length locate the
// record (or the header field) in the file.
type Finding struct {
	Rule     string `json:"rule"`
	Package  string `json:"package,omitempty"` // name@version
	Record   int    `json:"record"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	Field    string `json:"field"`
	Value    string `json:"value"`
	Expected string `json:"expected"`
	Message  string `json:"message"`
}

// Lint checks l against c and returns every finding: the header's first,
// then each record's in order. spans locates the records in the file
// (schema.RecordSpans); with fewer spans than packages, the offsets of
// the records without one are 0. Lint copies every string it keeps, so
// the findings outlive the file's bytes (see Decode).
func Lint(l *schema.Lockfile, spans []schema.Span, c *Checker) []Finding {
	var out []Finding
	out = c.header(l, out)
	if !c.perPackage {
		return out
	}
	// A large file's records are checked in chunks on several
	// goroutines, as the strict check does; the findings keep the
	// records' order.
	n := len(l.Packages)
	chunks := make([][]Finding, (n+chunkRecords-1)/chunkRecords)
	parallel(n, nil, func(k, first, last int) {
		chunks[k] = c.records(l.Packages, spans, first, last, nil)
	})
	for _, fs := range chunks {
		out = append(out, fs...)
	}
	return out
}

// parallelMin is the package count from which Lint checks records on
// several goroutines, in chunks of chunkRecords.
const (
	parallelMin  = 8192
	chunkRecords = 4096
)

// records checks records first..last-1.
func (c *Checker) records(pkgs []schema.Package, spans []schema.Span, first, last int, out []Finding) []Finding {
	var seen origins
	for i := first; i < last; i++ {
		var sp schema.Span
		if i < len(spans) {
			sp = spans[i]
		}
		out = c.record(&pkgs[i], i, sp, &seen, out)
	}
	return out
}

// header runs the checks of the header fields.
func (c *Checker) header(l *schema.Lockfile, out []Finding) []Finding {
	if f, ok := c.checkRegistry(l); ok {
		out = append(out, f)
	}
	out = c.checkRequiredFlags(l.Config, out)
	out = c.checkForbiddenFlags(l.Config, out)
	if f, ok := c.checkMinVersion(l.Config); ok {
		out = append(out, f)
	}
	return out
}

// record runs the checks of one package record. seen holds the origins
// of the records before it in the same run of records (none for the
// first): the origin checks run only for a resolved URL of another scheme
// or host, or of one they found something in.
func (c *Checker) record(p *schema.Package, i int, sp schema.Span, seen *origins, out []Finding) []Finding {
	var u resolvedURL
	var o *origin
	known := false
	if c.needsURL {
		u, o, known = seen.split(p.Resolved)
	}
	n := len(out)
	if !known || !o.clean {
		for _, check := range c.originChecks {
			if f := c.check(check, p, &u); f != nil {
				out = append(out, *f)
			}
		}
		if o != nil && !known {
			o.clean = len(out) == n
		}
	}
	for _, check := range c.recordChecks {
		if f := c.check(check, p, &u); f != nil {
			out = append(out, *f)
		}
	}
	if len(out) > n {
		at := p.Name + "@" + p.Version // a copy: p's strings may alias the file
		for k := n; k < len(out); k++ {
			out[k].Package, out[k].Record, out[k].Offset, out[k].Length = at, i, sp.Offset, sp.Length
		}
	}
	return out
}

// recordCheck names one per-record rule.
type recordCheck uint8

const (
	ruleHTTPS recordCheck = iota
	ruleAllowedHost
	ruleAllowedScheme
	ruleIntegrityMissing
	ruleIntegrityAlgorithm
	ruleNameMatchesURL
	ruleVersionMatchesURL
	ruleDenied
)

// check runs the per-record rule r: it returns a finding, with the
// package's location left for record to fill in, or nil. The calls are
// direct, so that p and u stay on record's caller's stack.
func (c *Checker) check(r recordCheck, p *schema.Package, u *resolvedURL) *Finding {
	switch r {
	case ruleHTTPS:
		return checkHTTPS(c, p, u)
	case ruleAllowedHost:
		return checkAllowedHost(c, p, u)
	case ruleAllowedScheme:
		return checkAllowedScheme(c, p, u)
	case ruleIntegrityMissing:
		return checkIntegrityMissing(c, p, u)
	case ruleIntegrityAlgorithm:
		return checkIntegrityAlgorithm(c, p, u)
	case ruleNameMatchesURL:
		return checkNameMatchesURL(c, p, u)
	case ruleVersionMatchesURL:
		return checkVersionMatchesURL(c, p, u)
	case ruleDenied:
		return checkDenied(c, p, u)
	}
	panic(fmt.Sprintf("lint: unknown record check %d", r))
}

func headerFinding(rule, field string, off, size int, value, expected, msg string) Finding {
	return Finding{Rule: rule, Record: schema.NoRecord, Offset: off, Length: size, Field: field, Value: value, Expected: expected, Message: msg}
}

func packageFinding(rule, field, value, expected, msg string) *Finding {
	return &Finding{Rule: rule, Field: field, Value: strings.Clone(value), Expected: expected, Message: msg}
}

// checkRegistry is the registry rule: the header's registry hash is the
// hash of the policy's registry URL.
func (c *Checker) checkRegistry(l *schema.Lockfile) (Finding, bool) {
	if c.registry == "" || l.Config.RegistryHash == c.registryHash {
		return Finding{}, false
	}
	got := fmt.Sprintf("0x%08x", l.Config.RegistryHash)
	if u := schema.RegistryFor(l.Packages, l.Config.RegistryHash); u != "" {
		got += " (" + u + ")"
	}
	want := fmt.Sprintf("0x%08x (%s)", c.registryHash, c.registry)
	return headerFinding(RuleRegistry, "registryHash", schema.OffRegistryHash, 4, got, want,
		fmt.Sprintf("the default registry is %s, the policy wants %s", got, want)), true
}

// checkRequiredFlags is the required-flag rule: one finding per required
// flag the header does not set.
func (c *Checker) checkRequiredFlags(cfg schema.Config, out []Finding) []Finding {
	for _, f := range c.require {
		if cfg.Flags&f.Mask != 0 {
			continue
		}
		msg := fmt.Sprintf("feature flag %s is not set", f.Name)
		if cfg.Version < f.Since {
			msg += fmt.Sprintf(" (config version %d cannot hold it: migrate to version %d or later first)", cfg.Version, f.Since)
		}
		out = append(out, headerFinding(RuleRequiredFlag, "featureFlags", schema.OffFeatureFlags, 4,
			cfg.Flags.String(), f.Name+" set", msg))
	}
	return out
}

// checkForbiddenFlags is the forbidden-flag rule: one finding per
// forbidden flag the header sets.
func (c *Checker) checkForbiddenFlags(cfg schema.Config, out []Finding) []Finding {
	for _, f := range c.forbid {
		if cfg.Flags&f.Mask == 0 {
			continue
		}
		out = append(out, headerFinding(RuleForbiddenFlag, "featureFlags", schema.OffFeatureFlags, 4,
			cfg.Flags.String(), f.Name+" not set", fmt.Sprintf("feature flag %s is set", f.Name)))
	}
	return out
}

// checkMinVersion is the min-version rule.
func (c *Checker) checkMinVersion(cfg schema.Config) (Finding, bool) {
	if c.minVersion < 0 || cfg.Version >= c.minVersion {
		return Finding{}, false
	}
	return headerFinding(RuleMinVersion, "configVersion", schema.OffConfigVersion, 1,
		fmt.Sprint(cfg.Version), fmt.Sprintf("%d or later", c.minVersion),
		fmt.Sprintf("config version %d is below the minimum %d", cfg.Version, c.minVersion)), true
}

// checkHTTPS is the https rule.
func checkHTTPS(_ *Checker, p *schema.Package, u *resolvedURL) *Finding {
	if !u.ok || u.scheme == "https" {
		return nil
	}
	return packageFinding(RuleHTTPS, "resolved", p.Resolved, "https",
		fmt.Sprintf("resolved URL uses %s, not https", u.scheme))
}

// checkAllowedHost is the allowed-host rule.
func checkAllowedHost(c *Checker, p *schema.Package, u *resolvedURL) *Finding {
	if !u.ok || c.allowedHost(u.host) || u.folded() && c.allowedHost(strings.ToLower(u.host)) {
		return nil
	}
	return packageFinding(RuleAllowedHost, "resolved", p.Resolved, "a host of "+c.hostList,
		fmt.Sprintf("resolved URL is on host %s, not an allowed one", strings.ToLower(u.host)))
}

// allowedHost reports whether host is on the list: a few compares for
// the short lists policies have, a map for long ones.
func (c *Checker) allowedHost(host string) bool {
	if len(c.hostSlice) > 0 {
		for _, h := range c.hostSlice {
			if h == host {
				return true
			}
		}
		return false
	}
	return c.hosts[host]
}

// checkAllowedScheme is the allowed-scheme rule.
func checkAllowedScheme(c *Checker, p *schema.Package, u *resolvedURL) *Finding {
	if !u.ok || c.schemes[u.scheme] {
		return nil
	}
	return packageFinding(RuleAllowedScheme, "resolved", p.Resolved, "a scheme of "+c.schemeList,
		fmt.Sprintf("resolved URL uses the scheme %s, not an allowed one", u.scheme))
}

// checkIntegrityMissing is the integrity-missing rule.
func checkIntegrityMissing(_ *Checker, p *schema.Package, _ *resolvedURL) *Finding {
	if p.Integrity != "" {
		return nil
	}
	return packageFinding(RuleIntegrityMissing, "integrity", "", "an integrity string", "the package has no integrity string")
}

// checkIntegrityAlgorithm is the integrity-algorithm rule. A package
// without integrity is integrity-missing's to report.
func checkIntegrityAlgorithm(c *Checker, p *schema.Package, _ *resolvedURL) *Finding {
	if p.Integrity == "" {
		return nil
	}
	alg := p.Integrity
	if i := strings.IndexByte(alg, '-'); i >= 0 {
		alg = alg[:i]
	}
	for _, a := range c.algorithms {
		if alg == a {
			return nil
		}
	}
	return packageFinding(RuleIntegrityAlgorithm, "integrity", p.Integrity, c.algorithmList,
		fmt.Sprintf("integrity uses %s, not %s", alg, c.algorithmList))
}

// checkNameMatchesURL is the name-matches-url rule.
func checkNameMatchesURL(_ *Checker, p *schema.Package, u *resolvedURL) *Finding {
	if u.names(p.Name, p.Version) {
		return nil // the common case, told without taking the path apart
	}
	l, ok := u.layout()
	if !ok || l.nameMatches(p.Name) {
		return nil
	}
	msg := fmt.Sprintf("resolved URL names the package %s, the record is %s", l.urlName(), p.Name)
	if l.urlName() == p.Name {
		msg = fmt.Sprintf("resolved URL's tarball %s is not one of %s", l.file, p.Name)
	}
	return packageFinding(RuleNameMatchesURL, "resolved", p.Resolved, l.want(u, p.Resolved, p.Name, p.Version), msg)
}

// checkVersionMatchesURL is the version-matches-url rule. A URL naming
// another package is name-matches-url's to report.
func checkVersionMatchesURL(_ *Checker, p *schema.Package, u *resolvedURL) *Finding {
	if u.names(p.Name, p.Version) {
		return nil
	}
	l, ok := u.layout()
	if !ok || !l.nameMatches(p.Name) {
		return nil
	}
	v := l.version(p.Name)
	if v == p.Version {
		return nil
	}
	return packageFinding(RuleVersionMatchesURL, "resolved", p.Resolved, l.want(u, p.Resolved, p.Name, p.Version),
		fmt.Sprintf("resolved URL names version %s, the record is %s", v, p.Version))
}

// checkDenied is the denied-package rule.
func checkDenied(c *Checker, p *schema.Package, _ *resolvedURL) *Finding {
	if c.denyNames != nil && !slices.Contains(c.denyNames, p.Name) {
		return nil // a few compares of lengths, cheaper than hashing the name
	}
	rules, ok := c.deny[p.Name]
	if !ok {
		return nil
	}
	v, err := semver.StrictNewVersion(p.Version)
	if err != nil {
		return nil // the format's check has refused it already
	}
	for _, d := range rules {
		if d.all || d.constraint.Check(v) {
			return packageFinding(RuleDeniedPackage, "version", p.Version, "not "+d.spec,
				fmt.Sprintf("%s@%s is denied by %s", p.Name, p.Version, d.spec))
		}
	}
	return nil
}

// baseName is a package name without its @scope/ part.
func baseName(name string) string {
	if name != "" && name[0] == '@' {
		if i := strings.IndexByte(name, '/'); i >= 0 {
			return name[i+1:]
		}
	}
	return name
}

// Decode builds the lockfile of b, a file that passed the strict check
// of its version (schema.Schema.Check), whose header is headerSize bytes
// and holds count records, and says where each record lies. It trusts the
// check: it reads the records' strings and nothing more, which takes a
// fraction of a strict decode's time. The packages' strings alias b (no
// copy of the file is made): the lockfile is valid only as long as b is
// and unchanged. Lint copies every string it keeps.
func Decode(b []byte, s *schema.Schema, count int) (*schema.Lockfile, []schema.Span, error) {
	if len(b) < schema.PrefixSize {
		return nil, nil, schema.Corrupt(schema.ErrTruncated, len(b), "header", "the file is too short for a header")
	}
	spans, err := s.RecordSpans(b, count)
	if err != nil {
		return nil, nil, err
	}
	file := unsafe.String(unsafe.SliceData(b), len(b))
	pkgs := make([]schema.Package, len(spans))
	errs := make([]error, (len(spans)+chunkRecords-1)/chunkRecords)
	parallel(len(spans), nil, func(k, first, last int) {
		for i := first; i < last && errs[k] == nil; i++ {
			pkgs[i], errs[k] = readRecord(file, &spans[i], i)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	l := &schema.Lockfile{Config: schema.DecodeConfig(b[schema.OffConfigVersion:]), Packages: pkgs}
	return l, spans, nil
}

// readRecord reads the four strings of the record at sp as substrings
// of file.
func readRecord(file string, sp *schema.Span, i int) (schema.Package, error) {
	base := sp.BodyOffset
	var f [4]string
	body, pos := sp.Body, 0
	for j := range f {
		if len(body)-pos < 2 {
			return schema.Package{}, schema.CorruptRecord(schema.ErrTruncated, base+pos, i, schema.FieldNames[j], "the record ends inside a length")
		}
		n := int(body[pos])<<8 | int(body[pos+1])
		if len(body)-pos-2 < n {
			return schema.Package{}, schema.CorruptRecord(schema.ErrTruncated, base+pos, i, schema.FieldNames[j], "a string passes the end of the record")
		}
		at := base + pos + 2
		f[j], pos = file[at:at+n], pos+2+n
	}
	return schema.Package{Name: f[0], Version: f[1], Resolved: f[2], Integrity: f[3]}, nil
}

// LintBytes is Lint of Decode of b in one pass: each record is read and
// checked in place, without building the list of packages, for a file
// that passed the strict check (see Decode). It returns the findings and
// the number of packages.
//
// The records are walked (schema.Schema.RecordSpans) a chunk at a time,
// in order, each chunk by the goroutine that then checks it while the
// next chunk is walked by another: the walk, which only one goroutine can
// do, overlaps the checks, and a chunk is checked while its bytes are
// still in that processor's cache, where warm has put them for the walk.
func LintBytes(b []byte, s *schema.Schema, count int, c *Checker) ([]Finding, int, error) {
	if len(b) < schema.PrefixSize {
		return nil, 0, schema.Corrupt(schema.ErrTruncated, len(b), "header", "the file is too short for a header")
	}
	l := &schema.Lockfile{Config: schema.DecodeConfig(b[schema.OffConfigVersion:])}
	if c.registry != "" && l.Config.RegistryHash != c.registryHash || !c.perPackage {
		// The registry's finding names the registry the packages give
		// the header's hash: only then are they all needed. Without a
		// record check there is nothing to overlap the walk with.
		l, spans, err := Decode(b, s, count)
		if err != nil {
			return nil, 0, err
		}
		return Lint(l, spans, c), len(spans), nil
	}
	out := c.header(l, nil)
	file := unsafe.String(unsafe.SliceData(b), len(b))
	count = max(count, 0)
	spans := make([][]schema.Span, (count+chunkRecords-1)/chunkRecords)
	chunks := make([][]Finding, len(spans))
	pos := s.HeaderSize // where the next chunk to walk starts
	var walkErr error
	walk := func(k, first, last int) {
		if walkErr != nil {
			return
		}
		// The chunk's bytes, guessed from the records before it (a
		// quarter kilobyte a record for the first chunk).
		size := (last - first) * 256
		if first > 0 {
			size = (pos - s.HeaderSize) / first * (last - first) * 9 / 8
		}
		warm(b[min(pos, len(b)):min(len(b), pos+size)])
		if spans[k], walkErr = s.SpansFrom(b, pos, first, last-first); walkErr == nil {
			end := spans[k][len(spans[k])-1]
			pos = end.Offset + end.Length
		}
	}
	readErrs := make([]error, len(spans))
	parallel(count, walk, func(k, first, last int) {
		var seen origins
		for j := range spans[k] {
			sp := &spans[k][j]
			p, err := readRecord(file, sp, first+j)
			if err != nil {
				readErrs[k] = err
				return
			}
			chunks[k] = c.record(&p, first+j, *sp, &seen, chunks[k])
		}
	})
	if walkErr != nil {
		return nil, 0, walkErr
	}
	for k, fs := range chunks {
		if readErrs[k] != nil {
			return nil, 0, readErrs[k]
		}
		out = append(out, fs...)
	}
	return out, count, nil
}

// warmed keeps warm's loads (an atomic, as Lints may run at once).
var warmed atomic.Uint32

// warm reads a byte of each cache line of b, so that the walk over the
// records, which must read each record's size before it can find the
// next, finds them in the cache: independent loads, which the processor
// overlaps, instead of a chain of dependent ones.
func warm(b []byte) {
	var x byte
	for i := 0; i < len(b); i += 64 {
		x |= b[i]
	}
	warmed.Store(uint32(x))
}

// parallel calls f for each chunk of chunkRecords of n records, with the
// chunk's index and its records first..last-1: on up to GOMAXPROCS
// goroutines (at most 8) when n is parallelMin or more, else in this one.
// inOrder, when not nil, is called for each chunk before f, by the
// goroutine that then calls f for it, one chunk at a time and in the
// chunks' order: for the work on a chunk that needs the one before.
func parallel(n int, inOrder, f func(k, first, last int)) {
	chunks := (n + chunkRecords - 1) / chunkRecords
	var mu sync.Mutex
	next := 0 // the next chunk to take, under mu
	work := func() {
		for {
			mu.Lock()
			k := next
			if k == chunks {
				mu.Unlock()
				return
			}
			next++
			first, last := k*chunkRecords, min(n, (k+1)*chunkRecords)
			if inOrder != nil {
				inOrder(k, first, last)
			}
			mu.Unlock()
			f(k, first, last)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 8, chunks)
	if n < parallelMin || workers < 2 {
		work()
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(work)
	}
	wg.Wait()
}

// Invalid returns the findings of a file that fails the strict check: one
// invalid-lockfile finding per problem, at the problem's offset. A
// lockfile that is not valid is never clean.
func Invalid(problems []error) []Finding {
	out := make([]Finding, 0, len(problems))
	for _, p := range problems {
		f := Finding{Rule: RuleInvalidLockfile, Record: schema.NoRecord, Field: "file", Value: schema.ErrorName(p),
			Expected: "a valid lockfile (lockfix validate)", Message: p.Error()}
		var ce *schema.CorruptionError
		if schema.AsCorruption(p, &ce) {
			f.Offset, f.Record = int(ce.Offset), ce.Record
			if ce.Field != "" {
				f.Field = ce.Field
			}
		}
		out = append(out, f)
	}
	return out
}
