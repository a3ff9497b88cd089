package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lockfix/lockfix/internal/render"
)

// FuzzTextconv feeds textconv any bytes: it never panics, and the same
// bytes give the same text (git diffs the output of two runs).
func FuzzTextconv(f *testing.F) {
	for _, v := range []string{"v0", "v1", "v2"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", v+".lockb"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("BUN1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		text := func() []byte {
			l, problems := textconvContent(b)
			var buf bytes.Buffer
			for _, p := range problems {
				buf.WriteString(p + "\n")
			}
			if l != nil {
				if err := render.WriteText(&buf, l); err != nil {
					t.Fatal(err)
				}
			}
			return buf.Bytes()
		}
		if a, b := text(), text(); !bytes.Equal(a, b) {
			t.Fatalf("two runs differ:\n%s\n%s", a, b)
		}
	})
}
