package migrate

import (
	"testing"
	"time"
)

// TestFSSyncSlowGuard: a filesystem sync over 100 ms and four times the
// fastest so far makes the next rounds fsync each file, and only that
// many; a slower sync within the bounds does not.
func TestFSSyncSlowGuard(t *testing.T) {
	defer func(f string) { forceSync = f }(forceSync)
	forceSync = "" // LOCKFIX_BATCH_SYNC would decide every round
	r := &runner{}
	r.fsSyncTook(20 * time.Millisecond)
	r.fsSyncTook(90 * time.Millisecond) // over 4x the fastest, under 100 ms
	if r.fsSkip != 0 {
		t.Fatalf("a 90 ms sync (fastest 20 ms) put off %d rounds, want 0", r.fsSkip)
	}
	r.fsSyncTook(150 * time.Millisecond)
	if r.fsSkip != slowRounds {
		t.Fatalf("a 150 ms sync (fastest 20 ms) put off %d rounds, want %d", r.fsSkip, slowRounds)
	}
	for i := range slowRounds {
		if r.fsSyncNow(0) {
			t.Fatalf("round %d after a slow sync syncs the filesystem", i+1)
		}
	}
	if r.fsSkip != 0 {
		t.Fatalf("%d rounds still put off after %d", r.fsSkip, slowRounds)
	}
	r = &runner{}
	r.fsSyncTook(400 * time.Millisecond)
	r.fsSyncTook(500 * time.Millisecond) // slow, but not against the fastest
	if r.fsSkip != 0 {
		t.Fatalf("a 500 ms sync (fastest 400 ms) put off %d rounds, want 0", r.fsSkip)
	}
}

// TestForeignDirty: /proc/meminfo is read; with a round's own bytes above
// anything pending, no other program's data is waiting, and with none of
// its own, any amount beyond the slack is another program's.
func TestForeignDirty(t *testing.T) {
	if foreignDirty(1 << 50) {
		t.Fatal("foreignDirty says other programs have more than 1 PiB waiting (or /proc/meminfo could not be read)")
	}
	if !foreignDirty(-(1 << 50)) {
		t.Fatal("foreignDirty with our own bytes far below zero says nothing is waiting")
	}
}
