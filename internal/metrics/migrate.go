package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// maxReportSize bounds the migrate report serve reads: a line is about
// 200 bytes, so 64 MiB holds the report of some 300,000 files.
const maxReportSize = 64 << 20

// migrateStatus is one file's line of a 'lockfix migrate --report' file.
type migrateStatus struct {
	Path   string `json:"path"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// migrateReport is the last read of a migrate report: what it said and
// whether it could be read whole.
type migrateReport struct {
	path string

	mu      sync.Mutex
	read    bool // the file was read at size and modTime
	size    int64
	modTime time.Time
	err     string // why it could not be read whole; "" when it was
	lines   []migrateStatus
}

// refresh rereads the report when its size or modification time changed
// since the last read, and reports whether what it shows changed.
func (r *migrateReport) refresh() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := os.Stat(r.path)
	if err != nil {
		changed := r.read || r.err != err.Error()
		r.read, r.err, r.lines, r.size, r.modTime = false, err.Error(), nil, 0, time.Time{}
		return changed
	}
	if r.read && st.Size() == r.size && st.ModTime().Equal(r.modTime) {
		return false
	}
	r.read, r.size, r.modTime, r.err = true, st.Size(), st.ModTime(), ""
	r.lines, err = readMigrateReport(r.path)
	if err != nil {
		r.err = err.Error()
	}
	return true
}

// readMigrateReport reads the lines of a migrate report. It returns the
// lines it could parse and an error naming the first it could not (a run
// killed mid-write leaves half a line).
func readMigrateReport(path string) ([]migrateStatus, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	} else if st.Size() > maxReportSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a report may have", path, st.Size(), maxReportSize)
	}
	var out []migrateStatus
	var firstErr error
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m migrateStatus
		if err := json.Unmarshal(line, &m); err != nil || m.Path == "" || m.Status == "" {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s:%d: not a migrate report line", path, n)
			}
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("%s: %w", path, err)
	}
	return out, firstErr
}

// snapshot returns what the last read found: whether the report was
// read whole, its modification time (zero when it is missing) and its
// lines.
func (r *migrateReport) snapshot() (ok bool, modTime time.Time, lines []migrateStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read && r.err == "", r.modTime, r.lines
}
