package render

import (
	"strings"
	"testing"

	"github.com/lockfix/lockfix/schema"
)

func sample() *schema.Lockfile {
	return &schema.Lockfile{
		Config: schema.Config{Version: 1, RegistryHash: 0x52e06bbe, Flags: schema.FlagDebug, TerminalMode: schema.ModeCooked, Rows: 24, Cols: 80},
		Packages: []schema.Package{
			{Name: "a", Version: "1.0.0"},
			{Name: "b", Version: "1.0.0"},
			{Name: "c", Version: "1.0.0"},
		},
	}
}

func TestUnifiedEqual(t *testing.T) {
	if d := Unified("a", "b", sample(), sample()); d != "" {
		t.Fatalf("equal lockfiles diff:\n%s", d)
	}
}

func TestUnifiedAndCompare(t *testing.T) {
	a, b := sample(), sample()
	b.Config.Version = 2
	b.Packages = append(b.Packages[:1], schema.Package{Name: "c", Version: "2.0.0"}, schema.Package{Name: "d", Version: "1.0.0"})
	d := Unified("old", "new", a, b)
	for _, want := range []string{"--- old\n+++ new\n", "-config.version: 1\n+config.version: 2\n",
		"-package b@1.0.0\n", "-package c@1.0.0\n", "+package c@2.0.0\n", "+package d@1.0.0\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	ch := Compare(a, b)
	got := strings.Join(ch.Summary(), "\n")
	want := "config.version: 1 -> 2\n+ d@1.0.0\n- b@1.0.0\n~ c: c@1.0.0 -> c@2.0.0"
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}

func TestUnifiedHunks(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n"
	b := strings.Replace(strings.Replace(a, "2\n", "two\n", 1), "18\n", "eighteen\n", 1)
	d := UnifiedText("a", "b", a, b)
	if !strings.Contains(d, "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n") || !strings.Contains(d, "@@ -15,6 +15,6 @@\n") {
		t.Errorf("hunks:\n%s", d)
	}
}
