package schema

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Offsets and sizes of the common prefix (FORMAT.md section 1).
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

// Flags is the featureFlags bitmask (FORMAT.md section 3).
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
	Name  string
	Mask  Flags
	Since int // the first config version that defines it
}

// AllFlags lists the defined flags, lowest bit first.
var AllFlags = []FlagInfo{
	{"DEBUG", FlagDebug, 0},
	{"DISABLE_ISOLATED_LINKER", FlagDisableIsolatedLinker, 0},
	{"FROZEN_LOCKFILE", FlagFrozenLockfile, 2},
	{"VERIFY_INTEGRITY", FlagVerifyIntegrity, 2},
	{"OFFLINE", FlagOffline, 2},
}

// ParseFlag returns the flag named name, matched case-insensitively.
func ParseFlag(name string) (FlagInfo, error) {
	for _, f := range AllFlags {
		if strings.EqualFold(name, f.Name) {
			return f, nil
		}
	}
	names := make([]string, len(AllFlags))
	for i, f := range AllFlags {
		names[i] = f.Name
	}
	return FlagInfo{}, fmt.Errorf("unknown feature flag %q (known: %s)", name, strings.Join(names, ", "))
}

// Names returns the names of the set flags, lowest bit first; an undefined
// bit is named "BIT<n>".
func (f Flags) Names() []string {
	names := []string{}
	for bit := 0; bit < 32; bit++ {
		m := Flags(1) << bit
		if f&m == 0 {
			continue
		}
		name := fmt.Sprintf("BIT%d", bit)
		for _, fi := range AllFlags {
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

// CheckConfig reports every problem of the config block of a file whose
// version defines the flags in defined. The offsets are file offsets.
func CheckConfig(c Config, defined Flags) []error {
	var errs []error
	if c.RegistryHash == 0 {
		errs = append(errs, Corrupt(ErrInvalidRegistryHash, OffRegistryHash, "registryHash", "registryHash is 0 (a failed hash); set it with 'lockfix set FILE registry URL'"))
	}
	if extra := c.Flags &^ defined; extra != 0 {
		errs = append(errs, Corrupt(ErrInvalidFeatureFlags, OffFeatureFlags, "featureFlags",
			fmt.Sprintf("bits 0x%08x (%s) are not defined for config version %d", uint32(extra), extra, c.Version)))
	}
	if !c.TerminalMode.Valid() {
		errs = append(errs, Corrupt(ErrInvalidTerminalMode, OffTerminalMode, "terminalMode",
			fmt.Sprintf("terminalMode is 0x%02x, want 0 (raw), 1 (cooked) or 2 (cbreak)", uint8(c.TerminalMode))))
	}
	if c.Rows == 0 {
		errs = append(errs, Corrupt(ErrInvalidTerminalSize, OffRows, "rows", "rows is 0, want 1-255"))
	}
	if c.Cols == 0 {
		errs = append(errs, Corrupt(ErrInvalidTerminalSize, OffCols, "cols", "cols is 0, want 1-255"))
	}
	if c.Reserved != 0 {
		errs = append(errs, Corrupt(ErrCorruptedHeader, OffReserved, "reserved", fmt.Sprintf("reserved byte is 0x%02x, must be 0", c.Reserved)))
	}
	return errs
}

// BlockValid reports whether the 13-byte config block b (at least 13
// bytes) of a version defining the flags in defined is valid: what
// ConfigValid says, read straight from the bytes.
func BlockValid(b []byte, defined Flags) bool {
	_ = b[12]
	return binary.BigEndian.Uint32(b[1:5]) != 0 &&
		Flags(binary.BigEndian.Uint32(b[5:9]))&^defined == 0 &&
		b[9] <= uint8(ModeCbreak) && b[10] != 0 && b[11] != 0 && b[12] == 0
}

// ConfigValid reports whether CheckConfig would find nothing, without
// allocating.
func ConfigValid(c Config, defined Flags) bool {
	return c.RegistryHash != 0 && c.Flags&^defined == 0 && c.TerminalMode.Valid() &&
		c.Rows != 0 && c.Cols != 0 && c.Reserved == 0
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
