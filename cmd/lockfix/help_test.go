package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/cli"
)

// TestHelpTeaches checks every command's --help: the global flags, the
// exit codes, the size limit and where the format is described, and never
// a document that is not in the repository.
func TestHelpTeaches(t *testing.T) {
	names := commandNames(cli.Commands(), "")
	if len(names) < 15 {
		t.Fatalf("only %d commands: %v", len(names), names)
	}
	for _, name := range append(names, "") {
		args := append(strings.Fields(name), "--help")
		code, out, errs := run(t, nil, args...)
		if code != 0 {
			t.Errorf("lockfix %s: exit %d: %s", strings.Join(args, " "), code, errs)
			continue
		}
		help := string(out)
		want := []string{"--json", "--quiet", "--trace", "docs/format.md"}
		if name != "" {
			want = append(want, "Exit codes", strconv.Itoa(atomicfile.MaxSize), " 8 ", "16 usage error")
		}
		for _, w := range want {
			if !strings.Contains(help, w) {
				t.Errorf("lockfix %s --help does not say %q:\n%s", name, w, help)
			}
		}
		if strings.Contains(help, "FORMAT.md") {
			t.Errorf("lockfix %s --help points at FORMAT.md, which is not in the repository", name)
		}
	}
}
