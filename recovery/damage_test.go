package recovery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
	v2 "github.com/lockfix/lockfix/schema/v2"
)

// The damage generator, after the storage-corruption literature (latent
// sector errors, bit rot, torn and misdirected writes): every kind of
// damage below is applied to a valid file of each version, and the
// undamaged original is held to judge the repair.

// damaged is one damaged file and what was done to it.
type damaged struct {
	kind string
	b    []byte
	// expect is the best repair there can be when it is not the original:
	// a v0 header has no checksum, so a flip that leaves its field valid
	// is invisible to every reader, and stays.
	expect []byte
}

// original returns the valid file a test damages: a few hundred packages,
// several flags so that a reset loses more than one bit.
func original(version, n int) []byte {
	flags := schema.FlagDebug | schema.FlagDisableIsolatedLinker
	if version == 2 {
		flags |= schema.FlagFrozenLockfile | schema.FlagOffline
	}
	return lockgen.Bytes(lockgen.Options{Version: version, Packages: n, Seed: uint64(7 + version), Flags: flags})
}

// recordOffsets returns the offset of every record of a valid file and
// the end of the array.
func recordOffsets(t testing.TB, b []byte) []int {
	fatal := func(err error) {
		if t != nil {
			t.Fatal(err)
		}
		panic(err)
	}
	version := int(b[schema.OffConfigVersion])
	hs := headerSize(version)
	var offs []int
	for pos := hs; pos < len(b); {
		offs = append(offs, pos)
		if version == 2 {
			f, err := v2.Schema.ReadFrame(b[pos:], pos, 0)
			if err != nil {
				fatal(err)
			}
			pos += f.Size()
		} else {
			_, n, err := schema.ParseBody(b[pos:], pos, 0)
			if err != nil {
				fatal(err)
			}
			pos += n
		}
	}
	return offs
}

func mutate(b []byte, f func(c []byte) []byte) []byte { return f(bytes.Clone(b)) }

// generate returns every damaged variant of orig. With all set, every
// single-bit flip of the header and every torn tail; otherwise samples.
func generate(t testing.TB, orig []byte, all bool, rng *rand.Rand) []damaged {
	version := int(orig[schema.OffConfigVersion])
	hs := headerSize(version)
	var out []damaged
	add := func(kind string, b []byte) { out = append(out, damaged{kind: kind, b: b}) }
	flipBit := func(c []byte, bit int) { c[bit/8] ^= 1 << uint(bit%8) }

	for bit := 0; bit < hs*8; bit++ {
		if !all && bit%7 != 0 {
			continue
		}
		add(fmt.Sprintf("single bit flip: bit %d of byte 0x%02x", bit%8, bit/8), mutate(orig, func(c []byte) []byte { flipBit(c, bit); return c }))
	}
	pairs := 300
	if !all {
		pairs = 40
	}
	for i := 0; i < pairs; i++ {
		a := rng.IntN(hs * 8)
		b := rng.IntN(hs * 8)
		if i%3 == 0 { // both in one byte or neighbours: the burst case
			b = (a/8+rng.IntN(2))*8 + rng.IntN(8)
			b = min(b, hs*8-1)
		}
		if a == b {
			continue
		}
		d := damaged{kind: fmt.Sprintf("double bit flip: bits %d and %d", a, b), b: mutate(orig, func(c []byte) []byte { flipBit(c, a); flipBit(c, b); return c })}
		if version == 0 {
			// A flip that alone leaves the file valid cannot be seen.
			for _, x := range []int{a, b} {
				if one := mutate(orig, func(c []byte) []byte { flipBit(c, x); return c }); len(schema.Check(one)) == 0 {
					d.expect = one
				}
			}
		}
		out = append(out, d)
	}
	for _, m := range []string{"\x00\x00\x00\x00", "XXXX", "BUN2", "bun1", "\xff\xff\xff\xff", "PK\x03\x04"} {
		add(fmt.Sprintf("magic overwritten with %q", m), mutate(orig, func(c []byte) []byte { copy(c, m); return c }))
	}
	add("registry hash zeroed", mutate(orig, func(c []byte) []byte { clear(c[schema.OffRegistryHash : schema.OffRegistryHash+4]); return c }))
	add("flags reset to 0", mutate(orig, func(c []byte) []byte { clear(c[schema.OffFeatureFlags : schema.OffFeatureFlags+4]); return c }))
	add("flags all ones", mutate(orig, func(c []byte) []byte { copy(c[schema.OffFeatureFlags:], "\xff\xff\xff\xff"); return c }))
	add("terminal mode 0xFF", mutate(orig, func(c []byte) []byte { c[schema.OffTerminalMode] = 0xff; return c }))
	add("rows and cols zeroed", mutate(orig, func(c []byte) []byte { c[schema.OffRows], c[schema.OffCols] = 0, 0; return c }))
	add("registry hash zeroed and terminal mode 0xFF", mutate(orig, func(c []byte) []byte {
		clear(c[schema.OffRegistryHash : schema.OffRegistryHash+4])
		c[schema.OffTerminalMode] = 0xff
		return c
	}))
	add("config block zeroed", mutate(orig, func(c []byte) []byte { clear(c[schema.OffRegistryHash:schema.PrefixSize]); return c }))
	add("header sector zeroed", mutate(orig, func(c []byte) []byte { clear(c[:hs]); return c }))
	add("stored checksum zeroed", mutate(orig, func(c []byte) []byte { clear(c[offChecksum : offChecksum+8]); return c }))
	add("packageCount zeroed", mutate(orig, func(c []byte) []byte { clear(c[offPackageCount : offPackageCount+4]); return c }))
	add("reserved and padding set", mutate(orig, func(c []byte) []byte { c[schema.OffReserved] = 0x5a; c[hs-1] = 0xa5; return c }))

	offs := recordOffsets(t, orig)
	for i, off := range offs {
		if !all && i%17 != 0 && i != len(offs)-1 {
			continue
		}
		end := len(orig)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		add(fmt.Sprintf("torn tail at the boundary before record %d", i), orig[:off:off])
		for _, cut := range []int{off + 1, off + 3, (off + end) / 2, end - 1} {
			if cut > off && cut < end {
				add(fmt.Sprintf("torn tail inside record %d at 0x%x", i, cut), orig[:cut:cut])
			}
		}
	}
	for i := 0; i < 24; i++ {
		n := []int{16, 24, 64, 200, 700}[i%5]
		at := hs + len(orig[hs:])/4 + rng.IntN(len(orig[hs:])/2)
		at = min(at, len(orig)-n)
		add(fmt.Sprintf("%d random bytes written at 0x%x", n, at), mutate(orig, func(c []byte) []byte {
			for j := at; j < at+n; j++ {
				c[j] = byte(rng.Uint32())
			}
			return c
		}))
	}
	for i := 0; i < 60; i++ {
		bit := hs*8 + rng.IntN((len(orig)-hs)*8)
		add(fmt.Sprintf("array bit flip: bit %d of byte 0x%x", bit%8, bit/8), mutate(orig, func(c []byte) []byte { flipBit(c, bit); return c }))
	}
	add("trailing garbage", append(bytes.Clone(orig), "\x13\x37garbage"...))
	return out
}

// mustUndo reports whether default mode must restore the original of a
// v1 or v2 file exactly: bit flips in the header (the CRC-64 corrects
// every single and double error) and damage at known positions that
// leaves the stored checksum intact.
func mustUndo(orig []byte, kind string) bool {
	if orig[schema.OffConfigVersion] == 0 {
		return false
	}
	if strings.HasPrefix(kind, "array bit flip") {
		// Only v2 records carry a checksum (CRC-32C).
		return orig[schema.OffConfigVersion] == 2
	}
	for _, k := range []string{"single bit flip", "double bit flip", "magic overwritten", "registry hash zeroed", "flags reset",
		"flags all ones", "terminal mode 0xFF", "rows and cols zeroed", "config block zeroed", "packageCount zeroed", "reserved and padding"} {
		if strings.HasPrefix(kind, k) {
			return true
		}
	}
	return false
}

// configDiffs names the config fields in which a and b differ.
func configDiffs(a, b *schema.Lockfile) []string {
	var d []string
	ca, cb := a.Config, b.Config
	if ca.Version != cb.Version {
		d = append(d, "configVersion")
	}
	if ca.RegistryHash != cb.RegistryHash {
		d = append(d, "registryHash")
	}
	if ca.Flags != cb.Flags {
		d = append(d, "featureFlags")
	}
	if ca.TerminalMode != cb.TerminalMode {
		d = append(d, "terminalMode")
	}
	if ca.Rows != cb.Rows {
		d = append(d, "rows")
	}
	if ca.Cols != cb.Cols {
		d = append(d, "cols")
	}
	if a.Writer != b.Writer {
		d = append(d, "writer")
	}
	return d
}

// judge holds a damaged file's repairs to the promises.
func judge(t *testing.T, orig []byte, d damaged, stats map[string]int) {
	t.Helper()
	if d.expect != nil {
		orig = d.expect
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s", d.kind, fmt.Sprintf(format, args...))
	}
	def := Recover(d.b, Options{})
	yes := Recover(d.b, Options{Mode: Yes})
	if len(schema.Check(d.b)) == 0 {
		// The damage left a valid file (v0 has no checksum): it cannot be
		// seen, and nothing may change.
		stats["undetectable"]++
		if def.Status != StatusClean || yes.Status != StatusClean {
			fail("a valid file was not reported clean: %s / %s", def.Status, yes.Status)
		}
		return
	}
	switch def.Status {
	case StatusRepaired:
		stats["default repaired exactly"]++
		if !bytes.Equal(def.Output, orig) {
			var buf strings.Builder
			def.WriteText(&buf, "f", false)
			fail("default mode repaired to bytes that differ from the original:\n%s", buf.String())
		}
		if def.LostCount() > 0 || len(def.Guessed) > 0 {
			fail("default mode repaired while losing %d packages and guessing %d fields", def.LostCount(), len(def.Guessed))
		}
	case StatusRefused, StatusUnrepairable:
		stats["default refused"]++
		if mustUndo(orig, d.kind) {
			var buf strings.Builder
			def.WriteText(&buf, "f", false)
			fail("a v1/v2 header damage that leaves the stored checksum intact was not undone:\n%s", buf.String())
		}
		if def.Output != nil {
			fail("default mode refused but returned output")
		}
	default:
		fail("default mode: status %s on a damaged file", def.Status)
	}
	if yes.Status != StatusRepaired {
		var buf strings.Builder
		yes.WriteText(&buf, "f", false)
		fail("--yes did not repair:\n%s", buf.String())
		return
	}
	if errs := schema.Check(yes.Output); len(errs) > 0 {
		fail("--yes output does not validate: %v", errs[0])
		return
	}
	if again := Recover(yes.Output, Options{Mode: Yes}); again.Status != StatusClean {
		fail("second pass over the repair: %s", again.Status)
	}
	lo, _ := schema.Decode(orig)
	ly, _ := schema.Decode(yes.Output)
	guessed := map[string]bool{}
	for _, g := range yes.Guessed {
		guessed[g.Field] = true
	}
	for _, f := range configDiffs(lo, ly) {
		if !guessed[f] {
			var buf strings.Builder
			yes.WriteText(&buf, "f", false)
			fail("--yes changed %s without reporting it as guessed:\n%s", f, buf.String())
		}
	}
	have := map[schema.Package]bool{}
	for _, p := range ly.Packages {
		have[p] = true
	}
	inOrig := map[schema.Package]bool{}
	for _, p := range lo.Packages {
		inOrig[p] = true
	}
	for _, p := range ly.Packages {
		if !inOrig[p] {
			fail("--yes invented the package %s@%s", p.Name, p.Version)
		}
	}
	lostNames := map[string]int{}
	unnamed := yes.Unnamed
	for _, l := range yes.Lost {
		if l.NameMayBeDamaged {
			unnamed++ // listed, under the damaged name
			continue
		}
		lostNames[l.Name]++
	}
	missing := 0
	for _, p := range lo.Packages {
		if have[p] {
			continue
		}
		missing++
		if lostNames[p.Name] > 0 {
			lostNames[p.Name]--
			continue
		}
		if unnamed > 0 {
			unnamed--
			continue
		}
		fail("--yes lost %s@%s without listing it", p.Name, p.Version)
	}
	if missing != yes.LostCount() && !strings.Contains(d.kind, "packageCount") {
		// Reports may over-count only when packageCount itself is damaged.
		if missing > yes.LostCount() || yes.Expected >= 0 {
			fail("%d packages missing, the report says %d lost", missing, yes.LostCount())
		}
	}
	stats["--yes repaired"]++
}

func TestDamageGenerator(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	for _, version := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			orig := original(version, n)
			rng := rand.New(rand.NewPCG(uint64(version), 99))
			stats := map[string]int{}
			cases := generate(t, orig, !testing.Short(), rng)
			for _, d := range cases {
				judge(t, orig, d, stats)
			}
			t.Logf("v%d: %d damaged files: %v", version, len(cases), stats)
		})
	}
}

// The header-damage kinds a v1 or v2 file survives without any peer:
// default mode restores the original bytes.
func TestHeaderDamageUndoneExactly(t *testing.T) {
	for _, version := range []int{1, 2} {
		orig := original(version, 50)
		hs := headerSize(version)
		kinds := map[string]func(c []byte){
			"registry hash zeroed": func(c []byte) { clear(c[schema.OffRegistryHash : schema.OffRegistryHash+4]) },
			"flags reset":          func(c []byte) { clear(c[schema.OffFeatureFlags : schema.OffFeatureFlags+4]) },
			"terminal mode 0xFF":   func(c []byte) { c[schema.OffTerminalMode] = 0xff },
			"magic overwritten":    func(c []byte) { copy(c, "XXXX") },
			"registry, mode, rows and cols zeroed": func(c []byte) {
				clear(c[schema.OffRegistryHash : schema.OffRegistryHash+4])
				c[schema.OffTerminalMode], c[schema.OffRows], c[schema.OffCols] = 0xee, 0, 0
			},
			"padding and reserved": func(c []byte) { c[hs-2], c[schema.OffReserved] = 1, 0x80 },
			"two bits in the checksum itself": func(c []byte) {
				c[offChecksum] ^= 0x10
				c[offChecksum+7] ^= 0x01
			},
		}
		for name, f := range kinds {
			c := bytes.Clone(orig)
			f(c)
			r := Recover(c, Options{})
			if r.Status != StatusRepaired || !bytes.Equal(r.Output, orig) {
				var buf strings.Builder
				r.WriteText(&buf, name, false)
				t.Errorf("v%d %s: not undone exactly:\n%s", version, name, buf.String())
			}
		}
	}
}

// FORMAT.md: at the header sizes of the format the CRC-64 tells apart
// every single-bit and double-bit error.
func TestSyndromesDistinct(t *testing.T) {
	for _, size := range []int{plainHeaderSize, v2.Schema.HeaderSize} {
		tab := syndromes(size, offChecksum)
		seen := make(map[uint64]int, len(tab.col)*len(tab.col)/2)
		for i, c := range tab.col {
			if c == 0 {
				t.Fatalf("size %d: bit %d has a zero syndrome", size, i)
			}
			if _, dup := seen[c]; dup {
				t.Fatalf("size %d: two single-bit errors share a syndrome", size)
			}
			seen[c] = i
		}
		for i := range tab.col {
			for j := i + 1; j < len(tab.col); j++ {
				s := tab.col[i] ^ tab.col[j]
				if _, dup := seen[s]; dup {
					t.Fatalf("size %d: bits %d and %d share a syndrome with another error", size, i, j)
				}
				seen[s] = i
			}
		}
	}
}

func TestSolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := syndromes(v2.Schema.HeaderSize, offChecksum)
	for trial := 0; trial < 200; trial++ {
		k := 1 + rng.IntN(40)
		perm := rng.Perm(len(tab.col))[:k]
		cols := make([]uint64, k)
		for i, p := range perm {
			cols[i] = tab.col[p]
		}
		want := rng.Uint64()
		if k < 64 {
			want &= 1<<uint(k) - 1
		}
		var s uint64
		for i := range cols {
			if want>>uint(i)&1 == 1 {
				s ^= cols[i]
			}
		}
		got, ok := solve(cols, s)
		if !ok || got != want {
			t.Fatalf("k=%d: solve = %x, %v; want %x", k, got, ok, want)
		}
	}
	// Dependent columns have no unique answer.
	if _, ok := solve([]uint64{3, 5, 6}, 3); ok {
		t.Error("solve accepted dependent columns")
	}
	// Inconsistent equations have none.
	if _, ok := solve([]uint64{1, 2}, 4); ok {
		t.Error("solve accepted an inconsistent system")
	}
}

func TestFixRecordBit(t *testing.T) {
	body := []byte("\x00\x08left-pad\x00\x051.3.0\x00\x00\x00\x00")
	crc := schema.CRC32C(body)
	for bit := 0; bit < len(body)*8; bit++ {
		c := bytes.Clone(body)
		c[bit/8] ^= 1 << uint(bit%8)
		pos, inStored, ok := fixRecordBit(c, crc)
		if !ok || inStored || pos != bit {
			t.Fatalf("bit %d: got %d %v %v", bit, pos, inStored, ok)
		}
	}
	for k := 0; k < 32; k++ {
		if _, inStored, ok := fixRecordBit(body, crc^1<<uint(k)); !ok || !inStored {
			t.Fatalf("stored bit %d not found", k)
		}
	}
	var stored [4]byte
	binary.BigEndian.PutUint32(stored[:], crc)
	if _, _, ok := fixRecordBit(body, crc^0x3); ok {
		t.Error("a double error in the stored CRC was taken for a single one")
	}
}

// registries must count as schema.Registries does.
func TestRegistriesMatchSchema(t *testing.T) {
	orig := original(2, 500)
	a := salvageFramed(v2.Schema, orig, v2.Schema.HeaderSize)
	l, err := schema.Decode(orig)
	if err != nil {
		t.Fatal(err)
	}
	got, want := registries(a.recs), schema.Registries(l.Packages)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 2 {
		t.Errorf("registries = %v, schema.Registries = %v", got, want)
	}
}

// A version registered from outside the tree is repaired from its own
// description: valid, it is clean; with a flipped header bit, it comes
// back exactly, at its own version.
func TestForeignVersionRepaired(t *testing.T) {
	t.Cleanup(schema.Scope())
	const v = 0xc8 // far (4 bits) from 2, so no generated flip reaches it
	s2, _ := schema.Lookup(2)
	foreign := *s2
	foreign.Version, foreign.Since = v, "9.0.0"
	foreign.Up, foreign.Down = nil, nil
	schema.Register(&foreign)
	l, err := schema.Decode(original(2, 20))
	if err != nil {
		t.Fatal(err)
	}
	l.Config.Version = v
	b, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	if r := Recover(b, Options{}); r.Status != StatusClean || r.Version != v {
		t.Errorf("valid v%d: %s (v%d)", v, r.Status, r.Version)
	}
	d := bytes.Clone(b)
	d[schema.OffRows] ^= 0x04
	r := Recover(d, Options{})
	if r.Status != StatusRepaired || !bytes.Equal(r.Output, b) || r.Version != v {
		t.Errorf("damaged v%d: %s (v%d), exact: %v", v, r.Status, r.Version, bytes.Equal(r.Output, b))
	}
}

// A healthy file of a version above every registered one is never
// rewritten as one this build knows: it is refused, UnsupportedVersion,
// whatever the mode. A bit flip that only makes the version byte look
// newer is still damage, and repaired.
func TestNewerVersionRefused(t *testing.T) {
	next := byte(schema.Latest() + 1)
	for _, ver := range []int{1, 2} {
		b := original(ver, 20)
		newer := bytes.Clone(b)
		newer[schema.OffConfigVersion] = next
		binary.BigEndian.PutUint64(newer[offChecksum:], schema.HeaderCRC(newer[:headerSize(ver)], offChecksum))
		for _, mode := range []Mode{Default, Yes} {
			r := Recover(newer, Options{Mode: mode})
			if r.Status != StatusUnrepairable || r.Output != nil || r.Plan != nil {
				t.Errorf("v%d layout, version byte %d, mode %d: %s, output %v", ver, next, mode, r.Status, r.Output != nil)
			}
			if len(r.Damage) == 0 || !errors.Is(r.Damage[0], schema.ErrUnsupportedVersion) {
				t.Errorf("v%d layout, version byte %d: damage %v, want UnsupportedVersion", ver, next, r.Damage)
			}
		}
		flipped := bytes.Clone(b)
		flipped[schema.OffConfigVersion] ^= 0x04
		if r := Recover(flipped, Options{}); r.Status != StatusRepaired || !bytes.Equal(r.Output, b) {
			t.Errorf("v%d with a flipped version bit: %s", ver, r.Status)
		}
	}
}

// A healthy file of a newer version whose header is longer than every
// registered one's (v2's grown by 24 bytes, its header CRC-64 over all of
// it, as examples/v3 defines one) is refused too, whatever the mode: its
// stored checksum holds over its own header, not over v2's 104 bytes.
func TestNewerVersionLongerHeaderRefused(t *testing.T) {
	b := original(2, 20)
	s2, _ := schema.Lookup(2)
	hs := s2.HeaderSize + 24
	newer := slices.Concat(b[:s2.HeaderSize], make([]byte, 24), b[s2.HeaderSize:])
	newer[schema.OffConfigVersion] = byte(schema.Latest() + 1)
	schema.PutUint(newer[s2.Field("headerSize").Offset:][:2], uint64(hs))
	binary.BigEndian.PutUint64(newer[offChecksum:], schema.HeaderCRC(newer[:hs], offChecksum))
	for _, mode := range []Mode{Default, Yes} {
		r := Recover(newer, Options{Mode: mode})
		if r.Status != StatusUnrepairable || r.Output != nil || r.Plan != nil {
			t.Errorf("mode %d: %s, output %v: %s", mode, r.Status, r.Output != nil, r.Reason)
		}
		if len(r.Damage) == 0 || !errors.Is(r.Damage[0], schema.ErrUnsupportedVersion) {
			t.Errorf("mode %d: damage %v, want UnsupportedVersion", mode, r.Damage)
		}
	}
	// The same file with a damaged header is not taken for a newer one.
	newer[0x30] ^= 0x10
	if r := Recover(newer, Options{Mode: Yes}); len(r.Damage) > 0 && errors.Is(r.Damage[0], schema.ErrUnsupportedVersion) {
		t.Errorf("damaged: taken for a newer version")
	}
}

// A v1 file whose whole header was zeroed, repaired with a healthy v1
// peer as the reference, comes back as v1 with its checksum, not as v0.
func TestWipedV1WithReference(t *testing.T) {
	b := original(1, 20)
	wiped := bytes.Clone(b)
	clear(wiped[:plainHeaderSize])
	r := Recover(wiped, Options{Mode: Yes, Peers: []*Peer{NewPeer("peer.lockb", b)}})
	if r.Status != StatusRepaired || r.Version != 1 {
		t.Fatalf("wiped v1 with a v1 reference: %s (v%d): %s", r.Status, r.Version, r.Reason)
	}
	if got := r.Output[schema.OffConfigVersion]; got != 1 {
		t.Errorf("configVersion byte %d, want 1", got)
	}
	if errs := schema.Check(r.Output); len(errs) > 0 {
		t.Errorf("repaired file: %v", errs)
	}
	if !bytes.Equal(r.Output, b) {
		t.Errorf("repaired file differs from the original")
	}
}

// The offsets the tests damage, of the registered layouts of versions 0
// to 2 (FORMAT.md 2.1 and 2.2).
const (
	offChecksum     = 0x11
	offPackageCount = 0x19
	plainHeaderSize = 0x40
)

// headerSize returns the header size of a registered version.
func headerSize(version int) int {
	s, _ := schema.Lookup(version)
	return s.HeaderSize
}
