package atomicfile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
)

// backups lists the recover backups in dir.
func backups(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.lockfix-backup-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBackup writes backups: the bytes read, the lockfile's owner, group
// and mode, never over an existing file, and nothing left when a step
// fails.
func TestBackup(t *testing.T) {
	dir := t.TempDir()
	data := genLock(1, 30, 1)
	path := writeLock(t, dir, "bun.lockb", data, 0o640)
	owned := os.Geteuid() == 0
	if owned {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	name := path + ".lockfix-backup-1"
	if err := h.Backup(name); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, name, data, "the backup")
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("backup mode %v, want the lockfile's 0640", st.Mode().Perm())
	}
	if s := st.Sys().(*syscall.Stat_t); owned && (s.Uid != 65534 || s.Gid != 65534) {
		t.Errorf("backup owned by %d:%d, want the lockfile's 65534:65534", s.Uid, s.Gid)
	}
	if err := h.Backup(name); !errors.Is(err, fs.ErrExist) {
		t.Errorf("a second backup under the same name: %v, want ErrExist", err)
	}
	noTemps(t, dir)
	if err := atomicfile.RemoveBackup(name); err != nil {
		t.Fatal(err)
	}
	h.Close()

	for _, op := range []string{"create", "write", "fsync", "chmod"} {
		ffs := newFaultFS(map[string]int{op: 1})
		h, err := atomicfile.Open(path, atomicfile.Options{FS: ffs})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Backup(name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s failing: %v, want an error naming the backup", op, err)
		}
		h.Close()
		if ffs.calls[op] == 0 && op != "chmod" {
			t.Errorf("%s was never called", op)
		}
		if b := backups(t, dir); len(b) > 0 {
			t.Errorf("%s failing left %v", op, b)
		}
		noTemps(t, dir)
	}
}

// damaged returns a v2 lockfile of n packages with one bit of its terminal
// mode flipped (a repair recover makes exactly), and the repaired bytes.
func damaged(t testing.TB, n int) (bad, good []byte) {
	good = genLock(2, n, 5)
	bad = bytes.Clone(good)
	bad[schema.OffTerminalMode] ^= 1 << 3
	if len(schema.Check(bad)) == 0 {
		t.Fatal("the damage is not damage")
	}
	return bad, good
}

// TestBackupKilled kills 'lockfix recover' of a 200,000-package lockfile
// with SIGKILL at random moments, 40 times (8 with -short), most of them
// while it writes its backup: a backup is never torn (every backup file
// holds the original bytes whole), the lockfile is the original or its
// repair, and the next recover removes what the killed one left.
func TestBackupKilled(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	lockfix := buildLockfix(t, t.TempDir())
	dir := t.TempDir()
	bad, good := damaged(t, 200_000)
	path := writeLock(t, dir, "bun.lockb", bad, 0o644)

	// How long one recover takes, and when its backup starts and ends.
	start := time.Now()
	out, err := exec.Command(lockfix, "--trace", "recover", path).CombinedOutput()
	total := time.Since(start)
	if code := exitCode(err); code != 1 {
		t.Fatalf("recover: exit %d: %s", code, tail(out, 2000))
	}
	sameBytes(t, path, good, "the repair")
	for _, b := range backups(t, dir) {
		sameBytes(t, b, bad, "the backup")
		os.Remove(b)
	}
	t.Logf("one recover of %d bytes takes %s", len(bad), total)

	r := rand.New(rand.NewPCG(1, 2))
	torn := 0
	for i := range rounds {
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(lockfix, "recover", path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Most kills in the second half of the run, where the analysis is
		// done and the backup and the replace are written.
		at := time.Duration(r.Float64() * float64(total))
		if i%4 != 0 {
			at = total/3 + time.Duration(r.Float64()*float64(total)*2/3)
		}
		time.Sleep(at) // a random moment, not a wait for a condition
		cmd.Process.Kill()
		cmd.Wait()
		for _, b := range backups(t, dir) {
			got, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, bad) {
				torn++
				t.Errorf("round %d (kill at %s): backup %s holds %d bytes, not the original's %d", i, at, filepath.Base(b), len(got), len(bad))
			}
			os.Remove(b)
		}
		now, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(now, bad) && !bytes.Equal(now, good) {
			t.Fatalf("round %d: the lockfile is neither the original nor its repair", i)
		}
	}
	// The next run removes every temp file the killed ones left.
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lockfix, "recover", "--no-backup", path).CombinedOutput(); exitCode(err) != 1 {
		t.Fatalf("recover after the kills: %v: %s", err, out)
	}
	noTemps(t, dir)
	if torn > 0 {
		t.Errorf("%d torn backups in %d kills", torn, rounds)
	}
}

// exitCode is the exit code of a finished command's error.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestBackupFullDisk runs recover twice on a small tmpfs with room for the
// backup but not for the temp file of the repair: each fails with exit 8,
// leaves the original in place and no backup or temp file behind. It
// needs root (to mount) and skips elsewhere.
func TestBackupFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	lockfix := buildLockfix(t, t.TempDir())
	bad, _ := damaged(t, 20_000)
	mnt := t.TempDir()
	// The lockfile and its backup fit; the repair's temp file does not.
	size := 2*len(bad) + 64<<10
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	path := writeLock(t, mnt, "bun.lockb", bad, 0o644)
	for i := range 2 {
		out, err := exec.Command(lockfix, "recover", path).CombinedOutput()
		if code := exitCode(err); code != 8 || !strings.Contains(string(out), "no space left") {
			t.Fatalf("recover %d on a full disk: exit %d, want 8 with no space left: %s", i+1, code, tail(out, 2000))
		}
		sameBytes(t, path, bad, "the original")
		if b := backups(t, mnt); len(b) > 0 {
			t.Errorf("recover %d left the backups %v", i+1, b)
		}
		noTemps(t, mnt)
	}
}
