package atomicfile_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// TestOpenFSSync: a filesystem sync opens on a local disk filesystem,
// names its device and syncs; on one whose syncfs is not known to cover
// everything (procfs here) it is refused with ErrNoFSSync.
func TestOpenFSSync(t *testing.T) {
	dir := t.TempDir()
	s, err := atomicfile.OpenFSSync(dir)
	if errors.Is(err, atomicfile.ErrNoFSSync) {
		t.Logf("the temp directory's filesystem is not synced whole: %v", err)
	} else if err != nil {
		t.Fatal(err)
	} else {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(st.Sys().(*syscall.Stat_t).Dev); s.Dev() != want {
			t.Errorf("Dev() = %d, want %d", s.Dev(), want)
		}
		if err := s.Sync(); err != nil {
			t.Errorf("Sync: %v", err)
		}
		s.Close()
		s.Close() // twice is harmless
	}
	if s, err := atomicfile.OpenFSSync("/proc"); !errors.Is(err, atomicfile.ErrNoFSSync) {
		s.Close()
		t.Errorf("OpenFSSync(/proc): %v, want ErrNoFSSync", err)
	}
	var none *atomicfile.FSSync
	none.Close() // nil is harmless
}
