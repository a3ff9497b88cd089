package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// leftovers returns the names in dir other than want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		ok := false
		for _, w := range want {
			ok = ok || e.Name() == w
		}
		if !ok {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	verified := false
	err := Create(path, []byte("new bytes"), 0o666, func(b []byte) error {
		verified = string(b) == "new bytes"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !verified {
		t.Error("verify did not see the data")
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new bytes" {
		t.Fatalf("read back %q, %v", got, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (0666 under umask 022)", st.Mode().Perm())
	}
	if extra := leftovers(t, dir, "bun.lockb"); extra != nil {
		t.Errorf("left behind %v", extra)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Create(path, []byte("new"), 0o644, nil)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("existing file changed to %q", b)
	}
	// A dangling symlink is a name that exists too.
	link := filepath.Join(dir, "link.lockb")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), link); err != nil {
		t.Fatal(err)
	}
	if err := Create(link, []byte("new"), 0o644, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over a dangling link: %v, want fs.ErrExist", err)
	}
	if extra := leftovers(t, dir, "bun.lockb", "link.lockb"); extra != nil {
		t.Errorf("left behind %v", extra)
	}
}

func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("a"), 0o644)
	os.WriteFile(b, []byte("b"), 0o644)
	if err := renameNoReplace(a, b); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("renameNoReplace onto an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(b); string(got) != "b" {
		t.Errorf("target overwritten: %q", got)
	}
}

func TestCreateVerifyFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	err := Create(path, []byte("bad"), 0o644, func([]byte) error { return errors.New("ChecksumMismatch") })
	if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "ChecksumMismatch") {
		t.Fatalf("err = %v, want ErrVerify with the reason", err)
	}
	if extra := leftovers(t, dir); extra != nil {
		t.Errorf("left behind %v", extra)
	}
}

// failingFS fails writes or syncs of temp files.
type failingFS struct {
	OSFS
	failWrite, failSync bool
}

type failingFile struct {
	*os.File
	fs *failingFS
}

func (f failingFile) Write(p []byte) (int, error) {
	if f.fs.failWrite {
		return 0, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func (f failingFile) Sync() error {
	if f.fs.failSync {
		return syscall.EIO
	}
	return f.File.Sync()
}

func (ffs *failingFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return failingFile{f, ffs}, nil
}

func TestCreateFailuresLeaveNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   *failingFS
		want error
	}{
		{"full disk", &failingFS{failWrite: true}, syscall.ENOSPC},
		{"fsync error", &failingFS{failSync: true}, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bun.lockb")
			err := create(tc.fs, path, []byte("data"), 0o644, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if extra := leftovers(t, dir); extra != nil {
				t.Errorf("left behind %v", extra)
			}
		})
	}
}

func TestCreateMissingDir(t *testing.T) {
	err := Create(filepath.Join(t.TempDir(), "no", "such", "bun.lockb"), []byte("x"), 0o644, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}
