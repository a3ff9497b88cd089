package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The custom commands of the recover suites.
func init() {
	scriptCmds["bitflip"] = cmdBitflip
	scriptCmds["garble"] = cmdGarble
	scriptCmds["backup"] = cmdBackup
	scriptCmds["installscript"] = cmdInstallScript
}

// cmdBitflip flips bits of a file in place, as bit rot does:
//
//	bitflip FILE BIT...     flip bit BIT%8 of byte BIT/8 (Go number syntax)
func cmdBitflip(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! bitflip")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: bitflip FILE BIT...")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	for _, a := range args[1:] {
		bit, err := strconv.ParseInt(a, 0, 64)
		if err != nil || bit < 0 || bit/8 >= int64(len(b)) {
			ts.Fatalf("bitflip: bit %q is outside the file's %d bytes", a, len(b))
		}
		b[bit/8] ^= 1 << uint(bit%8)
	}
	writeFixture(ts, path, b)
}

// cmdGarble writes pseudo-random bytes into a file, as a misdirected
// write does:
//
//	garble FILE OFFSET N [SEED]
func cmdGarble(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! garble")
	}
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: garble FILE OFFSET N [SEED]")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	num := func(s string) int {
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			ts.Fatalf("garble: %q is not a number", s)
		}
		return int(n)
	}
	off, n, seed := num(args[1]), num(args[2]), 1
	if len(args) == 4 {
		seed = num(args[3])
	}
	if off < 0 || n < 0 || off+n > len(b) {
		ts.Fatalf("garble: %d bytes at %d pass the end of the file (%d bytes)", n, off, len(b))
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0))
	for i := off; i < off+n; i++ {
		b[i] = byte(r.Uint32())
	}
	writeFixture(ts, path, b)
}

// cmdBackup checks the backups recover kept next to a file:
//
//	backup FILE N            exactly N backups of FILE exist
//	backup FILE 1 ORIGINAL   ... and the one backup holds ORIGINAL's bytes
func cmdBackup(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! backup")
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: backup FILE N [ORIGINAL]")
	}
	path := ts.MkAbs(args[0])
	want, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("backup: %q is not a number", args[1])
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	ts.Check(err)
	var found []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(path)+".lockfix-backup-") {
			found = append(found, filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
	if len(found) != want {
		ts.Fatalf("backup: %d backups of %s, want %d: %v", len(found), args[0], want, found)
	}
	if len(args) == 3 {
		if want != 1 {
			ts.Fatalf("backup: compare with ORIGINAL needs exactly one backup")
		}
		got, err := os.ReadFile(found[0])
		ts.Check(err)
		orig, err := os.ReadFile(ts.MkAbs(args[2]))
		ts.Check(err)
		if !bytes.Equal(got, orig) {
			ts.Fatalf("backup: %s does not hold the bytes of %s", found[0], args[2])
		}
	}
}

// cmdInstallScript copies an operator script from scripts/ into the work
// directory:
//
//	installscript NAME
func cmdInstallScript(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: installscript NAME")
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", args[0]))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o755))
}

// The runbook stays shellcheck-clean. shellcheck is the Debian package of
// the same name; without it the test skips, except in CI (CI=true), where
// it fails.
func TestRecoverScriptShellcheck(t *testing.T) {
	path, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck is not installed (apt-get install -y shellcheck)")
		}
		t.Skip("shellcheck is not installed (apt-get install -y shellcheck); skipped outside CI")
	}
	out, err := exec.Command(path, filepath.Join("..", "..", "scripts", "recover-config.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck scripts/recover-config.sh: %v\n%s", err, out)
	}
}
