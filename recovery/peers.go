package recovery

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/lockfix/lockfix/schema"
)

// Peer is another lockfile of the same fleet, healthy or damaged: a
// source of hypotheses for the fields of a damaged header (which the
// stored CRC-64 can confirm) and, when its packages overlap the damaged
// file's, a copy to take lost records from. NewPeer reads it once; a run
// over many files shares its peers.
type Peer struct {
	Name string
	data []byte
	// s is its version as recognised (nil: not a lockfile).
	s *schema.Schema
	// headerOK: its header keeps every rule (its CRC-64 holds), so its
	// config fields are the ones its writer wrote.
	headerOK bool
	// healthy: the whole file is valid.
	healthy bool
	arr     *array
	// voteGaps are the stretches its bytes do not vote in a byte-wise
	// majority (voteGaps).
	voteGaps []gap
}

// NewPeer analyses the bytes of a peer named name.
func NewPeer(name string, b []byte) *Peer {
	p := &Peer{Name: name, data: b}
	if s, err := schema.Sniff(b); err == nil && len(b) >= s.HeaderSize && s.HeaderValid(b) {
		p.s, p.headerOK = s, true
	} else if d, ok := detect(b, nil); ok && len(b) >= d.s.HeaderSize {
		p.s = d.s
	}
	if p.s == nil {
		return p
	}
	if p.s.Framing != nil {
		p.arr = salvageFramed(p.s, b, p.s.HeaderSize)
	} else {
		p.arr = salvagePlain(p.s, b, p.s.HeaderSize)
	}
	p.voteGaps = voteGaps(p.arr)
	p.healthy = p.headerOK && p.arr.intact && len(schema.Check(b)) == 0
	return p
}

// Healthy reports whether the peer is a valid lockfile.
func (p *Peer) Healthy() bool { return p.healthy }

// Lockfile reports whether the peer is recognisable as a lockfile,
// healthy or damaged.
func (p *Peer) Lockfile() bool { return p.s != nil }

// writer returns the peer's writer field for layout s, or nil when the
// peer is of another layout or has none.
func (p *Peer) writer(s *schema.Schema) []byte {
	wf := s.FieldOf(schema.KindWriter)
	if wf == nil || p.s == nil || p.s.HeaderSize != s.HeaderSize || p.s.FieldOf(schema.KindWriter) == nil {
		return nil
	}
	return p.data[wf.Offset:wf.End()]
}

// headerPeers returns the peers whose header holds, whose config fields
// are therefore hypotheses worth trying.
func headerPeers(peers []*Peer) []*Peer {
	var out []*Peer
	for _, p := range peers {
		if p.headerOK {
			out = append(out, p)
		}
	}
	return out
}

// vote is the value most peers agree on.
type vote struct {
	value []byte
	n, m  int
	names []string
}

// source names where a voted value came from, for the report.
func (v vote) source() string {
	names := v.names
	more := ""
	if len(names) > 4 {
		names, more = names[:4], fmt.Sprintf(" and %d more", len(v.names)-4)
	}
	if v.m == 1 {
		return "peer " + names[0] + ", unconfirmed"
	}
	return fmt.Sprintf("majority of %d of %d peers (%s%s), unconfirmed", v.n, v.m, strings.Join(names, ", "), more)
}

// majority returns the value of get that most peers give (ties broken
// by the first peer), over the peers for which get is not nil.
func majority(peers []*Peer, get func(p *Peer) []byte) (vote, bool) {
	var vals [][]byte
	var who [][]string
	m := 0
	for _, p := range peers {
		v := get(p)
		if v == nil {
			continue
		}
		m++
		i := slices.IndexFunc(vals, func(x []byte) bool { return bytes.Equal(x, v) })
		if i < 0 {
			vals, who = append(vals, v), append(who, nil)
			i = len(vals) - 1
		}
		who[i] = append(who[i], p.Name)
	}
	if m == 0 {
		return vote{}, false
	}
	best := 0
	for i := range vals {
		if len(who[i]) > len(who[best]) {
			best = i
		}
	}
	return vote{value: vals[best], n: len(who[best]), m: m, names: who[best]}, true
}

// peerField is a header field a peer's value can be tried for.
type peerField struct {
	name     string
	off, end int
}

// hypothesisFields returns the fields of layout s whose values peers
// share: the config fields with a rule and the writer.
func hypothesisFields(s *schema.Schema) []peerField {
	var out []peerField
	for _, f := range s.Header {
		if f.Kind == schema.KindConfig && f.Offset != schema.OffReserved || f.Kind == schema.KindWriter {
			out = append(out, peerField{f.Name, f.Offset, f.End()})
		}
	}
	return out
}

// confirmFromPeers tries the peers' values of the fields of h against
// the stored CRC-64: every subset of the fields set to one peer's values.
// It returns the only valid header that the CRC confirms, and which
// peers' values it took.
func confirmFromPeers(s *schema.Schema, h []byte, peers []*Peer) ([]byte, []Repair, bool) {
	off := crcOffset(s)
	if off < 0 || schema.AllZero(h[off:off+8]) {
		return nil, nil, false
	}
	fields := hypothesisFields(s)
	var found []byte
	var reps []Repair
	work := make([]byte, len(h))
	tried := map[string]bool{}
	for _, p := range headerPeers(peers) {
		w := p.writer(s)
		// The peer's values, field by field (nil: the peer has none).
		vals := make([][]byte, len(fields))
		for i, f := range fields {
			if s.FieldOf(schema.KindWriter) != nil && f.off == s.FieldOf(schema.KindWriter).Offset {
				vals[i] = w
			} else {
				vals[i] = p.data[f.off:f.end]
			}
		}
		key := string(bytes.Join(vals, nil))
		if tried[key] {
			continue
		}
		tried[key] = true
		for mask := 1; mask < 1<<len(fields); mask++ {
			copy(work, h)
			same := true
			for i, f := range fields {
				if mask>>i&1 == 1 && vals[i] != nil {
					if !bytes.Equal(work[f.off:f.end], vals[i]) {
						same = false
					}
					copy(work[f.off:f.end], vals[i])
				}
			}
			if same || syndrome(work, off) != 0 || !s.HeaderValid(work) {
				continue
			}
			if found != nil && !bytes.Equal(found, work) {
				return nil, nil, false // two headers confirmed: never guess
			}
			if found == nil {
				found = bytes.Clone(work)
				reps = reps[:0]
				for i, f := range fields {
					if !bytes.Equal(h[f.off:f.end], found[f.off:f.end]) {
						reps = append(reps, Repair{Kind: "confirm", Offset: f.off,
							Detail: fmt.Sprintf("%s set to %s from peer %s, confirmed by the header CRC-64", f.name, showField(s, fields[i].name, found), p.Name)})
					}
				}
			}
		}
	}
	return found, reps, found != nil
}

// showField returns the value of the field named name of header h for
// people, as dump --hex shows it.
func showField(s *schema.Schema, name string, h []byte) string {
	for _, f := range s.Fields(h) {
		if f.Name == name {
			return f.Value
		}
	}
	return "?"
}

// peerVersion returns the version most peers whose header holds are of.
func peerVersion(peers []*Peer) *schema.Schema {
	v, ok := majority(headerPeers(peers), func(p *Peer) []byte { return []byte{byte(p.s.Version)} })
	if !ok {
		return nil
	}
	s, _ := schema.Lookup(int(v.value[0]))
	return s
}
