package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"lockfix": main,
	})
}

// scriptCmds are the custom commands of the testscript suites. Files of
// this package add their own in init.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"corrupt":  cmdCorrupt,
	"exitcode": cmdExitcode,
	"genlock":  cmdGenlock,
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                scriptCmds,
		Setup: func(env *testscript.Env) error {
			// The conformance vectors, for every suite.
			for _, v := range []string{"v0", "v1", "v2"} {
				for _, ext := range []string{".lockb", ".json"} {
					b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", v+ext))
					if err != nil {
						return err
					}
					if err := os.WriteFile(filepath.Join(env.WorkDir, "vectors", v+ext), b, 0o644); err != nil {
						if err := os.MkdirAll(filepath.Join(env.WorkDir, "vectors"), 0o755); err != nil {
							return err
						}
						if err := os.WriteFile(filepath.Join(env.WorkDir, "vectors", v+ext), b, 0o644); err != nil {
							return err
						}
					}
				}
			}
			return nil
		},
	})
}

// cmdCorrupt changes bytes of a file in place:
//
//	corrupt FILE OFFSET [XOR]       xor the byte at OFFSET with XOR (default 0x01)
//	corrupt FILE OFFSET set BYTE    set the byte at OFFSET to BYTE
//	corrupt FILE OFFSET zero N      zero N bytes from OFFSET
//	corrupt FILE truncate SIZE      cut the file to SIZE bytes
//
// Numbers take Go syntax (0x11, 17). A negative OFFSET counts from the end.
func cmdCorrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! corrupt")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: corrupt FILE OFFSET [XOR] | FILE OFFSET set BYTE | FILE OFFSET zero N | FILE truncate SIZE")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	num := func(s string) int {
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			ts.Fatalf("corrupt: %q is not a number", s)
		}
		return int(n)
	}
	if args[1] == "truncate" {
		if len(args) != 3 {
			ts.Fatalf("usage: corrupt FILE truncate SIZE")
		}
		n := num(args[2])
		if n > len(b) {
			ts.Fatalf("corrupt: truncate to %d, the file is %d bytes", n, len(b))
		}
		writeFixture(ts, path, b[:n])
		return
	}
	off := num(args[1])
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("corrupt: offset %d outside the file's %d bytes", off, len(b))
	}
	switch {
	case len(args) == 2:
		b[off] ^= 1
	case len(args) == 3:
		b[off] ^= byte(num(args[2]))
	case len(args) == 4 && args[2] == "set":
		b[off] = byte(num(args[3]))
	case len(args) == 4 && args[2] == "zero":
		n := num(args[3])
		if off+n > len(b) {
			ts.Fatalf("corrupt: zero %d bytes at %d passes the end (%d)", n, off, len(b))
		}
		clear(b[off : off+n])
	default:
		ts.Fatalf("usage: corrupt FILE OFFSET [XOR] | FILE OFFSET set BYTE | FILE OFFSET zero N")
	}
	writeFixture(ts, path, b)
}

// writeFixture writes the changed bytes of a fixture back, keeping its
// mode.
func writeFixture(ts *testscript.TestScript, path string, b []byte) {
	st, err := os.Stat(path)
	ts.Check(err)
	ts.Check(os.WriteFile(path, b, st.Mode().Perm()))
}

// cmdExitcode runs a command and checks its exact exit code; its stdout
// and stderr are kept for the stdout and stderr commands:
//
//	exitcode N lockfix validate bad.lockb
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
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
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

// cmdGenlock writes a generated valid lockfile:
//
//	genlock FILE VERSION PACKAGES [SEED]
func cmdGenlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! genlock")
	}
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: genlock FILE VERSION PACKAGES [SEED]")
	}
	v, err1 := strconv.Atoi(args[1])
	n, err2 := strconv.Atoi(args[2])
	seed := uint64(1)
	if len(args) == 4 {
		s, err := strconv.ParseUint(args[3], 0, 64)
		ts.Check(err)
		seed = s
	}
	if err1 != nil || err2 != nil {
		ts.Fatalf("usage: genlock FILE VERSION PACKAGES [SEED]")
	}
	if _, ok := schema.Lookup(v); !ok {
		ts.Fatalf("genlock: version %d is not registered", v)
	}
	b := lockgen.Bytes(lockgen.Options{Version: v, Packages: n, Seed: seed})
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}
