package render

import (
	"fmt"
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
	a := &schema.Lockfile{Config: sample().Config}
	for i := 1; i <= 20; i++ {
		a.Packages = append(a.Packages, schema.Package{Name: fmt.Sprintf("p%02d", i), Version: "1.0.0"})
	}
	b := a.Clone()
	b.Packages[1].Version = "2.0.0"
	b.Packages[17].Integrity = "sha1-" + strings.Repeat("A", 27) + "="
	d := Unified("a", "b", a, b)
	// Lines 1-8 are the header; package i is line 8+i.
	want := "--- a\n+++ b\n" +
		"@@ -7,7 +7,7 @@\n config.terminal.cols: 80\n packages: 20\n package p01@1.0.0\n" +
		"-package p02@1.0.0\n+package p02@2.0.0\n package p03@1.0.0\n package p04@1.0.0\n package p05@1.0.0\n" +
		"@@ -23,6 +23,6 @@\n package p15@1.0.0\n package p16@1.0.0\n package p17@1.0.0\n" +
		"-package p18@1.0.0\n+package p18@1.0.0 sha1-" + strings.Repeat("A", 27) + "=\n package p19@1.0.0\n package p20@1.0.0\n"
	if d != want {
		t.Errorf("hunks:\n%s\nwant:\n%s", d, want)
	}
}

func TestUnifiedText(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n"
	b := strings.Replace(strings.Replace(a, "2\n", "two\n", 1), "18\n", "eighteen\n", 1)
	d := UnifiedText("a", "b", a, b)
	if !strings.Contains(d, "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n") || !strings.Contains(d, "@@ -15,6 +15,6 @@\n") {
		t.Errorf("hunks:\n%s", d)
	}
	if d != goDiffUnified("a", "b", a, b) {
		t.Errorf("UnifiedText differs from go-diff's:\n%s", d)
	}
	if UnifiedText("a", "b", a, a) != "" {
		t.Error("equal texts differ")
	}
}

// TestUnifiedTextLong checks texts longer than go-diff is used for: the
// common first and last lines are context, the rest changed.
func TestUnifiedTextLong(t *testing.T) {
	var sa, sb strings.Builder
	for i := 0; i < maxGoDiffLines; i++ {
		fmt.Fprintf(&sa, "%d\n", i)
		if i == 10 {
			sb.WriteString("ten\n")
			continue
		}
		fmt.Fprintf(&sb, "%d\n", i)
	}
	d := UnifiedText("a", "b", sa.String(), sb.String())
	if d != "--- a\n+++ b\n@@ -8,7 +8,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n" {
		t.Errorf("long diff:\n%.500s", d)
	}
}
