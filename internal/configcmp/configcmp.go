// Package configcmp compares the 13 config bytes of lockfiles (FORMAT.md
// section 1) field by field: what 'lockfix validate --reference' reports
// and what 'lockfix serve' exports for the drift and reference alerts.
package configcmp

import (
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/lockfix/lockfix/schema"
)

// Field is one field of the config block.
type Field struct {
	// Name is the field's name as lockfix's commands spell it (the keys
	// of 'lockfix set' where it has one).
	Name string
	// Label is the Prometheus label 'lockfix serve' puts its value in, ""
	// for a field it does not export (reserved, always 0 in a valid file).
	Label string
	// Value formats the field of c.
	Value func(c schema.Config) string
}

// Fields are the fields of the config block, in the order of its bytes.
var Fields = []Field{
	{"version", "config_version", func(c schema.Config) string { return strconv.Itoa(c.Version) }},
	{"registry", "registry_hash", func(c schema.Config) string { return fmt.Sprintf("0x%08x", c.RegistryHash) }},
	{"flags", "feature_flags", func(c schema.Config) string { return c.Flags.String() }},
	{"terminal.mode", "terminal_mode", func(c schema.Config) string { return c.TerminalMode.String() }},
	{"terminal.rows", "terminal_rows", func(c schema.Config) string { return strconv.Itoa(int(c.Rows)) }},
	{"terminal.cols", "terminal_cols", func(c schema.Config) string { return strconv.Itoa(int(c.Cols)) }},
	{"reserved", "", func(c schema.Config) string { return strconv.Itoa(int(c.Reserved)) }},
}

// Difference is one field whose value differs.
type Difference struct {
	Field     string `json:"field"`
	Value     string `json:"value"`     // the file's value
	Reference string `json:"reference"` // the reference's value
}

// Diff returns the fields of got that differ from want, in the order of
// the bytes; nil when the two blocks are equal.
func Diff(got, want schema.Config) []Difference {
	var out []Difference
	for _, f := range Fields {
		if g, w := f.Value(got), f.Value(want); g != w {
			out = append(out, Difference{f.Name, g, w})
		}
	}
	return out
}

// Fingerprint is the 13 config bytes of c in hex (26 digits): equal for
// two files exactly when their config blocks are.
func Fingerprint(c schema.Config) string {
	var b [13]byte
	schema.PutConfig(b[:], c)
	return hex.EncodeToString(b[:])
}
