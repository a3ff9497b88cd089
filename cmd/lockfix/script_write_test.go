package main

import (
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// The custom commands of the write path's suites (set_*, feature_*,
// write_*); sleep comes from script_watch_test.go.
func init() {
	scriptCmds["mkfifo"] = cmdMkfifo
	scriptCmds["filemode"] = cmdFilemode
	scriptCmds["islink"] = cmdIslink
	scriptCmds["holdlock"] = cmdHoldlock
	scriptCmds["releaselock"] = cmdReleaselock
	scriptCmds["notemps"] = cmdNotemps
}

// cmdMkfifo makes a named pipe:
//
//	mkfifo PATH
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkfifo PATH")
	}
	ts.Check(syscall.Mkfifo(ts.MkAbs(args[0]), 0o644))
}

// cmdFilemode checks a file's permission bits (octal), or with ! that
// they differ:
//
//	filemode PATH 0640
func cmdFilemode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode PATH MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := uint64(st.Mode().Perm())
	if (got == want) == neg {
		ts.Fatalf("%s has mode %04o, want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdIslink checks that PATH is a symbolic link (with !, that it is not):
//
//	islink PATH
func cmdIslink(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: islink PATH")
	}
	st, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	if (st.Mode()&os.ModeSymlink != 0) == neg {
		ts.Fatalf("%s: mode %v", args[0], st.Mode())
	}
}

var (
	heldMu sync.Mutex
	held   = map[string]*os.File{}
)

// cmdHoldlock takes the lock a writing lockfix takes on a file and holds
// it, in the test process, until releaselock or the end of the script:
//
//	holdlock PATH
func cmdHoldlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdlock PATH")
	}
	p := ts.MkAbs(args[0])
	f, err := os.Open(p)
	ts.Check(err)
	ts.Check(syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	heldMu.Lock()
	held[p] = f
	heldMu.Unlock()
	ts.Defer(func() { release(p) })
}

// cmdReleaselock lets go of a lock taken by holdlock:
//
//	releaselock PATH
func cmdReleaselock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: releaselock PATH")
	}
	if !release(ts.MkAbs(args[0])) {
		ts.Fatalf("releaselock: %s is not held", args[0])
	}
}

func release(p string) bool {
	heldMu.Lock()
	defer heldMu.Unlock()
	f, ok := held[p]
	if ok {
		f.Close()
		delete(held, p)
	}
	return ok
}

// cmdNotemps checks that a directory holds no lockfix temp file:
//
//	notemps DIR
func cmdNotemps(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: notemps DIR")
	}
	entries, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	var found []string
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) {
			found = append(found, e.Name())
		}
	}
	if len(found) > 0 {
		ts.Fatalf("temp files left in %s: %v", args[0], found)
	}
}
