package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// Content is the JSON shape of a lockfile's content that export and dump
// --json write and pack reads (CLI.md).
type Content struct {
	Config   ContentConfig `json:"config"`
	Packages []Package     `json:"packages"`
}

// ContentConfig is the "config" object of Content.
type ContentConfig struct {
	Version      int             `json:"version"`
	Registry     string          `json:"registry,omitempty"`
	RegistryHash string          `json:"registryHash,omitempty"`
	Flags        []string        `json:"flags"`
	Terminal     ContentTerminal `json:"terminal"`
	Writer       string          `json:"writer,omitempty"`
}

// ContentTerminal is the "terminal" object of ContentConfig.
type ContentTerminal struct {
	Mode string `json:"mode"`
	Rows int    `json:"rows"`
	Cols int    `json:"cols"`
}

// ToContent returns the JSON content of l. The registry URL is written
// when the packages name a registry whose hash is the config's.
func ToContent(l *Lockfile) *Content {
	pkgs := l.Packages
	if pkgs == nil {
		pkgs = []Package{}
	}
	cc := ConfigContent(l.Config, RegistryFor(l.Packages, l.Config.RegistryHash))
	cc.Writer = l.Writer
	return &Content{Config: cc, Packages: pkgs}
}

// ConfigContent returns the "config" object of a config whose registry
// URL, when known, is registry ("" when not), without a writer.
func ConfigContent(c Config, registry string) ContentConfig {
	return ContentConfig{
		Version:      c.Version,
		Registry:     registry,
		RegistryHash: fmt.Sprintf("0x%08x", c.RegistryHash),
		Flags:        c.Flags.Names(),
		Terminal: ContentTerminal{
			Mode: c.TerminalMode.String(),
			Rows: int(c.Rows),
			Cols: int(c.Cols),
		},
	}
}

// FromContent builds a lockfile from JSON content. It takes the registry
// from "registryHash" or, when that is absent, from "registry"; when both
// are given they must agree. Packages are sorted. Missing terminal fields
// take the defaults (cooked, 24x80).
func FromContent(c *Content) (*Lockfile, error) {
	l := &Lockfile{Writer: c.Config.Writer}
	l.Config.Version = c.Config.Version
	if c.Config.Version < 0 || c.Config.Version > 255 {
		return nil, fmt.Errorf("config.version %d is outside 0-255", c.Config.Version)
	}
	var fromURL uint32
	if c.Config.Registry != "" {
		_, h, err := RegistryHash(c.Config.Registry)
		if err != nil {
			return nil, fmt.Errorf("config.registry: %w", err)
		}
		fromURL = h
	}
	switch {
	case c.Config.RegistryHash != "":
		h, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(c.Config.RegistryHash), "0x"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("config.registryHash %q is not a 32-bit hex number such as 0x52e06bbe", c.Config.RegistryHash)
		}
		if fromURL != 0 && uint32(h) != fromURL {
			return nil, fmt.Errorf("config.registryHash %s does not match config.registry %q (hash 0x%08x)", c.Config.RegistryHash, c.Config.Registry, fromURL)
		}
		l.Config.RegistryHash = uint32(h)
	case fromURL != 0:
		l.Config.RegistryHash = fromURL
	default:
		return nil, fmt.Errorf("config has neither registry nor registryHash")
	}
	for _, name := range c.Config.Flags {
		f, err := ParseFlag(name)
		if err != nil {
			return nil, fmt.Errorf("config.flags: %w", err)
		}
		l.Config.Flags |= f.Mask
	}
	l.Config.TerminalMode = ModeCooked
	if c.Config.Terminal.Mode != "" {
		m, err := ParseTerminalMode(c.Config.Terminal.Mode)
		if err != nil {
			return nil, fmt.Errorf("config.terminal.mode: %w", err)
		}
		l.Config.TerminalMode = m
	}
	var err error
	if l.Config.Rows, err = termSize("rows", c.Config.Terminal.Rows, DefaultRows); err != nil {
		return nil, err
	}
	if l.Config.Cols, err = termSize("cols", c.Config.Terminal.Cols, DefaultCols); err != nil {
		return nil, err
	}
	l.Packages = append([]Package(nil), c.Packages...)
	SortPackages(l.Packages)
	return l, nil
}

func termSize(name string, v int, def uint8) (uint8, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 1 || v > 255:
		return 0, fmt.Errorf("config.terminal.%s is %d, want 1-255", name, v)
	}
	return uint8(v), nil
}
