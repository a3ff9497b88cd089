package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// vectorDir returns the conformance vectors: the shared copy when it is
// there, else the copy kept in testdata.
func vectorDir(t testing.TB) string {
	for _, d := range []string{"../../shared/vectors", "../testdata/vectors"} {
		if _, err := os.Stat(filepath.Join(d, "v0.lockb")); err == nil {
			return d
		}
	}
	t.Fatal("no conformance vectors found")
	return ""
}

func TestVectors(t *testing.T) {
	dir := vectorDir(t)
	for _, v := range []string{"v0", "v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, v+".lockb"))
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, err := os.ReadFile(filepath.Join(dir, v+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if errs := schema.Check(raw); len(errs) > 0 {
				t.Fatalf("Check: %v", errs)
			}
			l, err := schema.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			// The vectors' JSON has the shape of CLI.md; the content
			// carries the writer as well, the vectors' "spec-vector 1".
			content := schema.ToContent(l)
			if v == "v2" && content.Config.Writer != "spec-vector 1" {
				t.Errorf("writer %q, want the vector's %q", content.Config.Writer, "spec-vector 1")
			}
			content.Config.Writer = ""
			got, err := json.MarshalIndent(content, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(wantJSON)) {
				t.Errorf("decoded JSON differs:\n got %s\nwant %s", got, wantJSON)
			}
			var c schema.Content
			if err := json.Unmarshal(wantJSON, &c); err != nil {
				t.Fatal(err)
			}
			l2, err := schema.FromContent(&c)
			if err != nil {
				t.Fatalf("FromContent: %v", err)
			}
			l2.Writer = l.Writer
			enc, err := schema.Encode(l2)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(enc, raw) {
				t.Errorf("encoding the JSON differs from %s.lockb", v)
			}
		})
	}
}
