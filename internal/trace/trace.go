// Package trace writes the timed trace lines of --trace to stderr, one per
// read, decode, checksum, validate and write:
//
//	[TRACE] header.decode 48ns schema/v1
//
// Tracing is off until Enable is called; a disabled Span costs a branch.
package trace

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	enabled atomic.Bool
	mu      sync.Mutex
	out     io.Writer = os.Stderr
)

// Enable turns tracing on and sends the lines to w (os.Stderr when nil).
func Enable(w io.Writer) {
	mu.Lock()
	defer mu.Unlock()
	if w == nil {
		w = os.Stderr
	}
	out = w
	enabled.Store(true)
}

// Disable turns tracing off.
func Disable() { enabled.Store(false) }

// Enabled reports whether tracing is on.
func Enabled() bool { return enabled.Load() }

// Span is a running traced operation; End prints its line.
type Span struct {
	op    string
	start time.Time
}

// Start begins the operation op ("header.decode", "file.read").
func Start(op string) Span {
	if !enabled.Load() {
		return Span{}
	}
	return Span{op: op, start: time.Now()}
}

// End prints the span's line with its duration and detail, usually the
// schema version ("schema/v1") or the path.
func (s Span) End(detail string) {
	if s.op == "" {
		return
	}
	Line(s.op, time.Since(s.start), detail)
}

// Line prints one trace line.
func Line(op string, d time.Duration, detail string) {
	if !enabled.Load() {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if detail == "" {
		fmt.Fprintf(out, "[TRACE] %s %s\n", op, d)
		return
	}
	fmt.Fprintf(out, "[TRACE] %s %s %s\n", op, d, detail)
}
