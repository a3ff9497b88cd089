package configcmp

import (
	"slices"
	"testing"

	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all" // the flags' names
)

func TestDiff(t *testing.T) {
	base := schema.Config{Version: 2, RegistryHash: 0x52e06bbe, Flags: 0x09, TerminalMode: schema.ModeCooked, Rows: 24, Cols: 80}
	if d := Diff(base, base); d != nil {
		t.Fatalf("equal configs differ: %v", d)
	}
	for _, tc := range []struct {
		mess func(*schema.Config)
		want []Difference
	}{
		{func(c *schema.Config) { c.Version = 1 }, []Difference{{"version", "1", "2"}}},
		{func(c *schema.Config) { c.RegistryHash = 0x1234abcd }, []Difference{{"registry", "0x1234abcd", "0x52e06bbe"}}},
		{func(c *schema.Config) { c.Flags = 0x08 }, []Difference{{"flags", "VERIFY_INTEGRITY", "DEBUG|VERIFY_INTEGRITY"}}},
		{func(c *schema.Config) { c.Flags = 0 }, []Difference{{"flags", "none", "DEBUG|VERIFY_INTEGRITY"}}},
		{func(c *schema.Config) { c.TerminalMode = schema.ModeRaw }, []Difference{{"terminal.mode", "raw", "cooked"}}},
		{func(c *schema.Config) { c.Rows = 25 }, []Difference{{"terminal.rows", "25", "24"}}},
		{func(c *schema.Config) { c.Cols = 132; c.Rows = 50 }, []Difference{{"terminal.rows", "50", "24"}, {"terminal.cols", "132", "80"}}},
		{func(c *schema.Config) { c.Reserved = 1 }, []Difference{{"reserved", "1", "0"}}},
	} {
		c := base
		tc.mess(&c)
		if got := Diff(c, base); !slices.Equal(got, tc.want) {
			t.Errorf("Diff = %v, want %v", got, tc.want)
		}
		if Fingerprint(c) == Fingerprint(base) {
			t.Errorf("%v and %v have the same fingerprint", c, base)
		}
	}
	if got := Fingerprint(base); got != "0252e06bbe00000009011850"+"00" {
		t.Errorf("Fingerprint = %s", got)
	}
}

// TestFieldsCoverBlock checks that a change of any one of the 13 bytes
// shows in some field, so a field list that forgot a byte fails.
func TestFieldsCoverBlock(t *testing.T) {
	var b [13]byte
	for i := range b {
		var m [13]byte
		m[i] = 1
		if Diff(schema.DecodeConfig(m[:]), schema.DecodeConfig(b[:])) == nil {
			t.Errorf("byte %d of the config block is in no field", i)
		}
	}
}
