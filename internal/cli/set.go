package cli

import (
	"fmt"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/schema"
)

func setCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "set",
		Usage:     "change a config field of a lockfile, keeping its version",
		ArgsUsage: "FILE KEY VALUE",
		Description: `set changes one field of the config block and rewrites the file at its
own version with every checksum recomputed. Keys:

` + setKeysHelp() + `

` + writeHelp + `

Exit 0 when the change was made (or there was nothing to change), 4 when
the file is invalid, 8 on I/O errors, a held lock or a file changed by
another program, 16 for a bad key or value.

Examples:
   lockfix set bun.lockb registry https://registry.example.org/
   lockfix set bun.lockb terminal.mode raw
   lockfix set --dry-run bun.lockb terminal.cols 120
   lockfix set --wait 30s --json bun.lockb terminal.rows 50`,
		Flags:  writeFlags(),
		Action: runSet,
	}
}

// setKey is a key of lockfix set: it parses a value into a change of the
// config block.
type setKey struct {
	name, value, help string
	parse             func(v string) (func(c *schema.Config), error)
}

var setKeys = []setKey{
	{"registry", "URL", "the default registry, stored as the FNV-1a hash of the normalized URL",
		func(v string) (func(*schema.Config), error) {
			_, hash, err := schema.RegistryHash(v)
			if err != nil {
				return nil, err
			}
			return func(c *schema.Config) { c.RegistryHash = hash }, nil
		}},
	{"terminal.mode", "raw|cooked|cbreak", "the terminal mode",
		func(v string) (func(*schema.Config), error) {
			m, err := schema.ParseTerminalMode(v)
			if err != nil {
				return nil, err
			}
			return func(c *schema.Config) { c.TerminalMode = m }, nil
		}},
	{"terminal.rows", "1-255", "the terminal height in rows",
		func(v string) (func(*schema.Config), error) {
			n, err := termSize("terminal.rows", v)
			return func(c *schema.Config) { c.Rows = n }, err
		}},
	{"terminal.cols", "1-255", "the terminal width in columns",
		func(v string) (func(*schema.Config), error) {
			n, err := termSize("terminal.cols", v)
			return func(c *schema.Config) { c.Cols = n }, err
		}},
}

// setKeysHelp lists the keys for --help and usage errors.
func setKeysHelp() string {
	var lines []string
	for _, k := range setKeys {
		lines = append(lines, fmt.Sprintf("   %-14s %-18s %s", k.name, k.value, k.help))
	}
	return strings.Join(lines, "\n")
}

// termSize parses a terminal size, 1-255.
func termSize(key, v string) (uint8, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 255 {
		return 0, fmt.Errorf("%s %q: want a whole number from 1 to 255", key, v)
	}
	return uint8(n), nil
}

func runSet(c *ucli.Context) error {
	if c.NArg() != 3 {
		return usage("set: want FILE KEY VALUE, got %d arguments (usage: lockfix set [--dry-run] [--wait D] FILE KEY VALUE; keys: %s)", c.NArg(), keyNames())
	}
	path, name, value := c.Args().Get(0), c.Args().Get(1), c.Args().Get(2)
	var key *setKey
	for i := range setKeys {
		if strings.EqualFold(setKeys[i].name, name) {
			key = &setKeys[i]
		}
	}
	if key == nil && (strings.EqualFold(name, "version") || strings.EqualFold(name, "configVersion")) {
		return usage("set: the version is not a field set changes: converting the file to another version is a migration, run\n   lockfix migrate --to %s %s\n(it chains the steps between the versions; --dry-run shows what would change)", value, shellQuote(path))
	}
	if key == nil {
		return usage("set: unknown key %q; the keys are:\n%s", name, setKeysHelp())
	}
	apply, err := key.parse(value)
	if err != nil {
		return usage("set %s: %v", key.name, err)
	}
	return rewrite(c, path, func(cfg *schema.Config) error {
		apply(cfg)
		return nil
	})
}

// keyNames lists the key names, comma-separated.
func keyNames() string {
	names := make([]string, len(setKeys))
	for i, k := range setKeys {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// shellQuote quotes s for a command line printed for the user to run, when
// it holds anything a shell would take apart.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./@:=+,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
