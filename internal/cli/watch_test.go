package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// syncBuffer is an output that a running command writes and a test reads.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	onLine func(line string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.onLine != nil {
		for _, l := range strings.SplitAfter(string(p), "\n") {
			if l != "" {
				b.onLine(l)
			}
		}
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitOutput waits until out contains want, and returns what follows the
// position from.
func waitOutput(t testing.TB, out *syncBuffer, from int, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := out.String()
		if strings.Contains(s[from:], want) {
			return s[from:]
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the output lacks %q:\n%s", want, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running is a lockfix command run in this process.
type running struct {
	out, err *syncBuffer
	code     chan int
}

// start runs lockfix with args; the caller waits for its first output
// before sending it a signal.
func start(t testing.TB, args ...string) *running {
	t.Helper()
	r := &running{out: &syncBuffer{}, err: &syncBuffer{}, code: make(chan int, 1)}
	go func() { r.code <- runWith(r.out, r.err, args...) }()
	return r
}

// interrupt sends SIGINT to the process, as Ctrl-C does, and returns the
// command's exit code.
func (r *running) interrupt(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-r.code:
		return code
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after %v", sig)
		return -1
	}
}

func lockfile(t testing.TB, v, n int, seed uint64) []byte {
	t.Helper()
	return lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: seed})
}

func atVersion(t testing.TB, b []byte, v int) []byte {
	t.Helper()
	l, err := schema.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Version = v
	out, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// swapConfigMap updates dir as the kubelet updates a ConfigMap volume:
// a new timestamped directory, ..data renamed to point at it, the old one
// removed; bun.lockb -> ..data/bun.lockb is made the first time.
func swapConfigMap(t testing.TB, dir, ts string, b []byte) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, ".."+ts), 0o755))
	must(os.WriteFile(filepath.Join(dir, ".."+ts, "bun.lockb"), b, 0o644))
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	must(os.Symlink(".."+ts, filepath.Join(dir, "..data_tmp")))
	must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	if _, err := os.Lstat(filepath.Join(dir, "bun.lockb")); err != nil {
		must(os.Symlink("..data/bun.lockb", filepath.Join(dir, "bun.lockb")))
	}
	if old != "" {
		must(os.RemoveAll(filepath.Join(dir, old)))
	}
}

var stamp = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) `)

// TestWatchReplacements replaces a watched file by rename, writes it in
// place and swaps it as a ConfigMap volume does, and checks the diff
// printed each time.
func TestWatchReplacements(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "app", "bun.lockb")
	cm := filepath.Join(dir, "cm")
	os.MkdirAll(filepath.Dir(plain), 0o755)
	os.MkdirAll(cm, 0o755)
	v1 := lockfile(t, 1, 3, 1)
	os.WriteFile(plain, v1, 0o644)
	swapConfigMap(t, cm, "2026_01_01_00_00_00.1", v1)
	cmFile := filepath.Join(cm, "bun.lockb")

	r := start(t, "watch", plain, cmFile)
	out := waitOutput(t, r.out, 0, "watching "+cmFile)
	for _, want := range []string{"watching " + plain + ": v1, 3 packages\n", "watching " + cmFile + ": v1, 3 packages\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("initial output lacks %q:\n%s", want, out)
		}
	}

	// 1. Replaced by rename, as editors and lockfix do.
	pos := len(r.out.String())
	tmp := filepath.Join(filepath.Dir(plain), ".bun.lockb.swp")
	os.WriteFile(tmp, atVersion(t, v1, 2), 0o644)
	os.Rename(tmp, plain)
	got := waitOutput(t, r.out, pos, "config.version")
	want := plain + ": changed (v2, 3 packages)\n  config.version: 1 -> 2\n"
	if !strings.Contains(stamp.ReplaceAllString(got, ""), want) || !stamp.MatchString(got) {
		t.Errorf("after rename: got\n%s\nwant a timestamped\n%s", got, want)
	}

	// 2. Written in place: one package more, flags changed.
	pos = len(r.out.String())
	l := lockgen.Lockfile(lockgen.Options{Version: 2, Packages: 4, Seed: 1})
	l.Config.Flags = schema.FlagDebug | schema.FlagFrozenLockfile
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got = waitOutput(t, r.out, pos, "+ ")
	old, _ := schema.Decode(atVersion(t, v1, 2))
	added := ""
	for _, p := range l.Packages {
		if !slices.ContainsFunc(old.Packages, func(q schema.Package) bool { return q.Name == p.Name && q.Version == p.Version }) {
			added = p.Name + "@" + p.Version
		}
	}
	want = plain + ": changed (v2, 4 packages)\n  config.flags: DEBUG -> DEBUG|FROZEN_LOCKFILE\n  + " + added + "\n"
	if !strings.Contains(stamp.ReplaceAllString(got, ""), want) {
		t.Errorf("after in-place write: got\n%s\nwant\n%s", got, want)
	}

	// 3. A ConfigMap symlink swap.
	pos = len(r.out.String())
	swapConfigMap(t, cm, "2026_01_01_00_01_00.2", atVersion(t, v1, 0))
	got = waitOutput(t, r.out, pos, "config.version")
	want = cmFile + ": changed (v0, 3 packages)\n  config.version: 1 -> 0\n"
	if !strings.Contains(stamp.ReplaceAllString(got, ""), want) {
		t.Errorf("after symlink swap: got\n%s\nwant\n%s", got, want)
	}

	// 4. Invalid, then deleted.
	pos = len(r.out.String())
	bad := slices.Clone(b)
	bad[0x0E] = 0 // rows
	os.WriteFile(tmp, bad, 0o644)
	os.Rename(tmp, plain)
	got = waitOutput(t, r.out, pos, "InvalidTerminalSize at")
	if !strings.Contains(got, plain+": INVALID (v2, 2 problems: ChecksumMismatch, InvalidTerminalSize)\n") {
		t.Errorf("after corruption: got\n%s", got)
	}
	pos = len(r.out.String())
	os.Remove(plain)
	waitOutput(t, r.out, pos, plain+": deleted\n")

	if code := r.interrupt(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0\nstderr: %s", code, r.err.String())
	}
}

func TestWatchJSON(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	v1 := lockfile(t, 1, 2, 1)
	os.WriteFile(path, v1, 0o644)
	r := start(t, "watch", "--json", "--debounce", "10ms", dir)
	waitOutput(t, r.out, 0, `"kind":"initial"`)
	os.WriteFile(path+".new", atVersion(t, v1, 2), 0o644)
	os.Rename(path+".new", path)
	waitOutput(t, r.out, 0, `"kind":"changed"`)
	if code := r.interrupt(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	lines := strings.Split(strings.TrimSpace(r.out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %d:\n%s", len(lines), r.out.String())
	}
	var ev struct {
		Time    time.Time `json:"time"`
		Path    string    `json:"path"`
		Kind    string    `json:"kind"`
		Valid   bool      `json:"valid"`
		Version int       `json:"version"`
		Changes struct {
			Config []struct{ Field, Old, New string } `json:"config"`
		} `json:"changes"`
		Problems []any `json:"problems"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Path != path || ev.Kind != "changed" || !ev.Valid || ev.Version != 2 || ev.Time.IsZero() ||
		len(ev.Changes.Config) != 1 || ev.Changes.Config[0].Field != "config.version" || ev.Problems == nil {
		t.Errorf("event %s", lines[1])
	}
}

func TestWatchUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"watch"}, ExitUsage},
		{[]string{"watch", "--debounce", "-1s", "x"}, ExitUsage},
		{[]string{"watch", filepath.Join(t.TempDir(), "no", "such", "bun.lockb")}, ExitOperational},
	} {
		var out bytes.Buffer
		if code := runWith(&out, &out, c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, out.String())
		}
	}
}

// BenchmarkWatchLatency measures the time from a rename over a watched
// file to the diff printed by 'lockfix watch' (default debounce), and
// reports the median and the 90th percentile.
func BenchmarkWatchLatency(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	v1 := lockfile(b, 1, 20, 1)
	v2 := atVersion(b, v1, 2)
	os.WriteFile(path, v1, 0o644)
	printed := make(chan time.Time, 1)
	r := &running{out: &syncBuffer{onLine: func(l string) {
		if strings.HasPrefix(l, "  config.version: ") {
			printed <- time.Now()
		}
	}}, err: &syncBuffer{}, code: make(chan int, 1)}
	go func() { r.code <- runWith(r.out, r.err, "watch", path) }()
	waitOutput(b, r.out, 0, "watching")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := v2
		if i%2 == 1 {
			next = v1
		}
		os.WriteFile(path+".tmp", next, 0o644)
		start := time.Now()
		os.Rename(path+".tmp", path)
		select {
		case at := <-printed:
			lat = append(lat, at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatalf("no diff printed within 5s:\n%s", r.out.String())
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10])/1e6, "ms-p90")
	if code := r.interrupt(b, syscall.SIGINT); code != 0 {
		b.Errorf("exit %d", code)
	}
}

// TestWatchTrace checks that --trace times each step of a read: the file
// read, the sniff, the checksums, the validation and the decode.
func TestWatchTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bun.lockb")
	os.WriteFile(path, lockfile(t, 2, 3, 1), 0o644)
	r := start(t, "--trace", "watch", path)
	waitOutput(t, r.out, 0, "watching")
	if code := r.interrupt(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit %d", code)
	}
	line := regexp.MustCompile(`^\[TRACE\] ([a-z.]+) [0-9.]+[nµm]?s( .*)?$`)
	var ops []string
	for _, l := range strings.Split(strings.TrimSpace(r.err.String()), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not a trace line: %q", l)
			continue
		}
		ops = append(ops, m[1])
	}
	for _, want := range []string{"file.read", "header.decode", "checksum", "decode"} {
		if !slices.Contains(ops, want) {
			t.Errorf("no %s line in:\n%s", want, r.err.String())
		}
	}
	if !strings.Contains(r.err.String(), "checksum") || !strings.Contains(r.err.String(), "schema/v2") {
		t.Errorf("trace lines lack the schema version:\n%s", r.err.String())
	}
}
