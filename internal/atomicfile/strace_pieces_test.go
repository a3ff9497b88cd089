package atomicfile_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/schema"
)

// TestStracePieces is TestStrace for a file large enough that migrate
// writes its new content in pieces (atomicfile.Pieces): a v1 file of
// 40,000 packages migrated to v2 under strace, with the temp file's
// fsync, the directory's fsync, the writes of the pieces (a full disk),
// the write of the header at offset 0 and the rename failing in turn.
// Each time lockfix exits 8, the lockfile holds its original bytes and
// no temp file remains; without a failure it holds the v2 file.
func TestStracePieces(t *testing.T) {
	strace, lockfix := straceLockfix(t)
	orig := genLock(1, 40_000, 9)
	if len(orig) < atomicfile.StreamMin {
		t.Fatalf("the file is %d bytes, too small to be written in pieces", len(orig))
	}
	tmp := `\d+<[^>]*/\.bun\.lockb\.lockfix-[0-9a-f]{16}\.tmp>`
	tests := []struct {
		name string
		args []string // strace's; {dir} is the lockfile's directory
		hit  string   // the strace log line of the injected call
	}{
		{"fsync EIO", []string{"-e", "inject=fsync:error=EIO"}, `fsync\(` + tmp + `\) += -1 EIO .*\(INJECTED\)`},
		{"directory fsync EIO", []string{"-P", "{dir}", "-e", "inject=fsync:error=EIO"}, `fsync\(\d+<{dir}>\) += -1 EIO .*\(INJECTED\)`},
		// Every write fails, from the first (the header's room), or
		// from the third (a piece): a disk that is full, or fills up
		// part way through.
		{"write ENOSPC", []string{"-e", "inject=write:error=ENOSPC"}, `write\(` + tmp + `, .*\) += -1 ENOSPC .*\(INJECTED\)`},
		{"piece write ENOSPC", []string{"-e", "inject=write:error=ENOSPC:when=3+"}, `write\(` + tmp + `, "PK.*\) += -1 ENOSPC .*\(INJECTED\)`},
		{"header pwrite EIO", []string{"-e", "inject=pwrite64:error=EIO"}, `pwrite64\(` + tmp + `, "BUN1.*\) += -1 EIO .*\(INJECTED\)`},
		{"rename EIO", []string{"-e", "inject=rename,renameat,renameat2:error=EIO"}, `rename(at2?)?\(.*lockfix-[0-9a-f]{16}\.tmp.*bun\.lockb.*\) += -1 EIO .*\(INJECTED\)`},
		{"no failure", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeLock(t, dir, "bun.lockb", orig, 0o640)
			logs := t.TempDir()
			args := []string{"-ff", "-y", "-o", filepath.Join(logs, "strace")}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "{dir}", dir))
			}
			args = append(args, lockfix, "migrate", "--quiet", "--to", "2", path)
			cmd := exec.Command(strace, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if tt.hit == "" {
				if err != nil {
					t.Fatalf("lockfix under strace: %v\n%s", err, stderr.String())
				}
				b, _ := os.ReadFile(path)
				if l, err := schema.Decode(b); err != nil || l.Config.Version != 2 || len(l.Packages) != 40_000 {
					t.Fatalf("the migrated file: %v", err)
				}
				noTemps(t, dir)
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 8 {
				t.Errorf("lockfix under strace: %v, want exit 8\n%s", err, stderr.String())
			}
			checkHit(t, logs, tt.hit, dir)
			sameBytes(t, path, orig, "after the failure")
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
				t.Error("the original file lost its mode")
			}
			noTemps(t, dir)
		})
	}
}
