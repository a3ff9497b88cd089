package recovery

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
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
