package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lockfix/lockfix/cli"
)

// TestMain makes the test binary two programs for the scripts:
// lockfix-v3, this command (versions 0 to 3), and lockfix, the tree's
// lockfix (schema/all only: versions 0 to 2), which must leave a file of
// version 3 alone.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"lockfix-v3": main,
		"lockfix":    func() { os.Exit(cli.Main(os.Args)) },
	})
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"bitflip":  cmdBitflip,
			"corrupt":  cmdCorrupt,
			"exitcode": cmdExitcode,
		},
		Setup: func(env *testscript.Env) error {
			// The tree's conformance vectors of versions 1 and 2.
			dir := filepath.Join(env.WorkDir, "vectors")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, name := range []string{"v1.lockb", "v2.lockb", "v2.json"} {
				b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "testdata", "vectors", name))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	})
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
	writeBack(ts, path, b)
}

// cmdCorrupt overwrites bytes of a file in place:
//
//	corrupt FILE OFFSET set BYTE...   write the BYTEs from OFFSET
//	corrupt FILE OFFSET zero N        zero N bytes from OFFSET
//
// Numbers take Go syntax (0x11, 17).
func cmdCorrupt(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: corrupt FILE OFFSET set BYTE... | FILE OFFSET zero N"
	if neg {
		ts.Fatalf("unsupported: ! corrupt")
	}
	if len(args) < 4 {
		ts.Fatalf(usage)
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	num := func(s string) int {
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil || n < 0 {
			ts.Fatalf("corrupt: %q is not a number >= 0", s)
		}
		return int(n)
	}
	off := num(args[1])
	var data []byte
	switch args[2] {
	case "set":
		for _, a := range args[3:] {
			n := num(a)
			if n > 0xff {
				ts.Fatalf("corrupt: %q is not a byte", a)
			}
			data = append(data, byte(n))
		}
	case "zero":
		if len(args) != 4 {
			ts.Fatalf(usage)
		}
		data = make([]byte, num(args[3]))
	default:
		ts.Fatalf(usage)
	}
	if off+len(data) > len(b) {
		ts.Fatalf("corrupt: %d bytes at %d pass the end of the file (%d bytes)", len(data), off, len(b))
	}
	copy(b[off:], data)
	writeBack(ts, path, b)
}

// writeBack writes the changed bytes of a file back, keeping its mode.
func writeBack(ts *testscript.TestScript, path string, b []byte) {
	st, err := os.Stat(path)
	ts.Check(err)
	ts.Check(os.WriteFile(path, b, st.Mode().Perm()))
}

// cmdExitcode runs a command and checks its exact exit code; its stdout
// and stderr are kept for the stdout and stderr commands:
//
//	exitcode N lockfix-v3 validate bad.lockb
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
