package cli

import (
	"testing"

	"github.com/lockfix/lockfix/migrate"
)

// TestMigrateExit maps a migrate run's counts to its exit code (CLI.md):
// the engine returns counts, the CLI says what they mean.
func TestMigrateExit(t *testing.T) {
	for _, c := range []struct {
		sum  migrate.Summary
		want int
	}{
		{migrate.Summary{Migrated: 3, Skipped: 2}, 0},
		{migrate.Summary{Refused: 1}, 4},
		{migrate.Summary{Failed: 1}, 8},
		{migrate.Summary{Interrupted: true}, 8},
		{migrate.Summary{Refused: 1, Failed: 2}, 12},
		{migrate.Summary{NotDurable: 1}, 10},
		{migrate.Summary{Refused: 1, NotDurable: 1}, 14},
	} {
		if got := migrateExit(c.sum); got != c.want {
			t.Errorf("migrateExit(%+v) = %d, want %d", c.sum, got, c.want)
		}
	}
}
