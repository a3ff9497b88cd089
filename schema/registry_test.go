package schema_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/lockfix/lockfix/schema"
)

// oldPackageRegistry is PackageRegistry as it was written first: build
// the suffix, cut it, normalize. The fast one must agree with it.
func oldPackageRegistry(name, version, resolved string) string {
	base := name
	if i := strings.IndexByte(name, '/'); name != "" && name[0] == '@' && i >= 0 {
		base = name[i+1:]
	}
	suffix := name + "/-/" + base + "-" + version + ".tgz"
	if !strings.HasSuffix(resolved, suffix) {
		return ""
	}
	reg := resolved[:len(resolved)-len(suffix)]
	norm, err := schema.NormalizeRegistry(reg)
	if err != nil || !strings.HasSuffix(reg, "/") {
		return ""
	}
	return norm
}

var registryCases = []schema.Package{
	{Name: "a", Version: "1.0.0", Resolved: "https://registry.example.org/a/-/a-1.0.0.tgz"},
	{Name: "a", Version: "1.0.1", Resolved: "https://REGISTRY.example.org:443/a/-/a-1.0.1.tgz"},
	{Name: "@s/b", Version: "2.0.0", Resolved: "https://registry.example.org/@s/b/-/b-2.0.0.tgz"},
	{Name: "@s/b", Version: "2.0.1", Resolved: "https://registry.example.org/@s/b/-/@s/b-2.0.1.tgz"},
	{Name: "c", Version: "1.0.0", Resolved: "http://mirror.example.net/npm/c/-/c-1.0.0.tgz"},
	{Name: "c", Version: "1.0.1", Resolved: "http://mirror.example.net/npmc/-/c-1.0.1.tgz"},
	{Name: "d", Version: "1.0.0", Resolved: "https://registry.example.org/d/-/d-1.0.1.tgz"},
	{Name: "d", Version: "1.0.2", Resolved: "d/-/d-1.0.2.tgz"},
	{Name: "e", Version: "1.0.0", Resolved: ""},
	{Name: "e", Version: "1.0.1", Resolved: "https://user@registry.example.org/e/-/e-1.0.1.tgz"},
	{Name: "e", Version: "1.0.2", Resolved: "https://registry.example.org/e/-/e-1.0.2.tgz"},
	{Name: "f", Version: "1.0.0", Resolved: "https://registry.example.org/x/f/-/f-1.0.0.tgz"},
	{Name: "g", Version: "1.0.0", Resolved: "ftp://registry.example.org/g/-/g-1.0.0.tgz"},
	{Name: "h", Version: "1.0.0", Resolved: "https://registry.example.org/h/-/h-1.0.0.tar"},
}

func TestPackageRegistryAgreesWithSuffixCut(t *testing.T) {
	for _, p := range registryCases {
		if got, want := schema.PackageRegistry(p.Name, p.Version, p.Resolved), oldPackageRegistry(p.Name, p.Version, p.Resolved); got != want {
			t.Errorf("PackageRegistry(%q, %q, %q) = %q, want %q", p.Name, p.Version, p.Resolved, got, want)
		}
	}
}

// TestRegistriesCounts checks the tally against counting PackageRegistry
// one package at a time, also when the caller reuses the bytes of the
// strings it added, and when the packages are tallied in parts and the
// tallies merged.
func TestRegistriesCounts(t *testing.T) {
	var pkgs []schema.Package
	for i := 0; i < 50; i++ {
		pkgs = append(pkgs, registryCases[i%len(registryCases)], registryCases[(i*7)%len(registryCases)])
	}
	counts := map[string]int{}
	for _, p := range pkgs {
		if r := oldPackageRegistry(p.Name, p.Version, p.Resolved); r != "" {
			counts[r]++
		}
	}
	got := schema.Registries(pkgs)
	if len(got) != len(counts) {
		t.Fatalf("Registries = %v, want the counts %v", got, counts)
	}
	for i, r := range got {
		if r.Count != counts[r.URL] || r.Hash != schema.HashString(r.URL) {
			t.Errorf("Registries[%d] = %+v, want count %d", i, r, counts[r.URL])
		}
		if i > 0 && (got[i-1].Count < r.Count || got[i-1].Count == r.Count && got[i-1].URL > r.URL) {
			t.Errorf("Registries not sorted: %v", got)
		}
	}
	// The same through one buffer that is overwritten after each Add.
	var tally schema.RegistryTally
	buf := make([]byte, 0, 256)
	for _, p := range pkgs {
		buf = append(buf[:0], p.Resolved...)
		tally.Add(p.Name, p.Version, unsafe.String(unsafe.SliceData(buf), len(buf)))
	}
	if again := tally.Registries(); !reflect.DeepEqual(again, got) {
		t.Errorf("tally = %v, want %v", again, got)
	}
	// The same in parts, one tally each, merged.
	for _, parts := range []int{2, 3, 7} {
		var all schema.RegistryTally
		for k := range parts {
			var part schema.RegistryTally
			for i := k * len(pkgs) / parts; i < (k+1)*len(pkgs)/parts; i++ {
				part.Add(pkgs[i].Name, pkgs[i].Version, pkgs[i].Resolved)
			}
			all.Merge(&part)
		}
		if merged := all.Registries(); !reflect.DeepEqual(merged, got) {
			t.Errorf("%d tallies merged = %v, want %v", parts, merged, got)
		}
	}
}

// BenchmarkRegistries counts the registries of 100,000 packages of one
// registry, as inspect does for a generated file.
func BenchmarkRegistries(b *testing.B) {
	pkgs := make([]schema.Package, 100000)
	for i := range pkgs {
		name := fmt.Sprintf("pkg-%06d", i)
		pkgs[i] = schema.Package{Name: name, Version: "1.2.3", Resolved: "https://registry.example.org/" + name + "/-/" + name + "-1.2.3.tgz"}
	}
	b.ResetTimer()
	for b.Loop() {
		if r := schema.Registries(pkgs); len(r) != 1 || r[0].Count != len(pkgs) {
			b.Fatal(r)
		}
	}
}
