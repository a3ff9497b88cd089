package schema

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Offsets and sizes of the common prefix (docs/format.md section 1).
const (
	OffMagic         = 0x00
	OffConfigVersion = 0x04
	OffRegistryHash  = 0x05
	OffFeatureFlags  = 0x09
	OffTerminalMode  = 0x0D
	OffRows          = 0x0E
	OffCols          = 0x0F
	OffReserved      = 0x10
	// PrefixSize is the size of the magic and the config block.
	PrefixSize = 0x11
	// ConfigSize is the size of the config block, "the 13 bytes".
	ConfigSize = 13
)

// Magic is the four bytes every lockfile starts with.
const Magic = "BUN1"

// TerminalMode is the terminal mode of the config block.
type TerminalMode uint8

// The terminal modes.
const (
	ModeRaw    TerminalMode = 0
	ModeCooked TerminalMode = 1
	ModeCbreak TerminalMode = 2
)

var modeNames = [...]string{"raw", "cooked", "cbreak"}

// Valid reports whether m is one of the three defined modes.
func (m TerminalMode) Valid() bool { return m <= ModeCbreak }

// String returns "raw", "cooked", "cbreak" or "invalid(0xNN)".
func (m TerminalMode) String() string {
	if m.Valid() {
		return modeNames[m]
	}
	return fmt.Sprintf("invalid(0x%02x)", uint8(m))
}

// ParseTerminalMode parses a mode name, case-insensitively.
func ParseTerminalMode(s string) (TerminalMode, error) {
	for i, n := range modeNames {
		if strings.EqualFold(s, n) {
			return TerminalMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown terminal mode %q (want raw, cooked or cbreak)", s)
}

// Flags is the featureFlags bitmask (docs/format.md section 3).
type Flags uint32

// The feature flags.
const (
	FlagDebug                 Flags = 0x01
	FlagDisableIsolatedLinker Flags = 0x02
	FlagFrozenLockfile        Flags = 0x04
	FlagVerifyIntegrity       Flags = 0x08
	FlagOffline               Flags = 0x10
)

// FlagInfo describes one feature flag.
type FlagInfo struct {
	Name string
	Mask Flags
	// Since is the first registered config version that defines it; set
	// by KnownFlags.
	Since int
}

// The flags of docs/format.md section 3, for the version packages' Defines.
var (
	Debug                 = FlagInfo{Name: "DEBUG", Mask: FlagDebug}
	DisableIsolatedLinker = FlagInfo{Name: "DISABLE_ISOLATED_LINKER", Mask: FlagDisableIsolatedLinker}
	FrozenLockfile        = FlagInfo{Name: "FROZEN_LOCKFILE", Mask: FlagFrozenLockfile}
	VerifyIntegrity       = FlagInfo{Name: "VERIFY_INTEGRITY", Mask: FlagVerifyIntegrity}
	Offline               = FlagInfo{Name: "OFFLINE", Mask: FlagOffline}
)

// KnownFlags lists the flags the registered versions define, lowest bit
// first, each with the first version that defines it.
func KnownFlags() []FlagInfo {
	var out []FlagInfo
	for _, v := range Versions() {
		s, _ := Lookup(v)
		for _, f := range s.Defines {
			if !slices.ContainsFunc(out, func(g FlagInfo) bool { return g.Mask == f.Mask }) {
				f.Since = v
				out = append(out, f)
			}
		}
	}
	slices.SortFunc(out, func(a, b FlagInfo) int { return cmp.Compare(a.Mask, b.Mask) })
	return out
}

// ParseFlag returns the flag named name, matched case-insensitively,
// among the registered versions' flags.
func ParseFlag(name string) (FlagInfo, error) {
	known := KnownFlags()
	for _, f := range known {
		if strings.EqualFold(name, f.Name) {
			return f, nil
		}
	}
	names := make([]string, len(known))
	for i, f := range known {
		names[i] = f.Name
	}
	return FlagInfo{}, fmt.Errorf("unknown feature flag %q (known: %s)", name, strings.Join(names, ", "))
}

// Names returns the names of the set flags, lowest bit first, as the
// registered versions name them; a bit no version defines is named
// "BIT<n>".
func (f Flags) Names() []string {
	names := []string{}
	if f == 0 {
		return names
	}
	known := KnownFlags()
	for bit := 0; bit < 32; bit++ {
		m := Flags(1) << bit
		if f&m == 0 {
			continue
		}
		name := fmt.Sprintf("BIT%d", bit)
		for _, fi := range known {
			if fi.Mask == m {
				name = fi.Name
			}
		}
		names = append(names, name)
	}
	return names
}

// String returns the flag names joined by "|", or "none".
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	return strings.Join(f.Names(), "|")
}

// Config is the decoded 13-byte config block (bytes 0x04-0x10).
type Config struct {
	Version      int
	RegistryHash uint32
	Flags        Flags
	TerminalMode TerminalMode
	Rows         uint8
	Cols         uint8
	Reserved     uint8
}

// Default values for fields that cannot be derived.
const (
	DefaultRows = 24
	DefaultCols = 80
)

// DecodeConfig decodes the 13-byte config block. b must hold at least 13
// bytes: the block itself (file bytes 0x04-0x10), not the whole file.
// DecodeConfig does not validate; see CheckConfig. In a hot loop, prefer
// Config.Decode, which writes the fields in place.
func DecodeConfig(b []byte) Config {
	var c Config
	c.Decode(b)
	return c
}

// PutConfig encodes c into the first 13 bytes of b.
func PutConfig(b []byte, c Config) {
	_ = b[12]
	b[0] = uint8(c.Version)
	binary.BigEndian.PutUint32(b[1:5], c.RegistryHash)
	binary.BigEndian.PutUint32(b[5:9], uint32(c.Flags))
	b[9] = uint8(c.TerminalMode)
	b[10] = c.Rows
	b[11] = c.Cols
	b[12] = c.Reserved
}

// configOffsets are the file offsets of the config fields that have a
// rule of their own (all but configVersion), in file order.
var configOffsets = [...]int{OffRegistryHash, OffFeatureFlags, OffTerminalMode, OffRows, OffCols, OffReserved}

// configFaults returns the config rules (docs/format.md section 1) that the
// 13-byte config block b breaks, one bit per field in the order of
// configOffsets; defined are the flags of the file's version. It is the
// one implementation of the config rules: the fast paths ask whether it is
// 0, and configError explains each bit it sets.
func configFaults(b []byte, defined Flags) uint8 {
	_ = b[12]
	var f uint8
	if binary.BigEndian.Uint32(b[1:5]) == 0 {
		f |= 1 << 0
	}
	if Flags(binary.BigEndian.Uint32(b[5:9]))&^defined != 0 {
		f |= 1 << 1
	}
	if b[9] > uint8(ModeCbreak) {
		f |= 1 << 2
	}
	if b[10] == 0 {
		f |= 1 << 3
	}
	if b[11] == 0 {
		f |= 1 << 4
	}
	if b[12] != 0 {
		f |= 1 << 5
	}
	return f
}

// configBit returns the bit of configFaults for the field at file offset
// off, 0 for an offset that is not a config field with a rule.
func configBit(off int) uint8 {
	if off < OffRegistryHash || off > OffReserved {
		return 0
	}
	return [...]uint8{OffRegistryHash: 1 << 0, OffFeatureFlags: 1 << 1, OffTerminalMode: 1 << 2, OffRows: 1 << 3, OffCols: 1 << 4, OffReserved: 1 << 5}[off]
}

// configBad reports whether the config field at file offset off breaks its
// rule.
func configBad(off int, b []byte, defined Flags) bool {
	return configFaults(b, defined)&configBit(off) != 0
}

// configRule returns the rule the config field at file offset off breaks,
// or "".
func configRule(off int, b []byte, defined Flags) string {
	if !configBad(off, b, defined) {
		return ""
	}
	c := DecodeConfig(b)
	switch off {
	case OffRegistryHash:
		return "registryHash is 0 (a failed hash); set it with 'lockfix set FILE registry URL'"
	case OffFeatureFlags:
		extra := c.Flags &^ defined
		return fmt.Sprintf("bits 0x%08x (%s) are not defined for config version %d", uint32(extra), extra, c.Version)
	case OffTerminalMode:
		return fmt.Sprintf("terminalMode is 0x%02x, want 0 (raw), 1 (cooked) or 2 (cbreak)", uint8(c.TerminalMode))
	case OffRows:
		return "rows is 0, want 1-255"
	case OffCols:
		return "cols is 0, want 1-255"
	default:
		return fmt.Sprintf("reserved byte is 0x%02x, must be 0", c.Reserved)
	}
}

var configErrs = map[int]struct {
	err   error
	field string
}{
	OffRegistryHash: {ErrInvalidRegistryHash, "registryHash"},
	OffFeatureFlags: {ErrInvalidFeatureFlags, "featureFlags"},
	OffTerminalMode: {ErrInvalidTerminalMode, "terminalMode"},
	OffRows:         {ErrInvalidTerminalSize, "rows"},
	OffCols:         {ErrInvalidTerminalSize, "cols"},
	OffReserved:     {ErrCorruptedHeader, "reserved"},
}

// configError returns the CorruptionError of the config field at file
// offset off, or nil when it keeps its rule.
func configError(off int, b []byte, defined Flags, _ int) error {
	rule := configRule(off, b, defined)
	if rule == "" {
		return nil
	}
	e := configErrs[off]
	return Corrupt(e.err, off, e.field, rule)
}

// CheckConfig reports every problem of the config block of a file whose
// version defines the flags in defined. The offsets are file offsets.
func CheckConfig(c Config, defined Flags) []error {
	var b [ConfigSize]byte
	PutConfig(b[:], c)
	var errs []error
	for _, off := range configOffsets {
		if err := configError(off, b[:], defined, c.Version); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// BlockValid reports whether the 13-byte config block b (at least 13
// bytes) of a version defining the flags in defined keeps every rule.
func BlockValid(b []byte, defined Flags) bool { return configFaults(b, defined) == 0 }

// ConfigValid reports whether CheckConfig would find nothing, without
// allocating.
func ConfigValid(c Config, defined Flags) bool {
	var b [ConfigSize]byte
	PutConfig(b[:], c)
	return BlockValid(b[:], defined)
}

// Decode decodes the 13-byte config block b into c, like DecodeConfig,
// writing the fields in place. b must hold at least 13 bytes.
func (c *Config) Decode(b []byte) {
	_ = b[12]
	c.Version = int(b[0])
	c.RegistryHash = binary.BigEndian.Uint32(b[1:5])
	c.Flags = Flags(binary.BigEndian.Uint32(b[5:9]))
	c.TerminalMode = TerminalMode(b[9])
	c.Rows = b[10]
	c.Cols = b[11]
	c.Reserved = b[12]
}

// ConfigFieldBad reports whether the config field at file offset off
// (registryHash, featureFlags, terminalMode, rows, cols or reserved)
// breaks its rule. block is the 13-byte config block; defined are the
// flags of the file's version. It is the rule the strict checks apply.
func ConfigFieldBad(off int, block []byte, defined Flags) bool { return configBad(off, block, defined) }
