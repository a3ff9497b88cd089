//go:build unix

package recovery

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime reports, as the metric cpu-ns/op, the CPU time the process
// spent per iteration from now until the returned function is called
// (the garbage collector's included). On a machine that others share,
// wall time per op grows with their load; CPU time much less.
func cpuTime(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
