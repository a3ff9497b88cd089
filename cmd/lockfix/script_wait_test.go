package main

import (
	"os"
	"regexp"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["waitfor"] = cmdWaitfor
}

// waitDeadline bounds a waitfor: a condition that never comes fails the
// suite instead of hanging it.
const waitDeadline = 30 * time.Second

// cmdWaitfor waits until FILE exists and its content matches REGEXP, for
// suites that run lockfix in the background and must act once it is
// ready (listening, watching, waiting on a lock), without a fixed sleep:
//
//	waitfor FILE REGEXP
//
// FILE may be outside the work directory (/proc/locks).
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! waitfor")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(waitDeadline)
	for {
		if b, err := os.ReadFile(path); err == nil && re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: %s did not match %q within %s", args[0], args[1], waitDeadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
