package cli

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/lockfix/lockfix/schema"
)

// toProblem returns err as the problem type every --json prints
// (schema.CorruptionError, its path kept); an error that is no format
// problem is named "IOError".
func toProblem(err error) *schema.CorruptionError { return schema.AsProblem(err, "") }

func toProblems(errs []error) []*schema.CorruptionError { return schema.AsProblems(errs, "") }

// withoutPath returns a problem without its path, for a report that has
// already named the file.
func withoutPath(err error) string { return schema.AsProblem(err, "").Problem() }

// printJSON writes v as indented JSON on stdout. "<", ">" and "&" are
// written as they are (bun ranges such as "< 1.3.5", URLs with queries),
// not as \u003c escapes.
func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// maxShown is how many problems of one file a human report lists.
const maxShown = 20
