package recovery

import (
	"bytes"

	"github.com/lockfix/lockfix/schema"
)

// evidence is what three damaged copies of orig hold about it, seen from
// one of them: the oracle (orig) judges, byte by byte, whether the
// information to restore that copy exactly exists in the three files.
type evidence int

const (
	// byMajority: at every byte at least two of the copies hold orig's.
	byMajority evidence = iota
	// byOneCopy: where fewer than two do, the one that does is the only
	// copy undamaged there; every other ends before the byte or is
	// detectably damaged there (a record that breaks a rule of section 5,
	// a failing CRC).
	byOneCopy
	// byRules: a copy undamaged there holds another byte, but with it the
	// file breaks a rule (docs/format.md section 5 or 6): the rules decide.
	byRules
	// ownKept: two copies that are undamaged there by every test hold
	// different bytes, both keeping every rule, and no third copy reaches;
	// this copy holds orig's, so keeping its own bytes is exact, though
	// nothing tells it.
	ownKept
	// undeterminable: as ownKept, but this copy holds the other byte or
	// ends before it: the three files cannot tell which is the original.
	undeterminable
	// lost: no copy holds orig's byte.
	lost
)

// classify returns the evidence the copies files hold about orig, seen
// from files[self].
func classify(orig []byte, files [3][]byte, self int) evidence {
	var ps [3]*Peer
	for i := range files {
		ps[i] = NewPeer("", files[i])
	}
	damaged := func(p *Peer, at int) bool {
		if p.s == nil {
			return true
		}
		if at < p.s.HeaderSize {
			return crcOffset(p.s) >= 0 && !p.headerOK
		}
		return inGaps(p.arr.gaps, at, at+1)
	}
	worst := byMajority
	for at := range orig {
		var holds [3]bool
		n := 0
		for i, f := range files {
			if at < len(f) && f[at] == orig[at] {
				holds[i] = true
				n++
			}
		}
		if n >= 2 {
			continue
		}
		if n == 0 {
			return lost
		}
		e := byOneCopy
		for i, f := range files {
			if holds[i] || at >= len(f) || damaged(ps[i], at) {
				continue
			}
			// Copy i is undamaged here by every test we have and holds
			// another byte: do the rules tell?
			c := bytes.Clone(orig)
			c[at] = f[at]
			switch {
			case len(schema.Check(c)) > 0:
				e = max(e, byRules)
			case holds[self]:
				e = max(e, ownKept)
			default:
				e = max(e, undeterminable)
			}
		}
		worst = max(worst, e)
	}
	return worst
}
