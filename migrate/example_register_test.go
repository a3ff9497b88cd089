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

// Two config versions defined outside the tree, as descriptions. Steps
// join neighbouring versions, so the example registers a pair: version
// 6, v2's description under another number, and version 7, which grows
// v2's header to 128 bytes and adds one flag (bit 5), with steps 6 <-> 7.
// (examples/v3 is a whole program built on the version after v2.)
var v7Flag = schema.FlagInfo{Name: "STRICT_PEERS", Mask: 0x20}

func v6Schema() *schema.Schema {
	s := *v2.Schema
	s.Version, s.Since, s.Description = 6, "1.5.0", "v2 under another number (an example)"
	s.Up, s.Down = nil, nil
	return &s
}

func v7Schema() *schema.Schema {
	s := &schema.Schema{
		Version:     7,
		Since:       "1.6.0",
		Description: "v2 with a 128-byte header and STRICT_PEERS (an example)",
		HeaderSize:  0x80,
		Header: append(slices.Clone(v2.Header),
			schema.HeaderField{Name: "peerPolicy", Offset: 0x68, Size: 24, Kind: schema.KindFixed, Rule: "peerPolicy must be zero"}),
		Framing: v2.Framing,
		Defines: append(slices.Clone(v2.Schema.Defines), v7Flag),
	}
	// 6 -> 7 changes the version; 7 -> 6 refuses to drop bit 5 unless
	// allowed.
	s.Up, s.Down = schema.FlagsStep(7, v2.Schema.Defines, s.Defines)
	return s
}

// Registering versions from outside the tree makes them migration
// targets, up and down, with no change to the migrate package.
func Example_register() {
	defer schema.Scope()() // versions 6 and 7 stay in the example
	schema.Register(v6Schema())
	schema.Register(v7Schema())

	dir, _ := os.MkdirTemp("", "migrate-register")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bun.lockb")
	orig := lockgen.Bytes(lockgen.Options{Version: 6, Packages: 25, Seed: 42})
	os.WriteFile(path, orig, 0o644)

	up, _ := migrate.Plan(6, 7)
	down, _ := migrate.Plan(7, 6)
	fmt.Println("plan 6 -> 7:", len(up), "step; 7 -> 6:", migrate.Lossy(down))

	// Up to 7 on disk, through the shared write path.
	sum := migrate.Run(context.Background(), []string{path}, migrate.Options{To: 7, OnResult: func(r *migrate.Result) {
		fmt.Printf("%s: v%d -> v%d %s\n", filepath.Base(r.Path), r.From, r.To, r.Status)
	}})
	fmt.Println("migrated", sum.Migrated, "failed", sum.Failed)
	b, _ := os.ReadFile(path)
	l, err := schema.Decode(b)
	fmt.Println("v7 file decodes:", err == nil, "version", l.Config.Version, "packages", len(l.Packages))

	// The new flag cannot go down without --allow-lossy.
	l.Config.Flags |= v7Flag.Mask
	withFlag, _ := schema.Encode(l)
	_, err = migrate.Convert(withFlag, 6, schema.StepOptions{})
	fmt.Println("7 -> 6 with bit 5 refused:", errors.Is(err, schema.ErrLossy))
	c, _ := migrate.Convert(withFlag, 6, schema.StepOptions{AllowLossy: true})
	fmt.Println("7 -> 6 with --allow-lossy dropped:", c.Dropped)

	// And back down to 6 on disk: the same bytes as before.
	migrate.Run(context.Background(), []string{path}, migrate.Options{To: 6})
	back, _ := os.ReadFile(path)
	fmt.Println("back at v6, byte-identical:", bytes.Equal(back, orig))
	// Output:
	// plan 6 -> 7: 1 step; 7 -> 6: [7 -> 6: lossy when STRICT_PEERS is set: version 6 cannot hold it]
	// bun.lockb: v6 -> v7 migrated
	// migrated 1 failed 0
	// v7 file decodes: true version 7 packages 25
	// 7 -> 6 with bit 5 refused: true
	// 7 -> 6 with --allow-lossy dropped: [flag STRICT_PEERS]
	// back at v6, byte-identical: true
}
