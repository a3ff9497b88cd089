package recovery

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

// burstCase is random bytes written over length bytes of the header at
// at: the damage position the repair is not told.
type burstCase struct {
	at, length int
	b          []byte
	intactCRC  bool // the burst leaves the stored checksum alone
}

// bursts returns n unknown-position bursts of 1 to 13 bytes over orig's
// header: half inside the config block, half anywhere in the header.
func bursts(orig []byte, n int, rng *rand.Rand) []burstCase {
	hs := headerSize(int(orig[4]))
	var out []burstCase
	for i := 0; i < n; i++ {
		length := 1 + i%13
		var at int
		if i%2 == 0 {
			at = 4 + rng.IntN(13-length+1)
		} else {
			at = rng.IntN(hs - length + 1)
		}
		c := bytes.Clone(orig)
		for j := at; j < at+length; j++ {
			c[j] = byte(rng.Uint32())
		}
		if bytes.Equal(c, orig) {
			continue
		}
		out = append(out, burstCase{at: at, length: length, b: c, intactCRC: at+length <= offChecksum || at >= offChecksum+8})
	}
	return out
}

// The default mode undoes an unknown-position burst exactly or writes
// nothing, and undoes at least 95% of those of up to 8 bytes that leave
// the stored checksum intact.
func TestBurstsUndone(t *testing.T) {
	n := 2600
	if testing.Short() {
		n = 520
	}
	for _, version := range []int{1, 2} {
		orig := original(version, 200)
		rng := rand.New(rand.NewPCG(uint64(version), 11))
		goal, exact := 0, 0
		byLen := map[int][2]int{}
		for _, c := range bursts(orig, n, rng) {
			r := Recover(c.b, Options{})
			ok := r.Status == StatusRepaired && bytes.Equal(r.Output, orig)
			if r.Status == StatusRepaired && !ok {
				var buf bytes.Buffer
				r.WriteText(&buf, "f", false)
				t.Errorf("v%d burst of %d bytes at 0x%02x repaired to bytes that are not the original:\n%s", version, c.length, c.at, buf.String())
			}
			if c.intactCRC {
				x := byLen[c.length]
				x[0]++
				if ok {
					x[1]++
				}
				byLen[c.length] = x
				if c.length <= 8 {
					goal++
					if ok {
						exact++
					}
				}
			}
		}
		var line string
		for l := 1; l <= 13; l++ {
			line += fmt.Sprintf(" %d:%d/%d", l, byLen[l][1], byLen[l][0])
		}
		t.Logf("v%d bursts with the checksum intact, exact by length:%s", version, line)
		if pct := 100 * float64(exact) / float64(goal); pct < 95 {
			t.Errorf("v%d: bursts of up to 8 bytes undone exactly in %.1f%% of %d, want >= 95%%", version, pct, goal)
		}
	}
}

// registryPrefix finds the registry before "<name>/-/<base>-<version>.tgz"
// and nothing in a URL of another layout.
func TestRegistryPrefix(t *testing.T) {
	body := func(name, version, resolved string) []byte {
		var b []byte
		for _, s := range []string{name, version, resolved, ""} {
			b = append(b, byte(len(s)>>8), byte(len(s)))
			b = append(b, s...)
		}
		return b
	}
	for _, c := range []struct{ name, version, resolved, want string }{
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/-/left-pad-1.3.0.tgz", "https://registry.example.org/"},
		{"@types/node", "20.1.0", "https://r.example.org/npm/@types/node/-/node-20.1.0.tgz", "https://r.example.org/npm/"},
		{"left-pad", "1.3.0", "http://h.example.org/left-pad/-/left-pad-1.3.0.tgz", "http://h.example.org/"},
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/-/left-pad-1.3.1.tgz", "<nil>"},
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/-/right-pad-1.3.0.tgz", "<nil>"},
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/_/left-pad-1.3.0.tgz", "<nil>"},
		{"left-pad", "1.3.0", "https://registry.example.org/left-pad/-/left-pad-1.3.0.tar", "<nil>"},
		{"left-pad", "1.3.0", "https://example.org/x.tgz", "<nil>"},
		{"left-pad", "1.3.0", "", "<nil>"},
	} {
		r, ok := validRecord(body(c.name, c.version, c.resolved), 0, 0)
		if !ok {
			t.Fatalf("%s: not a valid record", c.resolved)
		}
		got := "<nil>"
		if p := registryPrefix(&r); p != nil {
			got = string(p)
		}
		if got != c.want {
			t.Errorf("registryPrefix(%q) = %q, want %q", c.resolved, got, c.want)
		}
	}
}

// The salvage that checks the records of a long array on several
// goroutines (fastRun) finds exactly what it finds on one: the same
// records, gaps, damage and repairs, also when it comes back after
// damage to records it has checked.
func TestSalvageParallelSequential(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one processor: the salvage runs on one goroutine")
	}
	for _, version := range []int{0, 2} {
		orig := original(version, 2000)
		s, _ := schema.Lookup(version)
		salvage := func(b []byte) *array {
			if s.Framing != nil {
				return salvageFramed(s, b, s.HeaderSize)
			}
			return salvagePlain(s, b, s.HeaderSize)
		}
		offs := recordOffsets(t, orig)
		cases := map[string][]byte{"intact": orig}
		many := bytes.Clone(orig)
		for _, at := range []int{10, 700, 1001, 1500, 1999} {
			c := bytes.Clone(orig)
			c[offs[at]+3] = 0 // a name byte that breaks the rules
			many[offs[at]+3] = 0
			cases[fmt.Sprintf("record %d invalid", at)] = c
			cases[fmt.Sprintf("torn in record %d", at)] = orig[:offs[at]+7]
			z := bytes.Clone(orig)
			clear(z[offs[at] : offs[at]+300])
			cases[fmt.Sprintf("zeroed at record %d", at)] = z
		}
		cases["five records invalid"] = many
		for name, b := range cases {
			par := salvage(b)
			defer func(v int) { parallelFastMin = v }(parallelFastMin)
			parallelFastMin = len(b) + 1
			seq := salvage(b)
			parallelFastMin = 128 << 10
			same := len(par.recs) == len(seq.recs) && len(par.gaps) == len(seq.gaps) &&
				fmt.Sprint(par.damage) == fmt.Sprint(seq.damage) && fmt.Sprint(par.repairs) == fmt.Sprint(seq.repairs) && par.intact == seq.intact
			for i := 0; same && i < len(par.recs); i++ {
				same = par.recs[i].off == seq.recs[i].off && bytes.Equal(par.recs[i].body, seq.recs[i].body) && par.recs[i].rebuilt == seq.recs[i].rebuilt
			}
			for i := 0; same && i < len(par.gaps); i++ {
				same = par.gaps[i].off == seq.gaps[i].off && par.gaps[i].end == seq.gaps[i].end && len(par.gaps[i].names) == len(seq.gaps[i].names)
			}
			if !same {
				t.Errorf("v%d %s: the salvage on several goroutines differs from the one on one: %d records, %d gaps; %d, %d", version, name, len(par.recs), len(par.gaps), len(seq.recs), len(seq.gaps))
			}
		}
	}
}

// fastRun, which checks chunks of a long array at once, keeps exactly
// the records the fast path keeps alone, and stops where it stops.
func TestFastRunSequential(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one processor: fastRun runs the fast path alone")
	}
	for _, version := range []int{0, 2} {
		orig := original(version, 2000)
		s, _ := schema.Lookup(version)
		fast, hop := (*array).fastPlain, hopPlain
		if s.Framing != nil {
			fast, hop = (*array).fastFramed, hopFramed(s)
		}
		offs := recordOffsets(t, orig)
		cases := map[string][]byte{"intact": orig}
		for _, at := range []int{10, 700, 1001, 1500, 1999} {
			c := bytes.Clone(orig)
			c[offs[at]+3] = 0 // a name byte that breaks the rules
			cases[fmt.Sprintf("record %d invalid", at)] = c
			cases[fmt.Sprintf("torn in record %d", at)] = orig[:offs[at]+7]
		}
		for name, b := range cases {
			one := &array{s: s}
			stop1 := fast(one, b, s.HeaderSize)
			run := &array{s: s}
			stop2 := run.fastRun(b, s.HeaderSize, fast, hop)
			if stop1 != stop2 || len(one.recs) != len(run.recs) {
				t.Fatalf("v%d %s: fastRun stops at 0x%x with %d records, the fast path at 0x%x with %d", version, name, stop2, len(run.recs), stop1, len(one.recs))
			}
			for i := range one.recs {
				if one.recs[i].off != run.recs[i].off || !bytes.Equal(one.recs[i].body, run.recs[i].body) {
					t.Fatalf("v%d %s: record %d differs", version, name, i)
				}
			}
		}
	}
}
