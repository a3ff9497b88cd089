package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// A config version 3 defined outside the tree, as a description: v2's
// header grown to 128 bytes, v2's framed records, one more flag (bit 5).
var v3Flag = schema.FlagInfo{Name: "STRICT_PEERS", Mask: 0x20}

func v3Schema() *schema.Schema {
	s := &schema.Schema{
		Version:     3,
		Since:       "1.5.0",
		Description: "v2 with a 128-byte header and STRICT_PEERS (an example)",
		HeaderSize:  0x80,
		Header: append(slices.Clone(v2.Header),
			schema.HeaderField{Name: "peerPolicy", Offset: 0x68, Size: 24, Kind: schema.KindFixed, Rule: "peerPolicy must be zero"}),
		Framing: v2.Framing,
		Defines: append(slices.Clone(v2.Schema.Defines), v3Flag),
	}
	// 2 -> 3 changes the version; 3 -> 2 refuses to drop bit 5 unless
	// allowed.
	s.Up, s.Down = schema.FlagsStep(3, v2.Schema.Defines, s.Defines)
	return s
}

// Registering a version 3 from outside the tree makes it a migration
// target, up and down, with no change to the migrate package.
func Example_registerV3() {
	defer schema.Scope()() // version 3 stays in the example
	schema.Register(v3Schema())

	dir, _ := os.MkdirTemp("", "migrate-v3")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bun.lockb")
	orig := lockgen.Bytes(lockgen.Options{Version: 2, Packages: 25, Seed: 42})
	os.WriteFile(path, orig, 0o644)

	chain, _ := migrate.Plan(0, 3)
	fmt.Println("plan 0 -> 3:", len(chain), "steps")

	// Up to 3 on disk, through the shared write path.
	sum := migrate.Run(context.Background(), []string{path}, migrate.Options{To: 3, OnResult: func(r *migrate.Result) {
		fmt.Printf("%s: v%d -> v%d %s\n", filepath.Base(r.Path), r.From, r.To, r.Status)
	}})
	fmt.Println("exit", sum.ExitCode())
	up, _ := os.ReadFile(path)
	l, err := schema.Decode(up)
	fmt.Println("v3 file decodes:", err == nil, "version", l.Config.Version, "packages", len(l.Packages))

	// The new flag cannot go down without --allow-lossy.
	l.Config.Flags |= v3Flag.Mask
	withFlag, _ := schema.Encode(l)
	_, err = migrate.Convert(withFlag, 0, schema.StepOptions{})
	fmt.Println("3 -> 0 with bit 5 refused:", errors.Is(err, schema.ErrLossy))
	c, _ := migrate.Convert(withFlag, 0, schema.StepOptions{AllowLossy: true})
	fmt.Println("3 -> 0 with --allow-lossy dropped:", c.Dropped)

	// And back down to 2 on disk: the same bytes as before.
	migrate.Run(context.Background(), []string{path}, migrate.Options{To: 2})
	back, _ := os.ReadFile(path)
	fmt.Println("back at v2, byte-identical:", bytes.Equal(back, orig))
	// Output:
	// plan 0 -> 3: 3 steps
	// bun.lockb: v2 -> v3 migrated
	// exit 0
	// v3 file decodes: true version 3 packages 25
	// 3 -> 0 with bit 5 refused: true
	// 3 -> 0 with --allow-lossy dropped: [flag STRICT_PEERS]
	// back at v2, byte-identical: true
}
