package recovery

import (
	"bytes"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// A peer of the same config is a hypothesis the stored CRC-64 confirms:
// damage no checksum alone explains (two places at once, a valid-looking
// field) comes back exactly in the default mode, and the report names
// the peer.
func TestPeerConfirmedByCRC(t *testing.T) {
	for _, version := range []int{1, 2} {
		orig := original(version, 40)
		// Another lockfile of the fleet: other packages, the same config.
		l, _ := schema.Decode(orig)
		other := lockgen.Lockfile(lockgen.Options{Version: version, Packages: 7, Seed: 99})
		other.Config, other.Writer = l.Config, l.Writer
		ob, err := schema.Encode(other)
		if err != nil {
			t.Fatal(err)
		}
		peers := []*Peer{NewPeer("node7.lockb", ob)}
		c := bytes.Clone(orig)
		copy(c[schema.OffRegistryHash:], "\x11\x22\x33\x44\x55\x66\x77\x88\x01\x05\x06\x07")
		if version == 2 {
			copy(c[0x2f:], "garbage\x01")
		}
		if r := Recover(c, Options{}); r.Status == StatusRepaired && !bytes.Equal(r.Output, orig) {
			t.Fatalf("v%d: repaired to something else without a peer", version)
		}
		r := Recover(c, Options{Peers: peers})
		if r.Status != StatusRepaired || !bytes.Equal(r.Output, orig) {
			var buf bytes.Buffer
			r.WriteText(&buf, "f", false)
			t.Fatalf("v%d: not undone from the peer:\n%s", version, buf.String())
		}
		var buf bytes.Buffer
		r.WriteText(&buf, "f", false)
		// In v1 the burst search alone finds it (a config block holds
		// at most 52 free bits); v2's damage is in two places.
		if version == 2 && !bytes.Contains(buf.Bytes(), []byte("from peer node7.lockb, confirmed by the header CRC-64")) {
			t.Errorf("v%d: the report does not name the peer:\n%s", version, buf.String())
		}
	}
}
