package main

import (
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["sleep"] = cmdSleep
}

// cmdSleep pauses the script, for suites that start a long-running
// command in the background (watch, serve) and act on it:
//
//	sleep DURATION    a Go duration: 500ms, 1s
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sleep")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < 0 || d > time.Minute {
		ts.Fatalf("sleep: %q is not a duration between 0 and 1m", args[0])
	}
	time.Sleep(d)
}
