package cli

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// run runs lockfix with args and returns its exit code, stdout and
// stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWith(&out, &errb, args...)
	return code, out.String(), errb.String()
}

// TestRewriteChangedUnderneath: another program rewrites the file between
// lockfix's read and its rename; lockfix keeps that change and exits 8.
func TestRewriteChangedUnderneath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	orig := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 10, Seed: 1})
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	other := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 11, Seed: 2})
	beforeReplace = func(target string) {
		if err := os.WriteFile(target, other, 0o644); err != nil {
			t.Error(err)
		}
	}
	defer func() { beforeReplace = nil }()
	code, _, stderr := run(t, "set", path, "terminal.rows", "30")
	if code != ExitOperational || !strings.Contains(stderr, path+": changed on disk since it was read") || !strings.Contains(stderr, "nothing was written") {
		t.Errorf("exit %d, stderr %q; want 8 naming the file and ErrChanged", code, stderr)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, other) {
		t.Error("the other program's content was overwritten")
	}
}

// damaged returns a lockfile at version v whose registry hash is 0 but
// whose header checksum is right: its only problem is
// InvalidRegistryHash.
func damaged(t *testing.T, v int) (good, bad []byte) {
	t.Helper()
	good = lockgen.Bytes(lockgen.Options{Version: v, Packages: 20, Seed: 5})
	bad = bytes.Clone(good)
	clear(bad[schema.OffRegistryHash : schema.OffRegistryHash+4])
	s, _ := schema.Lookup(v)
	if v > 0 {
		binary.BigEndian.PutUint64(bad[0x11:], schema.HeaderCRC(bad[:s.HeaderSize], 0x11))
	}
	errs := schema.Check(bad)
	if len(errs) != 1 {
		t.Fatalf("v%d: the damaged file has %d problems: %v", v, len(errs), errs)
	}
	return good, bad
}

// TestSetRepairsConfigField: a file whose only problem is a config field
// (with a valid header checksum, as a buggy writer makes it) is repaired
// by setting that field, at every version; the checksum is rewritten.
func TestSetRepairsConfigField(t *testing.T) {
	for _, v := range []int{0, 1, 2} {
		good, bad := damaged(t, v)
		dir := t.TempDir()
		path := filepath.Join(dir, "bun.lockb")
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		// Another field does not repair it.
		if code, _, stderr := run(t, "set", path, "terminal.rows", "30"); code != ExitProblems || !strings.Contains(stderr, "InvalidRegistryHash") {
			t.Errorf("v%d: set of another field: exit %d %q, want 4 naming InvalidRegistryHash", v, code, stderr)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, bad) {
			t.Errorf("v%d: a refused set wrote the file", v)
		}
		code, stdout, stderr := run(t, "set", path, "registry", lockgen.Registry)
		if code != ExitOK {
			t.Fatalf("v%d: set registry: exit %d %s %s", v, code, stdout, stderr)
		}
		got, _ := os.ReadFile(path)
		if errs := schema.Check(got); len(errs) > 0 {
			t.Fatalf("v%d: the repaired file is invalid: %v", v, errs)
		}
		gl, _ := schema.Decode(good)
		nl, _ := schema.Decode(got)
		if gl.Config != nl.Config || len(gl.Packages) != len(nl.Packages) {
			t.Errorf("v%d: the repaired content differs from the original's", v)
		}
	}
}

// TestFeatureDisableRepairsUndefinedFlag: a v1 file carrying OFFLINE (a
// bad downgrade) is repaired by disabling it.
func TestFeatureDisableRepairsUndefinedFlag(t *testing.T) {
	b := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 5, Seed: 1})
	b[schema.OffFeatureFlags+3] |= byte(schema.FlagOffline)
	binary.BigEndian.PutUint64(b[0x11:], schema.HeaderCRC(b[:64], 0x11))
	path := filepath.Join(t.TempDir(), "bun.lockb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "feature", "enable", path, "DEBUG"); code != ExitProblems || !strings.Contains(stderr, "InvalidFeatureFlags") {
		t.Errorf("enable DEBUG on the bad file: exit %d %q, want 4", code, stderr)
	}
	code, stdout, stderr := run(t, "feature", "disable", path, "offline")
	if code != ExitOK || !strings.Contains(stdout, "config.flags: DEBUG|OFFLINE -> DEBUG") {
		t.Fatalf("disable OFFLINE: exit %d %q %q", code, stdout, stderr)
	}
	got, _ := os.ReadFile(path)
	if errs := schema.Check(got); len(errs) > 0 {
		t.Errorf("the repaired file is invalid: %v", errs)
	}
}

// FuzzCheckForEdit feeds damaged files to the check of editing commands:
// it never panics, refuses what it cannot edit with exit 4, and a file it
// accepts becomes valid when editHeader writes a valid config into it,
// and that passes verifyHeaderEdit.
func FuzzCheckForEdit(f *testing.F) {
	for _, v := range []int{0, 1, 2} {
		good := lockgen.Bytes(lockgen.Options{Version: v, Packages: 3, Seed: 1})
		f.Add(good)
		for _, off := range []int{schema.OffRegistryHash, schema.OffTerminalMode, schema.OffRows, schema.OffFeatureFlags + 3, 0x11, 0x19, 0x40} {
			b := bytes.Clone(good)
			b[off] ^= 0xff
			f.Add(b)
		}
		// Only a config field damaged, the header checksum right: the
		// file set and feature repair.
		bad := bytes.Clone(good)
		clear(bad[schema.OffRegistryHash : schema.OffRegistryHash+4])
		if s, _ := schema.Lookup(v); v > 0 {
			binary.BigEndian.PutUint64(bad[0x11:], schema.HeaderCRC(bad[:s.HeaderSize], 0x11))
		}
		f.Add(bad)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, cfg, _, err := checkForEdit("fuzz.lockb", b)
		if err != nil {
			if codeOf(err) != ExitProblems {
				t.Fatalf("refusal with exit %d: %v", codeOf(err), err)
			}
			return
		}
		cfg.RegistryHash, cfg.TerminalMode = 1, schema.ModeCooked
		cfg.Rows, cfg.Cols = 24, 80
		cfg.Flags &= s.Flags
		nb, edited := editHeader(s, b, cfg)
		if errs := schema.Check(nb); len(errs) > 0 {
			t.Fatalf("the edited file is not valid: %v", errs)
		}
		if err := verifyHeaderEdit(s, b, edited, cfg)(nb); err != nil {
			t.Fatalf("the edited file does not verify: %v", err)
		}
		if !bytes.Equal(nb[s.HeaderSize:], b[s.HeaderSize:]) {
			t.Fatal("the records changed")
		}
	})
}
