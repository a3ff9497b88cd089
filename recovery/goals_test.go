package recovery

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// goal is one row of the goals table: how many damaged files of a kind
// were undone exactly, against the goal the issue sets.
type goal struct {
	kind        string
	n, exact    int
	byDefault   int     // exact in the default mode
	defaultOnly bool    // exact must come from the default mode
	want        float64 // percent; 0: no goal (only: never wrong)
}

func (g *goal) pct() float64 {
	if g.n == 0 {
		return 100
	}
	return 100 * float64(g.exact) / float64(g.n)
}

// peerOf returns another lockfile of the fleet with orig's config and
// writer and other packages.
func peerOf(t testing.TB, orig []byte) []byte {
	l, err := schema.Decode(orig)
	if err != nil {
		t.Fatal(err)
	}
	other := lockgen.Lockfile(lockgen.Options{Version: l.Config.Version, Packages: 9, Seed: 4242})
	other.Config, other.Writer = l.Config, l.Writer
	b, err := schema.Encode(other)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// promises checks the promises on one damaged file b of orig with opts:
// the default mode repairs exactly or writes nothing; --yes gives a
// valid file whose every difference from orig is in the report; a
// second pass finds nothing. It returns whether the default mode and
// --yes restored orig exactly.
func promises(t *testing.T, kind string, orig, b []byte, opts Options) (defExact, yesExact bool) {
	t.Helper()
	opts.Mode = Default
	def := Recover(b, opts)
	opts.Mode = Yes
	yes := Recover(b, opts)
	show := func(r *Report) string {
		var buf strings.Builder
		r.WriteText(&buf, "f", false)
		return buf.String()
	}
	valid := len(schema.Check(b)) == 0
	if valid && bytes.Equal(b, orig) {
		if def.Status != StatusClean || yes.Status != StatusClean {
			t.Errorf("%s: an undamaged file was not found clean:\n%s", kind, show(yes))
		}
		return true, true
	}
	if valid && yes.Status == StatusClean {
		return false, false // damage that keeps every rule, and nothing tells it
	}
	if valid && def.Status == StatusClean {
		t.Errorf("%s: a valid file is clean in the default mode only", kind)
	}
	if def.Status == StatusRepaired && !bytes.Equal(def.Output, orig) {
		t.Errorf("%s: the default mode wrote bytes that are not the original:\n%s", kind, show(def))
	}
	if def.Status != StatusRepaired && def.Output != nil {
		t.Errorf("%s: the default mode did not repair but returned bytes", kind)
	}
	if yes.Status != StatusRepaired {
		if yes.Status != StatusUnrepairable || yes.Output != nil {
			t.Errorf("%s: --yes: %s:\n%s", kind, yes.Status, show(yes))
		}
		return def.Status == StatusRepaired, false
	}
	if errs := schema.Check(yes.Output); len(errs) > 0 {
		t.Errorf("%s: --yes wrote an invalid file: %v", kind, errs[0])
		return false, false
	}
	if again := Recover(yes.Output, Options{}); again.Status != StatusClean {
		t.Errorf("%s: the second pass found %s", kind, again.Status)
	}
	if !bytes.Equal(yes.Output, orig) {
		lo, _ := schema.Decode(orig)
		ly, _ := schema.Decode(yes.Output)
		guessed := map[string]bool{}
		for _, g := range yes.Guessed {
			guessed[g.Field] = true
			if g.Field == "bytes" {
				return def.Status == StatusRepaired, false // a majority, reported as such
			}
		}
		for _, f := range configDiffs(lo, ly) {
			if !guessed[f] {
				t.Errorf("%s: --yes changed %s without reporting it:\n%s", kind, f, show(yes))
			}
		}
		if missing := len(lo.Packages) - len(ly.Packages); missing > yes.LostCount() {
			t.Errorf("%s: %d packages missing, the report says %d lost", kind, missing, yes.LostCount())
		}
	}
	return def.Status == StatusRepaired, bytes.Equal(yes.Output, orig)
}

// headerKinds returns the header damage of generate: every kind but the
// array's.
func headerKinds(t testing.TB, orig []byte, rng *rand.Rand) []damaged {
	var out []damaged
	for _, d := range generate(t, orig, false, rng) {
		if strings.HasPrefix(d.kind, "torn") || strings.HasPrefix(d.kind, "array") || strings.Contains(d.kind, "random bytes") || d.kind == "trailing garbage" {
			continue
		}
		out = append(out, d)
	}
	return out
}

// configValidFieldsAlone reports whether damaged b leaves every config
// field of orig that is still valid in b as it was: the v0 damage a
// peer can undo (a valid field changed to another valid value is
// invisible without a checksum).
func configValidFieldsAlone(orig, b []byte) bool {
	s, _ := schema.Lookup(0)
	for _, f := range s.Header {
		if f.Kind != schema.KindConfig || f.Offset == schema.OffReserved {
			continue
		}
		if !bytes.Equal(orig[f.Offset:f.End()], b[f.Offset:f.End()]) && !schema.ConfigFieldBad(f.Offset, b[schema.OffConfigVersion:], s.Flags) {
			return false
		}
	}
	return true
}

// TestGoals runs the extended damage corpus against the known originals
// and prints the goals table.
func TestGoals(t *testing.T) {
	var rows []*goal
	row := func(kind string, want float64, defaultOnly bool) *goal {
		g := &goal{kind: kind, want: want, defaultOnly: defaultOnly}
		rows = append(rows, g)
		return g
	}
	count := func(g *goal, defExact, yesExact bool) {
		g.n++
		if defExact {
			g.byDefault++
		}
		if defExact || !g.defaultOnly && yesExact {
			g.exact++
		}
	}
	nBursts, nSets := 1300, 100
	if testing.Short() {
		nBursts, nSets = 260, 20
	}
	for _, version := range []int{1, 2} {
		orig := original(version, 200)
		short := row(fmt.Sprintf("v%d burst 1-8 bytes, checksum intact (default)", version), 95, true)
		long := row(fmt.Sprintf("v%d burst 9-13 bytes, checksum intact (default)", version), 0, true)
		over := row(fmt.Sprintf("v%d burst over the checksum (default)", version), 0, true)
		for _, c := range bursts(orig, nBursts, rand.New(rand.NewPCG(uint64(version), 23))) {
			d, y := promises(t, fmt.Sprintf("v%d burst of %d bytes at 0x%02x", version, c.length, c.at), orig, c.b, Options{})
			switch {
			case !c.intactCRC:
				count(over, d, y)
			case c.length <= 8:
				count(short, d, y)
			default:
				count(long, d, y)
			}
		}
	}
	// The goal on three damaged copies: for v2 over every set (its
	// checksums prove records from any copy); for v0 and v1, whose
	// arrays no checksum covers, over the copies for which the three
	// files determine every byte (classify: a majority, the one copy
	// undamaged there, or the rules). The others are counted and shown:
	// where the only copy that holds a byte is contradicted by another
	// that keeps every rule, and no third reaches, nothing in the three
	// files tells which is the original.
	all := &goal{kind: "the goal's sets of three copies, v0-v2 together", want: 95}
	var why []string
	for _, version := range []int{0, 1, 2} {
		orig := original(version, 200)
		peers := []*Peer{NewPeer("node7.lockb", peerOf(t, orig))}
		what := "--yes"
		if version > 0 {
			what = "default or --yes"
		}
		g := row(fmt.Sprintf("v%d header damage, a same-config peer (%s)", version, what), 100, false)
		for _, d := range headerKinds(t, orig, rand.New(rand.NewPCG(uint64(version), 5))) {
			if version == 0 && !configValidFieldsAlone(orig, d.b) {
				continue
			}
			de, ye := promises(t, fmt.Sprintf("v%d %s with a peer", version, d.kind), orig, d.b, Options{Peers: peers})
			count(g, de, ye)
		}
		mode := "--yes"
		if version == 2 {
			mode = "default"
		}
		a := row(fmt.Sprintf("v%d array damage, an undamaged copy (%s)", version, mode), 100, version == 2)
		copyPeer := []*Peer{NewPeer("node2.lockb", orig)}
		for _, d := range arrayDamage(orig) {
			if len(schema.Check(d.b)) == 0 {
				continue
			}
			de, ye := promises(t, fmt.Sprintf("v%d %s with a copy", version, d.kind), orig, d.b, Options{Peers: copyPeer})
			count(a, de, ye)
		}
		want, heldWant := 0.0, 95.0
		if version == 2 {
			want, heldWant = 95, 0
		}
		c := row(fmt.Sprintf("v%d three differently damaged copies (%s)", version, mode), want, version == 2)
		held := row(fmt.Sprintf("v%d  of them, a majority of the three holds every byte", version), heldWant, version == 2)
		// By what the three files hold (classify, against the original):
		// the goal where they determine every byte; the rest counted.
		det := row(fmt.Sprintf("v%d  of them, every byte determined (majority, 1 copy, rules)", version), heldWant, version == 2)
		own := row(fmt.Sprintf("v%d  of them, contested byte, this file's own kept", version), 0, version == 2)
		undet := row(fmt.Sprintf("v%d  of them, undeterminable (2 valid candidates)", version), 0, version == 2)
		gone := row(fmt.Sprintf("v%d  of them, lost: no copy holds a byte", version), 0, version == 2)
		for k, set := range randomCopySets(orig, nSets, rand.New(rand.NewPCG(uint64(version), 31))) {
			for i := range set.files {
				var ps []*Peer
				for j := range set.files {
					if j != i {
						ps = append(ps, NewPeer(fmt.Sprintf("node%d", j), set.files[j]))
					}
				}
				kind := fmt.Sprintf("v%d set %d copy %d (%s; the others: %s, %s)", version, k, i, set.models[i], set.models[(i+1)%3], set.models[(i+2)%3])
				de, ye := promises(t, kind, orig, set.files[i], Options{Peers: ps})
				count(c, de, ye)
				holds := majorityHolds(orig, set.files)
				if holds {
					count(held, de, ye)
				}
				switch ev := classify(orig, set.files, i); ev {
				case byMajority, byOneCopy, byRules:
					count(det, de, ye)
				case ownKept:
					count(own, de, ye)
				case undeterminable:
					count(undet, de, ye)
				case lost:
					count(gone, de, ye)
				}
				if !de && !(ye && version < 2) && testing.Verbose() {
					t.Logf("not exact: %s; a majority of the three holds every byte: %v", kind, holds)
				}
			}
		}
		g = det
		if version == 2 {
			g = c
		}
		if version < 2 {
			why = append(why, fmt.Sprintf("v%d: %d of %d copies (%.1f%%) undeterminable (%d of them exact by chance), %d lost. Undeterminable: at a byte the only\n"+
				"    copy holding the original is contradicted by one undamaged there by every test whose byte keeps every rule, no third copy reaching.",
				version, undet.n, c.n, 100*float64(undet.n)/float64(c.n), undet.exact, gone.n))
		} else {
			why = append(why, fmt.Sprintf("v2: %d of %d copies (%.1f%%) lost: a record no copy holds whole", gone.n, c.n, 100*float64(gone.n)/float64(c.n)))
		}
		all.n, all.exact, all.byDefault = all.n+g.n, all.exact+g.exact, all.byDefault+g.byDefault
	}
	{
		orig := original(1, 200)
		g := row("v1 wiped header, a v1 peer (--yes)", 100, false)
		w := bytes.Clone(orig)
		clear(w[:plainHeaderSize])
		de, ye := promises(t, "wiped v1", orig, w, Options{Peers: []*Peer{NewPeer("node7.lockb", peerOf(t, orig))}})
		count(g, de, ye)
		n := row("a newer version, CRC intact: refused, nothing written", 100, false)
		for _, v := range []int{1, 2} {
			b := original(v, 50)
			b[schema.OffConfigVersion] = byte(schema.Latest() + 1)
			schema.PutUint(b[offChecksum:offChecksum+8], schema.HeaderCRC(b[:headerSize(v)], offChecksum))
			n.n++
			r := Recover(b, Options{Mode: Yes})
			if r.Status == StatusUnrepairable && r.Output == nil && errors.Is(r.Damage[0], schema.ErrUnsupportedVersion) {
				n.exact++
				n.byDefault++
			}
		}
	}
	rows = append(rows, all)
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%-62s %6s %8s %10s  %s\n", "case kind", "count", "exact %", "default %", "goal")
	for _, g := range rows {
		want := "none (the default mode never wrong)"
		if g.want > 0 {
			want = fmt.Sprintf(">= %.0f%%", g.want)
		}
		fmt.Fprintf(&tbl, "%-62s %6d %7.1f%% %9.1f%%  %s\n", g.kind, g.n, g.pct(), 100*float64(g.byDefault)/float64(max(g.n, 1)), want)
	}
	for _, w := range why {
		fmt.Fprintf(&tbl, "%s\n", w)
	}
	t.Log(tbl.String())
	for _, g := range rows {
		if g.pct() < g.want {
			t.Errorf("%s: %.1f%% exact, want >= %.0f%%", g.kind, g.pct(), g.want)
		}
	}
}
