package migrate

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNoMemory is the error of a file that would not fit in the memory the
// process has left: it is refused before it is read, and the run goes on.
var ErrNoMemory = errors.New("would not fit in the memory left")

// Migrating a file holds, at its peak, the bytes read, the decoded
// packages (whose strings are the bytes read) and the new bytes: measured
// at about 2.8 times the file (a 35 MB v1 file migrated to v2 peaks at
// 98 MB resident), so memPerByte is 3, plus memBase for the run's own
// buffers.
const (
	memPerByte = 3
	memBase    = 8 << 20
	// arena is the Go runtime's unit of new heap address space, which an
	// address-space limit must leave room for.
	arena = 64 << 20
)

// memGate admits files to the pipeline by the memory they need, so that
// a file that cannot fit is refused with a per-file error instead of the
// runtime dying out of memory, and files that fit one at a time wait for
// each other.
type memGate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	held   int64 // needs of the files in the pipeline
	active int
}

// memLimited reports whether anything limits the process's memory
// (GOMEMLIMIT, RLIMIT_AS, RLIMIT_DATA): only then are files measured.
func memLimited() bool {
	return memoryLeft() < math.MaxInt64
}

// memoryLeft returns how much more memory the process may use: the least
// of GOMEMLIMIT less what the runtime uses (free heap is reusable), and
// of RLIMIT_AS and RLIMIT_DATA less the address space and data mapped now
// (again less the free heap, and an arena's room). math.MaxInt64 when
// nothing limits it.
func memoryLeft() int64 {
	left := int64(math.MaxInt64)
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	total, released, free := int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64()), int64(s[2].Value.Uint64())
	if lim := debug.SetMemoryLimit(-1); lim < math.MaxInt64 {
		left = min(left, lim-(total-released-free))
	}
	for _, l := range []struct {
		res   int
		field string
	}{{unix.RLIMIT_AS, "VmSize:"}, {unix.RLIMIT_DATA, "VmData:"}} {
		var rl unix.Rlimit
		if unix.Getrlimit(l.res, &rl) != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > math.MaxInt64 {
			continue
		}
		used, ok := procStatus(l.field)
		if !ok {
			continue
		}
		left = min(left, int64(rl.Cur)-used+free+released-arena)
	}
	return left
}

// procStatus returns a field of /proc/self/status in bytes.
func procStatus(field string) (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// admit waits until a file of size bytes fits beside the files in the
// pipeline, or returns ErrNoMemory when it does not fit even alone. The
// caller calls release with the need returned once the file is done.
func (g *memGate) admit(path string, size int64) (int64, error) {
	need := size*memPerByte + memBase
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	for {
		left := memoryLeft()
		if need <= left-g.held || g.active == 0 && need <= left {
			g.held += need
			g.active++
			return need, nil
		}
		if g.active == 0 {
			return 0, fmt.Errorf("%s: %w: %d bytes would need about %d MiB to migrate, and %d MiB are left (GOMEMLIMIT, ulimit -v or ulimit -d)",
				path, ErrNoMemory, size, need>>20, max(left, 0)>>20)
		}
		g.cond.Wait()
	}
}

// release gives back what admit took.
func (g *memGate) release(need int64) {
	if need == 0 {
		return
	}
	g.mu.Lock()
	g.held -= need
	g.active--
	g.mu.Unlock()
	g.cond.Broadcast()
}
