package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// gitAttributes are the attributes lockfix's lockfiles get: binary (no
// text conversion of line endings, no built-in text merge), lockfix's
// diff driver and its merge driver.
const gitAttributes = "binary diff=lockfix merge=lockfix"

// defaultPattern is the .gitattributes pattern always added.
const defaultPattern = "*.lockb"

func gitCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "git",
		Usage: "set up git to diff and merge lockfiles by their content",
		Subcommands: []*ucli.Command{{
			Name:  "setup",
			Usage: "add lockfix's diff and merge drivers to .gitattributes and the git config",
			Flags: append([]ucli.Flag{
				&ucli.BoolFlag{Name: "global", Usage: "write the drivers to your own git config (~/.gitconfig), for every clone"},
				&ucli.StringSliceFlag{Name: "name", Usage: "another lockfile name `GLOB` to add to .gitattributes besides *.lockb (repeatable)"},
			}, globalFlags()...),
			Description: `setup makes git show and merge lockfiles by their decoded content. In a
repository it adds to .gitattributes at the top of the work tree

   *.lockb binary diff=lockfix merge=lockfix

(and a line for each --name GLOB), and writes to the repository's git
config (.git/config; with --global, your ~/.gitconfig instead):

   diff.lockfix.textconv = lockfix textconv
   merge.lockfix.name    = lockfix three-way merge of lockfiles
   merge.lockfix.driver  = lockfix merge-driver %O %A %B %P

Commit .gitattributes: it travels with the repository. The git config
does not: git never takes diff or merge commands from a clone (that would
let any repository run programs on your machine), so the config part
must be run once in every clone, or once with --global for all of them.
Without it git still treats the files as binary: no diff, and a merge of
two changes is a conflict.

It is idempotent: what is already there is left alone, and each line
printed says what was added or set. Outside a repository only --global
works (the config part). Exit 0 on success, 8 when git fails or the
files cannot be written, 16 for bad arguments.`,
			Action: runGitSetup,
		}},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return usage("git: want a subcommand: setup (see 'lockfix git --help')")
			}
			return usage("git: no subcommand %q: want setup (see 'lockfix git --help')", c.Args().First())
		},
	}
}

// setupChange is one thing git setup added, set or found in place.
type setupChange struct {
	File    string `json:"file"`
	Setting string `json:"setting"`
	Changed bool   `json:"changed"`
}

func runGitSetup(c *ucli.Context) error {
	if c.NArg() > 0 {
		return usage("git setup: takes no arguments, got %q (patterns go in --name)", c.Args().First())
	}
	patterns := []string{defaultPattern}
	for _, n := range c.StringSlice("name") {
		if n == "" || strings.ContainsAny(n, " \t\n\r") {
			return usage("git setup: --name %q: want a glob without spaces, e.g. --name bun.lockb", n)
		}
		if _, err := filepath.Match(n, ""); err != nil {
			return usage("git setup: --name %q is not a valid glob: %v", n, err)
		}
		if !contains(patterns, n) {
			patterns = append(patterns, n)
		}
	}
	isGlobal := c.Bool("global")
	top, err := gitOutput("", "rev-parse", "--show-toplevel")
	if err != nil && !isGlobal {
		return exit(ExitOperational, "git setup: not in a git work tree (%v); run it inside one, or use --global for the config part", err)
	}
	var changes []setupChange
	if err == nil {
		ch, err := addAttributes(filepath.Join(top, ".gitattributes"), patterns)
		if err != nil {
			return exit(ExitOperational, "git setup: %v", err)
		}
		changes = append(changes, ch...)
	}
	scope, where := "--local", "the repository's git config"
	if isGlobal {
		scope, where = "--global", "your global git config"
	}
	prog := "lockfix"
	if _, err := exec.LookPath("lockfix"); err != nil {
		// Not on the PATH: the drivers name this program by its path.
		if exe, err := os.Executable(); err == nil {
			prog = exe
		}
	}
	for _, kv := range [][2]string{
		{"diff.lockfix.textconv", prog + " textconv"},
		{"merge.lockfix.name", "lockfix three-way merge of lockfiles"},
		{"merge.lockfix.driver", prog + " merge-driver %O %A %B %P"},
	} {
		cur, _ := gitOutput(top, "config", scope, "--get", kv[0])
		ch := setupChange{File: where, Setting: kv[0] + " = " + kv[1]}
		if cur != kv[1] {
			if _, err := gitOutput(top, "config", scope, kv[0], kv[1]); err != nil {
				return exit(ExitOperational, "git setup: set %s: %v", kv[0], err)
			}
			ch.Changed = true
		}
		changes = append(changes, ch)
	}
	if global(c, "json") {
		return printJSON(stdout(c), map[string]any{"changes": changes})
	}
	if global(c, "quiet") {
		return nil
	}
	for _, ch := range changes {
		verb := "already in"
		if ch.Changed {
			verb = "added to"
			if !strings.HasSuffix(ch.File, ".gitattributes") {
				verb = "set in"
			}
		}
		fmt.Fprintf(stdout(c), "%s %s: %s\n", verb, ch.File, ch.Setting)
	}
	if top != "" {
		fmt.Fprintln(stdout(c), "commit .gitattributes; the git config is per clone: run 'lockfix git setup' once in each clone, or 'lockfix git setup --global'")
	} else {
		fmt.Fprintln(stdout(c), "not in a repository: add '*.lockb "+gitAttributes+"' to each repository's .gitattributes (run 'lockfix git setup' in it)")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// gitOutput runs git in dir ("" for the current directory) and returns
// its output without the trailing newline; the error carries git's
// message.
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// addAttributes appends "PATTERN binary diff=lockfix merge=lockfix" to
// the .gitattributes file at path for each pattern that has no such line
// yet (a later line wins in git, so an older line for the pattern is
// overridden, not edited), creating the file when needed; it is written
// atomically.
func addAttributes(path string, patterns []string) ([]setupChange, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	want := strings.Fields(gitAttributes)
	have := map[string]bool{}
	for _, line := range strings.Split(string(old), "\n") {
		f := strings.Fields(line)
		if len(f) == len(want)+1 && equalFields(f[1:], want) {
			have[f[0]] = true
		}
	}
	var changes []setupChange
	next := old
	for _, p := range patterns {
		line := p + " " + gitAttributes
		changes = append(changes, setupChange{File: ".gitattributes", Setting: line, Changed: !have[p]})
		if have[p] {
			continue
		}
		if len(next) > 0 && next[len(next)-1] != '\n' {
			next = append(next, '\n')
		}
		next = append(next, line+"\n"...)
	}
	if bytes.Equal(next, old) {
		return changes, nil
	}
	if old == nil {
		return changes, atomicfile.Create(path, next, 0o644, nil)
	}
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return changes, h.Replace(next, nil)
}

func equalFields(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
