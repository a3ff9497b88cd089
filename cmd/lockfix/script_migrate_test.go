package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

func init() {
	scriptCmds["genfleet"] = cmdGenfleet
	scriptCmds["fleetcheck"] = cmdFleetcheck
}

// fleetManifest is where genfleet records the fleet it wrote (a
// manifest), outside the fleet's directory.
func fleetManifest(ts *testscript.TestScript, dir string) string {
	return ts.MkAbs(".genfleet-" + filepath.Base(dir) + ".json")
}

// manifest is the fleet genfleet wrote, by path relative to the work dir:
// the damaged files' bytes and every file's SHA-256.
type manifest struct {
	Damaged map[string][]byte
	Sums    map[string]string
}

// cmdGenfleet writes a fleet of generated lockfiles in nested directories:
//
//	genfleet DIR N [DAMAGED_PERCENT] [SEED]
//
// File i is DIR/team<i%4>/app<i>/bun.lockb at version i%3 with 5-60
// packages. DAMAGED_PERCENT of them (default 0) get one flipped byte that
// the strict checks see; fleetcheck checks them byte for byte later.
func cmdGenfleet(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! genfleet")
	}
	if len(args) < 2 || len(args) > 4 {
		ts.Fatalf("usage: genfleet DIR N [DAMAGED_PERCENT] [SEED]")
	}
	num := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			ts.Fatalf("genfleet: %q is not a count", s)
		}
		return n
	}
	n, pct, seed := num(args[1]), 0, 1
	if len(args) > 2 {
		pct = num(args[2])
	}
	if len(args) > 3 {
		seed = num(args[3])
	}
	m := manifest{Damaged: map[string][]byte{}, Sums: map[string]string{}}
	for i := range n {
		rel := filepath.Join(args[0], fmt.Sprintf("team%d", i%4), fmt.Sprintf("app%04d", i), "bun.lockb")
		p := ts.MkAbs(rel)
		ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
		b := lockgen.Bytes(lockgen.Options{Version: i % 3, Packages: 5 + (i*7)%56, Seed: uint64(seed*100000 + i)})
		if pct > 0 && (i*pct)/100 != ((i+1)*pct)/100 {
			for off := len(b) / 3; ; off++ {
				b[off] ^= 0x08
				if schema.Check(b) != nil {
					break
				}
				b[off] ^= 0x08
			}
			m.Damaged[rel] = b
		}
		m.Sums[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		ts.Check(os.WriteFile(p, b, 0o644))
	}
	raw, err := json.Marshal(m)
	ts.Check(err)
	ts.Check(os.WriteFile(fleetManifest(ts, args[0]), raw, 0o644))
	ts.Logf("genfleet: %d files, %d damaged", n, len(m.Damaged))
}

// cmdFleetcheck checks a fleet written by genfleet:
//
//	fleetcheck DIR VERSION
//	fleetcheck DIR unchanged
//
// Every damaged file must be byte-identical to what genfleet wrote; every
// other file must be valid at VERSION, or, with "unchanged", byte-identical
// too. No lockfix temp file may be left in the fleet.
func cmdFleetcheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fleetcheck")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: fleetcheck DIR VERSION|unchanged")
	}
	unchanged := args[1] == "unchanged"
	want := -1
	if !unchanged {
		v, err := strconv.Atoi(args[1])
		ts.Check(err)
		want = v
	}
	raw, err := os.ReadFile(fleetManifest(ts, args[0]))
	ts.Check(err)
	var m manifest
	ts.Check(json.Unmarshal(raw, &m))
	damaged := m.Damaged
	var files []string
	bad := 0
	ts.Check(filepath.WalkDir(ts.MkAbs(args[0]), func(p string, d os.DirEntry, err error) error {
		if err == nil && atomicfile.IsTemp(d.Name()) {
			ts.Logf("%s: temp file left behind", p)
			bad++
		}
		if err == nil && d.Type().IsRegular() && d.Name() == "bun.lockb" {
			files = append(files, p)
		}
		return err
	}))
	if len(files) != len(m.Sums) {
		ts.Logf("%d files in the fleet, genfleet wrote %d", len(files), len(m.Sums))
		bad++
	}
	sort.Strings(files)
	for _, p := range files {
		rel, err := filepath.Rel(ts.MkAbs("."), p)
		ts.Check(err)
		b, err := os.ReadFile(p)
		ts.Check(err)
		if unchanged {
			if fmt.Sprintf("%x", sha256.Sum256(b)) != m.Sums[rel] {
				ts.Logf("%s: changed", rel)
				bad++
			}
			continue
		}
		if orig, ok := damaged[rel]; ok {
			if !bytes.Equal(b, orig) {
				ts.Logf("%s: a damaged file was changed", rel)
				bad++
			}
			continue
		}
		if errs := schema.Check(b); errs != nil {
			ts.Logf("%s: invalid: %v", rel, errs[0])
			bad++
		} else if int(b[schema.OffConfigVersion]) != want {
			ts.Logf("%s: version %d, want %d", rel, b[schema.OffConfigVersion], want)
			bad++
		}
	}
	if bad > 0 {
		ts.Fatalf("fleetcheck: %d of %d files wrong", bad, len(files))
	}
	if unchanged {
		ts.Logf("fleetcheck: %d files, all unchanged", len(files))
		return
	}
	ts.Logf("fleetcheck: %d files, %d damaged and untouched, the rest valid at v%d", len(files), len(damaged), want)
}
