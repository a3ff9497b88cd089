package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	_ "github.com/lockfix/lockfix/schema/all"
)

func TestCreateAtomic(t *testing.T) {
	dir := t.TempDir()
	good := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 5, Seed: 1})
	out := filepath.Join(dir, "out.lockb")
	if _, err := writeOutput(out, good, 0o640, migrate.Verify(migrate.Expect{Version: -1}), 0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b) != string(good) {
		t.Fatalf("read back: %v", err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	// Bytes that do not validate are never written, and no temp file stays.
	bad := filepath.Join(dir, "bad.lockb")
	_, err = writeOutput(bad, good[:50], 0o644, migrate.Verify(migrate.Expect{Version: -1}), 0)
	if !errors.Is(err, atomicfile.ErrVerify) {
		t.Fatalf("err = %v, want ErrVerify", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Error("an unverified file was written")
	}
	// A directory in the way is refused.
	if _, err := writeOutput(dir, good, 0o644, migrate.Verify(migrate.Expect{Version: -1}), 0); err == nil {
		t.Error("wrote over a directory")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestWriteBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	data := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 3, Seed: 1})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	names := map[string]bool{}
	for i := 0; i < 3; i++ {
		name, err := writeBackup(h)
		if err != nil {
			t.Fatal(err)
		}
		if names[name] || !strings.HasPrefix(filepath.Base(name), "bun.lockb.lockfix-backup-") {
			t.Fatalf("backup name %s repeated or malformed", name)
		}
		names[name] = true
		b, _ := os.ReadFile(name)
		if string(b) != string(data) {
			t.Fatal("the backup does not hold the original bytes")
		}
		if st, _ := os.Stat(name); st.Mode().Perm() != 0o600 {
			t.Errorf("backup mode %v, want the original's 0600", st.Mode().Perm())
		}
	}
	// Directory walks do not take backups for lockfiles.
	files, err := quietEnv().expandPaths([]string{dir}, "")
	if err != nil || len(files) != 1 {
		t.Fatalf("walk found %v, %v", files, err)
	}
}
