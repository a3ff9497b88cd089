package migrate_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// A config version 3 defined outside the tree: the v2 layout with version
// byte 3 and one more feature flag, bit 5. Its codec delegates to v2 on a
// copy of the bytes with the version byte set to 2, the new flag taken
// out and the header CRC-64 recomputed, after checking the v3 header CRC
// itself so that no damage is hidden.
const (
	v3Version         = 3
	v3Flag            = schema.Flags(0x20)
	v3Flags           = v2.Flags | v3Flag
	v3OffHeaderCRC    = v2.OffHeaderChecksum
	v3HeaderSize      = v2.HeaderSize
	v3OffFeatureFlags = schema.OffFeatureFlags
)

// v3AsV2 returns b rewritten as the v2 file it extends and the v3 flag
// bit it held, or the problem with the v3 header.
func v3AsV2(b []byte) ([]byte, schema.Flags, error) {
	if len(b) < v3HeaderSize {
		return nil, 0, schema.Corrupt(schema.ErrTruncated, len(b), "header", fmt.Sprintf("the file is %d bytes, the v3 header alone is %d", len(b), v3HeaderSize))
	}
	if b[schema.OffConfigVersion] != v3Version {
		return nil, 0, schema.Corrupt(schema.ErrCorruptedHeader, schema.OffConfigVersion, "configVersion", fmt.Sprintf("configVersion is %d, read as version 3", b[schema.OffConfigVersion]))
	}
	stored := binary.BigEndian.Uint64(b[v3OffHeaderCRC:])
	if want := schema.HeaderCRC(b[:v3HeaderSize], v3OffHeaderCRC); stored != want {
		return nil, 0, schema.Corrupt(schema.ErrChecksumMismatch, v3OffHeaderCRC, "headerChecksum",
			fmt.Sprintf("header CRC-64 is 0x%016x, the header computes to 0x%016x", stored, want))
	}
	c := bytes.Clone(b)
	c[schema.OffConfigVersion] = v2.Version
	flags := schema.Flags(binary.BigEndian.Uint32(c[v3OffFeatureFlags:]))
	binary.BigEndian.PutUint32(c[v3OffFeatureFlags:], uint32(flags&^v3Flag))
	binary.BigEndian.PutUint64(c[v3OffHeaderCRC:], schema.HeaderCRC(c[:v3HeaderSize], v3OffHeaderCRC))
	return c, flags & v3Flag, nil
}

func v3Decode(b []byte) (*schema.Lockfile, error) {
	c, extra, err := v3AsV2(b)
	if err != nil {
		return nil, err
	}
	l, err := v2.Decode(c)
	if err != nil {
		return nil, err
	}
	l.Config.Version = v3Version
	l.Config.Flags |= extra
	return l, nil
}

func v3Check(b []byte) []error {
	c, _, err := v3AsV2(b)
	if err != nil {
		return []error{err}
	}
	return v2.Check(c)
}

func v3Encode(l *schema.Lockfile) ([]byte, error) {
	if extra := l.Config.Flags &^ v3Flags; extra != 0 {
		return nil, &schema.EncodeError{Version: v3Version, Problems: []error{
			schema.Corrupt(schema.ErrInvalidFeatureFlags, v3OffFeatureFlags, "featureFlags", fmt.Sprintf("bits %s are not defined for config version 3", extra))}}
	}
	as2 := l.Clone()
	as2.Config.Version = v2.Version
	as2.Config.Flags &^= v3Flag
	b, err := v2.Encode(as2)
	if err != nil {
		return nil, err
	}
	b[schema.OffConfigVersion] = v3Version
	binary.BigEndian.PutUint32(b[v3OffFeatureFlags:], uint32(l.Config.Flags))
	binary.BigEndian.PutUint64(b[v3OffHeaderCRC:], schema.HeaderCRC(b[:v3HeaderSize], v3OffHeaderCRC))
	return b, nil
}

var registerV3 = sync.OnceFunc(func() {
	s := &schema.Schema{
		Version:     v3Version,
		HeaderSize:  v3HeaderSize,
		Flags:       v3Flags,
		Description: "v2 layout with one more feature flag (an example)",
		Decode:      v3Decode,
		Check:       v3Check,
		Encode:      v3Encode,
	}
	// 2 -> 3 changes the version; 3 -> 2 refuses to drop bit 5 unless
	// allowed.
	s.Up, s.Down = schema.FlagsStep(v3Version, v2.Flags, v3Flags)
	schema.Register(s)
})

// Registering a version 3 from outside the tree makes it a migration
// target, up and down, with no change to the migrate package.
func Example_registerV3() {
	registerV3()

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
	l.Config.Flags |= v3Flag
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
	// 3 -> 0 with --allow-lossy dropped: [flag BIT5]
	// back at v2, byte-identical: true
}
