package cli

import (
	"fmt"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
)

// The help every command shares: where the format and the commands are
// described, the size limit, and the exit codes.
var (
	// helpFooter ends every command's --help but diff's.
	helpFooter = `Exit codes (fsck's; they add up over many files): 0 nothing wrong or the
change asked for was made, 1 all problems found were repaired, 4 problems
remain (a file is invalid, unrepairable or refused), 8 operational error
(I/O, permissions, a held lock, a path under which no lockfile is found),
16 usage error.

` + limitsHelp
	// diffFooter ends diff's --help: diff follows diff(1).
	diffFooter = `Exit codes (diff(1)'s): 0 equal, 1 different, 8 operational error (a
file that cannot be read or is invalid), 16 usage error.

` + limitsHelp
	limitsHelp = fmt.Sprintf(`A file larger than %d bytes (%d GiB) is refused (exit 8). The byte
layout of every version, its rules and the error names: docs/format.md;
every command: docs/commands.md.`, atomicfile.MaxSize, atomicfile.MaxSize>>30)
)

// withHelp returns a copy of cmd, and of its subcommands, whose --help
// ends with the exit codes and the limits.
func withHelp(cmd *ucli.Command) *ucli.Command {
	cp := *cmd
	footer := helpFooter
	if cmd.Name == "diff" {
		footer = diffFooter
	}
	if !strings.Contains(cp.Description, limitsHelp) {
		cp.Description = strings.TrimRight(cp.Description, "\n") + "\n\n" + footer
	}
	if len(cmd.Subcommands) == 0 {
		// Completion then offers files, not "help".
		cp.HideHelpCommand = true
	}
	cp.Subcommands = make([]*ucli.Command, len(cmd.Subcommands))
	for i, sub := range cmd.Subcommands {
		cp.Subcommands[i] = withHelp(sub)
	}
	return &cp
}

func completionCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `completion prints a script that completes lockfix's commands, subcommands
and flags in the shell named; file arguments complete as files.

Install it:
   bash: lockfix completion bash > /etc/bash_completion.d/lockfix
         (or: source <(lockfix completion bash) in ~/.bashrc)
   zsh:  lockfix completion zsh > "${fpath[1]}/_lockfix"
   fish: lockfix completion fish > ~/.config/fish/completions/lockfix.fish`,
		Action: runCompletion,
	}
}

func manCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "man",
		Usage: "print lockfix's manual page (roff), made from the same definitions as --help",
		Description: `man prints the manual page lockfix(1), generated from the commands, their
flags and their help, so that it says what --help says.

Examples:
   lockfix man > /usr/local/share/man/man1/lockfix.1
   lockfix man | man -l -`,
		Action: runMan,
	}
}

// completionScripts are the bash and zsh scripts; both ask lockfix itself
// for the words that may come next (urfave/cli's
// --generate-bash-completion).
var completionScripts = map[string]string{
	"bash": `# bash completion for lockfix: source it, or put it in /etc/bash_completion.d.
_lockfix_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  return 0
}
complete -o bashdefault -o default -F _lockfix_complete lockfix
`,
	"zsh": `#compdef lockfix
# zsh completion for lockfix: put it in a directory of $fpath as _lockfix.
_lockfix() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _lockfix lockfix
`,
}

func runCompletion(c *ucli.Context) error {
	if c.NArg() != 1 {
		return usage("completion: want one shell, bash, zsh or fish, got %d arguments (usage: lockfix completion bash|zsh|fish)", c.NArg())
	}
	shell := c.Args().First()
	if shell == "fish" {
		s, err := c.App.ToFishCompletion()
		if err != nil {
			return exit(ExitOperational, "completion fish: %v", err)
		}
		_, err = fmt.Fprint(stdout(c), s)
		return err
	}
	s, ok := completionScripts[shell]
	if !ok {
		return usage("completion: no script for %q%s: want bash, zsh or fish", shell, suggestShell(shell))
	}
	_, err := fmt.Fprint(stdout(c), s)
	return err
}

// suggestShell suggests a shell name near typed.
func suggestShell(typed string) string {
	if s := suggest(typed, []string{"bash", "zsh", "fish"}); s != "" {
		return fmt.Sprintf("; did you mean %s?", s)
	}
	return ""
}

func runMan(c *ucli.Context) error {
	if c.NArg() != 0 {
		return usage("man: takes no arguments, got %q (usage: lockfix man)", c.Args().First())
	}
	_, err := stdout(c).Write(md2man.Render([]byte(manMarkdown(c.App))))
	return err
}

// manMarkdown writes lockfix(1) in the markdown go-md2man renders, from the
// app's commands: each one's usage line, its --help text and its flags.
// urfave/cli's own ToMan leaves the descriptions out.
func manMarkdown(app *ucli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%% %s 1 \"lockfix %s\"\n\n# NAME\n\n%s - %s\n\n", app.Name, Version, app.Name, app.Usage)
	fmt.Fprintf(&b, "# SYNOPSIS\n\n**%s** [**--json**] [**--quiet**] [**--trace**] *command* [*options*] [*arguments*...]\n\n", app.Name)
	fmt.Fprintf(&b, "# DESCRIPTION\n\n%s\n\n", preformatted(app.Description))
	b.WriteString("# GLOBAL OPTIONS\n\n")
	manFlags(&b, app.VisibleFlags())
	b.WriteString("# COMMANDS\n\n")
	var walk func(cmds []*ucli.Command, prefix string)
	walk = func(cmds []*ucli.Command, prefix string) {
		for _, cmd := range cmds {
			if cmd.Hidden || cmd.Name == "help" {
				continue
			}
			full := strings.TrimSpace(prefix + " " + cmd.Name)
			fmt.Fprintf(&b, "## %s %s\n\n%s\n\n", app.Name, full, cmd.Usage)
			fmt.Fprintf(&b, "**%s %s** [*options*] %s\n\n", app.Name, full, mdEscape(cmd.ArgsUsage))
			if cmd.Description != "" {
				fmt.Fprintf(&b, "%s\n\n", preformatted(cmd.Description))
			}
			var own []ucli.Flag
			for _, f := range cmd.VisibleFlags() {
				if !isGlobal(f) {
					own = append(own, f)
				}
			}
			manFlags(&b, own)
			walk(cmd.Subcommands, full)
		}
	}
	walk(app.Commands, "")
	b.WriteString("# FILES\n\nThe format, its byte layout, rules and error names: *docs/format.md* in the lockfix source. Every command: *docs/commands.md*.\n\n")
	b.WriteString("# SEE ALSO\n\n**lockfix COMMAND --help**, **lockfix completion bash|zsh|fish**\n")
	return b.String()
}

// manFlags lists flags for the man page, global ones (shown once, under
// GLOBAL OPTIONS) left out of a command's list by the caller.
func manFlags(b *strings.Builder, flags []ucli.Flag) {
	for _, f := range flags {
		d, ok := f.(ucli.DocGenerationFlag)
		if !ok {
			continue
		}
		var names []string
		for _, n := range f.Names() {
			if len(n) == 1 {
				names = append(names, "**-"+n+"**")
			} else {
				names = append(names, "**--"+n+"**")
			}
		}
		placeholder, usage := unquoteUsage(d.GetUsage())
		value := ""
		if d.TakesValue() {
			if placeholder == "" {
				placeholder = "value"
			}
			value = " *" + placeholder + "*"
		}
		fmt.Fprintf(b, "%s%s\n: %s\n\n", strings.Join(names, ", "), value, mdEscape(usage))
	}
}

// preformatted keeps a --help text's layout (aligned tables, examples) in
// the man page: it becomes one indented block.
func preformatted(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// mdEscape escapes the characters markdown would take for emphasis.
func mdEscape(s string) string {
	return strings.NewReplacer("*", "\\*", "_", "\\_", "`", "\\`").Replace(s)
}

// unquoteUsage splits a flag's usage into the `NAME` it quotes for the
// flag's value and the usage without the backquotes, as urfave/cli's help
// does.
func unquoteUsage(usage string) (string, string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}
