package metrics

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// FuzzReadMigrateReport: any bytes in the report file are read without a
// panic, and every line it returns has a path and a status.
func FuzzReadMigrateReport(f *testing.F) {
	f.Add([]byte(`{"path":"/srv/app/bun.lockb","from":1,"to":2,"status":"migrated","duration":0.001,"error":"","dropped":[]}` + "\n"))
	f.Add([]byte(`{"path":"a","status":"refused","reason":"invalid"}` + "\n{\"path\":\"b\",\"sta"))
	f.Add([]byte("\n\n{}\n[]\nnull\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "report.jsonl")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		lines, _ := readMigrateReport(p)
		for _, l := range lines {
			if l.Path == "" || l.Status == "" {
				t.Fatalf("line %+v lacks a path or a status", l)
			}
		}
	})
}

// FuzzLabelValue: whatever a path holds, the series written for it parses
// back, with the same label value.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"/srv/app/bun.lockb", `a"b`, `a\b`, "a\nb", `\"\n\\`, "ünï", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !utf8.ValidString(path) {
			return // the text format carries UTF-8
		}
		var buf bytes.Buffer
		tw := &textWriter{w: bufio.NewWriter(&buf)}
		tw.series(famValid, "", 1, "path", path)
		tw.w.Flush()
		p := expfmt.NewTextParser(model.UTF8Validation)
		mf, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%q does not parse: %v\n%s", path, err, buf.Bytes())
		}
		got := mf[famValid.name].GetMetric()[0].GetLabel()[0].GetValue()
		if got != path {
			t.Fatalf("label value %q, want %q", got, path)
		}
	})
}
