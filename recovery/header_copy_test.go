package recovery

import (
	"bytes"
	"testing"
)

// With one damaged copy and no healthy one, a v2 header wiped whole is
// taken from the copy whose header holds: its array checksum proves it.
func TestHeaderFromDamagedCopy(t *testing.T) {
	orig := original(2, 100)
	x := bytes.Clone(orig)
	clear(x[:headerSize(2)])
	c := damageCopy(orig, "record garbage", 3)
	r := Recover(x, Options{Peers: []*Peer{NewPeer("node3", c)}})
	if r.Status != StatusRepaired || !bytes.Equal(r.Output, orig) {
		var buf bytes.Buffer
		r.WriteText(&buf, "x", false)
		t.Fatalf("not taken from the copy:\n%s", buf.String())
	}
}
