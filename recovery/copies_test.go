package recovery

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

// arrayDamage returns array damage of orig that loses records: torn
// tails, garbage over records, a record hit twice.
func arrayDamage(orig []byte) []damaged {
	offs := recordOffsets(nil, orig)
	var out []damaged
	add := func(kind string, b []byte) { out = append(out, damaged{kind: kind, b: b}) }
	for _, i := range []int{1, len(offs) / 3, len(offs) / 2, len(offs) - 1} {
		off := offs[i]
		add(fmt.Sprintf("torn tail at the boundary before record %d", i), bytes.Clone(orig[:off]))
		add(fmt.Sprintf("torn tail inside record %d", i), bytes.Clone(orig[:off+5]))
		add(fmt.Sprintf("garbage over records from %d", i), mutate(orig, func(c []byte) []byte {
			for j := off + 3; j < min(off+90, len(c)); j++ {
				c[j] = byte(j*31 + 7)
			}
			return c
		}))
		add(fmt.Sprintf("two bits of record %d", i), mutate(orig, func(c []byte) []byte {
			c[off+8] ^= 0x21
			return c
		}))
	}
	return out
}

// Array damage with an undamaged copy is undone exactly: in the default
// mode where the header's array checksum proves it (v2), with --yes
// otherwise, the report saying from how many copies.
func TestArrayFromCopy(t *testing.T) {
	for _, version := range []int{0, 1, 2} {
		orig := original(version, 120)
		peers := []*Peer{NewPeer("node2.lockb", orig)}
		for _, d := range arrayDamage(orig) {
			if len(schema.Check(d.b)) == 0 {
				// Undetectable without a checksum: the file is valid.
				continue
			}
			def := Recover(d.b, Options{Peers: peers})
			yes := Recover(d.b, Options{Mode: Yes, Peers: peers})
			var buf bytes.Buffer
			yes.WriteText(&buf, "f", false)
			if def.Status == StatusRepaired && !bytes.Equal(def.Output, orig) {
				t.Errorf("v%d %s: default mode repaired to something else:\n%s", version, d.kind, buf.String())
			}
			if version == 2 && (def.Status != StatusRepaired || !bytes.Equal(def.Output, orig)) {
				var dbuf bytes.Buffer
				def.WriteText(&dbuf, "f", false)
				t.Errorf("v%d %s: default mode did not take the records from the copy:\n%s", version, d.kind, dbuf.String())
			}
			if yes.Status != StatusRepaired || !bytes.Equal(yes.Output, orig) {
				t.Errorf("v%d %s: --yes did not restore the original:\n%s", version, d.kind, buf.String())
			}
		}
	}
}

// copyModels are the damage models of the copies of one lockfile on
// different nodes: each copy is hit by one.
var copyModels = []string{"torn tail", "record garbage", "header garbage", "bit flips", "zeroed sector"}

// damageCopy applies model to a copy of orig, at a place chosen by seed.
func damageCopy(orig []byte, model string, seed int) []byte {
	c := bytes.Clone(orig)
	hs := headerSize(int(orig[schema.OffConfigVersion]))
	span := len(orig) - hs
	at := hs + (seed*7919)%(span-600)
	switch model {
	case "torn tail":
		return c[:at+300]
	case "record garbage":
		for j := at; j < at+80; j++ {
			c[j] = byte(j*131 + seed)
		}
	case "header garbage":
		for j := 5 + seed%6; j < 0x18; j++ {
			c[j] = byte(j*29 + seed)
		}
	case "bit flips":
		for k := 0; k < 3; k++ {
			p := at + k*97
			c[p] ^= 1 << uint((seed+k)%8)
		}
	case "zeroed sector":
		s := (at / 512) * 512
		clear(c[s:min(s+512, len(c))])
	}
	return c
}

// Three differently damaged copies and no healthy one: each is repaired
// exactly from the other two.
func TestConsensusOfDamagedCopies(t *testing.T) {
	for _, version := range []int{0, 1, 2} {
		orig := original(version, 150)
		total, exact := 0, 0
		for seed := 0; seed < 20; seed++ {
			var files [3][]byte
			for i := range files {
				files[i] = damageCopy(orig, copyModels[(seed+i)%len(copyModels)], seed*3+i)
			}
			for i := range files {
				var peers []*Peer
				for j := range files {
					if j != i {
						peers = append(peers, NewPeer(fmt.Sprintf("node%d", j), files[j]))
					}
				}
				def := Recover(files[i], Options{Peers: peers})
				if def.Status == StatusRepaired && !bytes.Equal(def.Output, orig) {
					t.Errorf("v%d seed %d copy %d (%s): default mode repaired to something else", version, seed, i, copyModels[(seed+i)%len(copyModels)])
				}
				yes := Recover(files[i], Options{Mode: Yes, Peers: peers})
				total++
				if yes.Status == StatusRepaired && bytes.Equal(yes.Output, orig) || yes.Status == StatusClean && bytes.Equal(files[i], orig) {
					exact++
				} else if testing.Verbose() {
					var buf bytes.Buffer
					yes.WriteText(&buf, copyModels[(seed+i)%len(copyModels)], false)
					t.Logf("v%d seed %d: %s", version, seed, buf.String())
				}
			}
		}
		t.Logf("v%d: %d of %d damaged copies exact", version, exact, total)
		if 100*exact < 95*total {
			t.Errorf("v%d: %d of %d damaged copies exact, want >= 95%%", version, exact, total)
		}
	}
}

// An untrusted packageCount is bounded by what the bytes can hold: a
// tiny v0 file whose count says 300 million loses no package it cannot
// have held, and the damage lists the count.
func TestUntrustedCountBounded(t *testing.T) {
	c := original(0, 3)
	c[offPackageCount], c[offPackageCount+1], c[offPackageCount+2], c[offPackageCount+3] = 0x11, 0xe1, 0xa3, 0x00
	r := Recover(c, Options{Mode: Yes})
	if r.LostCount() != 0 || r.Status != StatusRepaired {
		t.Errorf("status %s, %d lost", r.Status, r.LostCount())
	}
	listed := false
	for _, d := range r.Damage {
		listed = listed || errors.Is(d, schema.ErrPackageCountMismatch)
	}
	if !listed {
		t.Errorf("damage does not list the packageCount mismatch: %v", r.Damage)
	}
}

// randomCopy applies model to a copy of orig at a place, of a size and
// with bytes drawn from rng: a torn tail anywhere in the array, 16 to 300
// random bytes over records, 1 to 24 random bytes over the header, one
// to three bits flipped anywhere in the file, a zeroed 512-byte sector
// anywhere (the header's included).
func randomCopy(orig []byte, model string, rng *rand.Rand) []byte {
	c := bytes.Clone(orig)
	hs := headerSize(int(orig[schema.OffConfigVersion]))
	switch model {
	case "torn tail":
		return c[:hs+1+rng.IntN(len(orig)-hs-1)]
	case "record garbage":
		n := 16 + rng.IntN(285)
		at := hs + rng.IntN(len(orig)-hs-n)
		for j := at; j < at+n; j++ {
			c[j] = byte(rng.Uint32())
		}
	case "header garbage":
		n := 1 + rng.IntN(24)
		at := rng.IntN(hs - n + 1)
		for j := at; j < at+n; j++ {
			c[j] = byte(rng.Uint32())
		}
	case "bit flips":
		for k := 0; k <= rng.IntN(3); k++ {
			bit := rng.IntN(len(c) * 8)
			c[bit/8] ^= 1 << uint(bit%8)
		}
	case "zeroed sector":
		s := rng.IntN((len(c)+511)/512) * 512
		clear(c[s:min(s+512, len(c))])
	}
	return c
}

// copySet is three copies of one lockfile, each damaged by another model.
type copySet struct {
	models [3]string
	files  [3][]byte
}

// randomCopySets returns n sets of three differently damaged copies of
// orig: three distinct models of copyModels for each, drawn from rng.
func randomCopySets(orig []byte, n int, rng *rand.Rand) []copySet {
	out := make([]copySet, n)
	for k := range out {
		for i, m := range rng.Perm(len(copyModels))[:3] {
			out[k].models[i] = copyModels[m]
			out[k].files[i] = randomCopy(orig, copyModels[m], rng)
		}
	}
	return out
}

// majorityHolds reports whether, at every byte of orig, at least two of
// the files hold orig's byte: whether the byte-wise majority of the three
// copies is the original, the case a majority of three can repair.
func majorityHolds(orig []byte, files [3][]byte) bool {
	for i := range orig {
		n := 0
		for _, f := range files {
			if i < len(f) && f[i] == orig[i] {
				n++
			}
		}
		if n < 2 {
			return false
		}
	}
	return true
}

// A valid v0 file with a bit flipped where every rule still holds is
// clean alone; two copies whose majority holds every byte reveal it: the
// default mode refuses, --yes restores the original and says where the
// bytes came from. A valid file that differs from its copies in more
// than a few bytes is another revision, not damage, and a v2 file whose
// checksums hold is never overruled.
func TestSilentDamageFromCopies(t *testing.T) {
	orig := original(0, 150)
	offs := recordOffsets(t, orig)
	var flipped []byte
	for bit := offs[70] * 8; bit < len(orig)*8 && flipped == nil; bit++ {
		c := bytes.Clone(orig)
		c[bit/8] ^= 1 << uint(bit%8)
		if len(schema.Check(c)) == 0 {
			flipped = c
		}
	}
	if flipped == nil {
		t.Fatal("no silent flip found")
	}
	torn := bytes.Clone(orig[:offs[120]+7])
	zeroed := bytes.Clone(orig)
	clear(zeroed[offs[20] : offs[20]+300])
	peers := []*Peer{NewPeer("torn", torn), NewPeer("zeroed", zeroed)}
	if r := Recover(flipped, Options{}); r.Status != StatusClean {
		t.Fatalf("alone: %s", r.Status)
	}
	def := Recover(flipped, Options{Peers: peers})
	if def.Status != StatusRefused || def.Output != nil || !bytes.Equal(def.Plan, orig) {
		t.Errorf("default mode: %s, plan exact %v", def.Status, bytes.Equal(def.Plan, orig))
	}
	yes := Recover(flipped, Options{Mode: Yes, Peers: peers})
	if yes.Status != StatusRepaired || !bytes.Equal(yes.Output, orig) || len(yes.Repairs) != 1 || yes.Repairs[0].Kind != "majority" {
		var buf bytes.Buffer
		yes.WriteText(&buf, "f", false)
		t.Errorf("--yes:\n%s", buf.String())
	}

	// Another revision: seventeen bytes of one integrity string differ.
	other := bytes.Clone(orig)
	for i := 0; i < maxSilentBytes+1; i++ {
		p := offs[70] + 40 + i
		other[p] = orig[offs[71]+40+i]
	}
	if len(schema.Check(other)) == 0 {
		if r := Recover(other, Options{Mode: Yes, Peers: []*Peer{NewPeer("a", orig), NewPeer("b", orig)}}); r.Status != StatusClean {
			t.Errorf("another revision: %s", r.Status)
		}
	}

	// Another config: a node whose rows were set on purpose is not
	// damaged, even when every copy says otherwise.
	rows := bytes.Clone(orig)
	rows[schema.OffRows]++
	if len(schema.Check(rows)) == 0 {
		if r := Recover(rows, Options{Mode: Yes, Peers: []*Peer{NewPeer("a", orig), NewPeer("b", orig)}}); r.Status != StatusClean {
			t.Errorf("another node's rows: %s, want clean", r.Status)
		}
	}

	// v2: a valid file is proven by its checksums.
	o2 := original(2, 60)
	l, _ := schema.Decode(o2)
	l.Config.Rows++
	changed, err := schema.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	if r := Recover(changed, Options{Mode: Yes, Peers: []*Peer{NewPeer("a", o2), NewPeer("b", o2)}}); r.Status != StatusClean {
		t.Errorf("v2 with other rows than its copies: %s", r.Status)
	}
}

// Where two copies disagree and no third reaches, the rules decide: a
// record that breaks the order of an otherwise sorted array is damaged
// there (its name keeps the rules of its characters), and the other
// copy, undamaged there, is the only evidence. Bytes that one copy alone
// holds, every other ending before them or damaged there, are taken
// from it with --yes and reported as from 1 of 3 copies.
func TestOneCopyAndOrder(t *testing.T) {
	orig := original(0, 150)
	offs := recordOffsets(t, orig)
	k := 100
	torn := bytes.Clone(orig[:offs[k-3]])
	// The first letter of record k's name becomes one that sorts it
	// before its predecessor, and keeps the rules.
	disordered := bytes.Clone(orig)
	at := offs[k] + 2
	for _, ch := range []byte("abcdefghijklmnopqrstuvwxyz") {
		disordered[at] = ch
		if ch < orig[offs[k-1]+2] && len(schema.Check(disordered)) > 0 && errors.Is(schema.Check(disordered)[0], schema.ErrUnsortedPackages) {
			break
		}
	}
	if disordered[at] >= orig[offs[k-1]+2] {
		t.Fatal("no letter breaks the order")
	}
	zeroed := bytes.Clone(orig)
	clear(zeroed[offs[20] : offs[20]+300])
	for _, c := range []struct {
		name  string
		file  []byte
		peers []*Peer
		want  string
	}{
		{"torn", torn, []*Peer{NewPeer("disordered", disordered), NewPeer("zeroed", zeroed)}, "taken from 1 of 3 copies: zeroed, undamaged there by every test (this file ends at"},
		{"zeroed", zeroed, []*Peer{NewPeer("torn", torn), NewPeer("disordered", disordered)}, "taken from the byte-wise majority of 3 copies (this file, torn, disordered)"},
		{"disordered", disordered, []*Peer{NewPeer("torn", torn), NewPeer("zeroed", zeroed)}, "taken from 1 of 1 copies (zeroed)"},
	} {
		def := Recover(c.file, Options{Peers: c.peers})
		yes := Recover(c.file, Options{Mode: Yes, Peers: c.peers})
		var buf bytes.Buffer
		yes.WriteText(&buf, c.name, false)
		if def.Status != StatusRefused || def.Output != nil {
			t.Errorf("%s: default mode: %s", c.name, def.Status)
		}
		if yes.Status != StatusRepaired || !bytes.Equal(yes.Output, orig) {
			t.Errorf("%s: --yes not exact:\n%s", c.name, buf.String())
			continue
		}
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s: the report does not say %q:\n%s", c.name, c.want, buf.String())
		}
		if again := Recover(yes.Output, Options{}); again.Status != StatusClean {
			t.Errorf("%s: second pass: %s", c.name, again.Status)
		}
	}
}
