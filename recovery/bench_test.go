package recovery

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

// benchKinds are the damage kinds of the generator, applied to a
// 2,000-package file.
func benchKinds(orig []byte) []damaged {
	version := int(orig[schema.OffConfigVersion])
	hs := headerSize(version)
	offs := recordOffsets(nil, orig)
	mid := offs[len(offs)/2]
	m := func(kind string, f func(c []byte) []byte) damaged {
		return damaged{kind: kind, b: f(bytes.Clone(orig))}
	}
	ks := []damaged{
		m("single-bit", func(c []byte) []byte { c[schema.OffTerminalMode] ^= 0x08; return c }),
		m("double-bit", func(c []byte) []byte { c[schema.OffRegistryHash+1] ^= 0x40; c[hs-3] ^= 0x02; return c }),
		m("magic", func(c []byte) []byte { copy(c, "XXXX"); return c }),
		m("registry-zeroed", func(c []byte) []byte { clear(c[schema.OffRegistryHash : schema.OffRegistryHash+4]); return c }),
		m("flags-reset", func(c []byte) []byte { clear(c[schema.OffFeatureFlags : schema.OffFeatureFlags+4]); return c }),
		m("terminal-0xFF", func(c []byte) []byte { c[schema.OffTerminalMode] = 0xff; return c }),
		m("header-zeroed", func(c []byte) []byte { clear(c[:hs]); return c }),
		m("torn-boundary", func(c []byte) []byte { return c[:mid] }),
		m("torn-inside", func(c []byte) []byte { return c[:mid+5] }),
		m("random-middle", func(c []byte) []byte {
			for i := 0; i < 64; i++ {
				c[mid+10+i] = byte(i*37 + 11)
			}
			return c
		}),
		m("header-garbage", func(c []byte) []byte {
			for j := 7; j < 0x18; j++ {
				c[j] = byte(j*29 + 3)
			}
			return c
		}),
		m("zeroed-sector", func(c []byte) []byte {
			s := (mid / 512) * 512
			clear(c[s : s+512])
			return c
		}),
		m("array-bit-flips", func(c []byte) []byte {
			// Bytes of integrity strings turned non-base64 (bit 7).
			for k := 0; k < 3; k++ {
				c[offs[len(offs)/3+k*50+1]-10] ^= 0x80
			}
			return c
		}),
		m("trailing-garbage", func(c []byte) []byte { return append(c, "\x13\x37garbage"...) }),
	}
	if version > 0 {
		// Unknown-position bursts with the stored checksum intact.
		ks = append(ks, m("burst-config-6", func(c []byte) []byte {
			copy(c[schema.OffRegistryHash+2:], "\x5a\xc3\x11\x90\x7e\x01")
			return c
		}), m("burst-count-tail-8", func(c []byte) []byte {
			copy(c[offPackageCount+2:], "\x13\x37\xbe\xef\x42\x24\x99\x01")
			return c
		}))
	}
	if version == 2 {
		ks = append(ks, m("record-bit", func(c []byte) []byte { c[mid+20] ^= 0x10; return c }))
	}
	return ks
}

func BenchmarkRecover(b *testing.B) {
	for _, version := range []int{0, 1, 2} {
		orig := original(version, 2000)
		b.Run(fmt.Sprintf("v%d/baseline-check-clean", version), func(b *testing.B) {
			defer cpuTime(b)()
			for i := 0; i < b.N; i++ {
				if errs := schema.Check(orig); len(errs) > 0 {
					b.Fatal(errs[0])
				}
			}
		})
		// What the CLI runs before a write: the repair, then the strict
		// check of the new bytes (atomicfile's verify step).
		b.Run(fmt.Sprintf("v%d/single-bit+verify", version), func(b *testing.B) {
			d := benchKinds(orig)[0]
			b.ReportAllocs()
			defer cpuTime(b)()
			for i := 0; i < b.N; i++ {
				r := Recover(d.b, Options{Mode: Yes})
				if r.Status != StatusRepaired || len(schema.Check(r.Output)) > 0 {
					b.Fatalf("%s", r.Status)
				}
			}
		})
		for _, d := range benchKinds(orig) {
			if len(schema.Check(d.b)) == 0 {
				continue // invisible in this version (v0 flags reset)
			}
			b.Run(fmt.Sprintf("v%d/%s", version, d.kind), func(b *testing.B) {
				b.ReportAllocs()
				defer cpuTime(b)()
				for i := 0; i < b.N; i++ {
					r := Recover(d.b, Options{Mode: Yes})
					if r.Status != StatusRepaired {
						b.Fatalf("%s", r.Status)
					}
				}
			})
		}
	}
}

// BenchmarkRefuseNewer is the refusal of a file of a version above every
// registered one, its layout intact: the checksum tried over every
// header length up to the bound.
func BenchmarkRefuseNewer(b *testing.B) {
	for _, version := range []int{1, 2} {
		c := original(version, 2000)
		c[schema.OffConfigVersion] = byte(schema.Latest() + 1)
		schema.PutUint(c[offChecksum:offChecksum+8], schema.HeaderCRC(c[:headerSize(version)], offChecksum))
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuTime(b)()
			for i := 0; i < b.N; i++ {
				if r := Recover(c, Options{Mode: Yes}); r.Status != StatusUnrepairable {
					b.Fatalf("%s", r.Status)
				}
			}
		})
	}
}

// BenchmarkRecoverCopies is the consensus of three differently damaged
// copies and no healthy one: each copy repaired from the other two, the
// peers read once.
func BenchmarkRecoverCopies(b *testing.B) {
	for _, version := range []int{0, 1, 2} {
		orig := original(version, 2000)
		const seed = 1
		var files [3][]byte
		for i := range files {
			files[i] = damageCopy(orig, copyModels[(seed+i)%len(copyModels)], seed*3+i)
		}
		for i, f := range files {
			var ps []*Peer
			for j := range files {
				if j != i {
					ps = append(ps, NewPeer(fmt.Sprintf("node%d", j), files[j]))
				}
			}
			b.Run(fmt.Sprintf("v%d/%s", version, strings.ReplaceAll(copyModels[(seed+i)%len(copyModels)], " ", "-")), func(b *testing.B) {
				b.ReportAllocs()
				defer cpuTime(b)()
				for i := 0; i < b.N; i++ {
					if r := Recover(f, Options{Mode: Yes, Peers: ps}); r.Status != StatusRepaired {
						b.Fatalf("%s", r.Status)
					}
				}
			})
		}
	}
}

// BenchmarkRecoverPeers runs the kinds with peers, read once as the CLI
// reads them once per run: one undamaged copy, and ten peers (nine other
// lockfiles of the fleet with the same config, and the copy).
func BenchmarkRecoverPeers(b *testing.B) {
	for _, version := range []int{0, 1, 2} {
		orig := original(version, 2000)
		l, _ := schema.Decode(orig)
		one := []*Peer{NewPeer("copy", orig)}
		ten := []*Peer{NewPeer("copy", orig)}
		for i := 0; i < 9; i++ {
			other := lockgen.Lockfile(lockgen.Options{Version: version, Packages: 2000, Seed: uint64(100 + i)})
			other.Config, other.Writer = l.Config, l.Writer
			ob, err := schema.Encode(other)
			if err != nil {
				b.Fatal(err)
			}
			ten = append(ten, NewPeer(fmt.Sprintf("node%d", i), ob))
		}
		b.Run(fmt.Sprintf("v%d/baseline-check-clean", version), func(b *testing.B) {
			defer cpuTime(b)()
			for i := 0; i < b.N; i++ {
				if errs := schema.Check(orig); len(errs) > 0 {
					b.Fatal(errs[0])
				}
			}
		})
		for _, d := range benchKinds(orig) {
			if len(schema.Check(d.b)) == 0 {
				continue
			}
			for _, ps := range []struct {
				name  string
				peers []*Peer
			}{{"1-copy", one}, {"10-peers", ten}} {
				b.Run(fmt.Sprintf("v%d/%s/%s", version, d.kind, ps.name), func(b *testing.B) {
					b.ReportAllocs()
					defer cpuTime(b)()
					for i := 0; i < b.N; i++ {
						r := Recover(d.b, Options{Mode: Yes, Peers: ps.peers})
						if r.Status != StatusRepaired {
							b.Fatalf("%s", r.Status)
						}
					}
				})
			}
		}
	}
}

// BenchmarkBurstSearch is the burst search alone over a v2 header whose
// burst it finds (the plan built once, outside the loop).
func BenchmarkBurstSearch(b *testing.B) {
	orig := original(2, 50)
	s, _ := schema.Lookup(2)
	h := bytes.Clone(orig[:s.HeaderSize])
	copy(h[schema.OffRegistryHash+2:], "\x5a\xc3\x11\x90\x7e\x01")
	regs := func() map[uint32]bool {
		return map[uint32]bool{schema.DecodeConfig(orig[schema.OffConfigVersion:]).RegistryHash: true}
	}
	if _, ok := searchBurst(s, h, true, regs); !ok {
		b.Fatal("not found")
	}
	b.ReportAllocs()
	defer cpuTime(b)()
	for i := 0; i < b.N; i++ {
		searchBurst(s, h, true, regs)
	}
}
