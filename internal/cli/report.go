package cli

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/lockfix/lockfix/schema"
)

// problemJSON is one problem in JSON output.
type problemJSON struct {
	Error   string `json:"error"`
	Offset  *int64 `json:"offset,omitempty"`
	Record  *int   `json:"record,omitempty"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

// toProblem converts a problem to its JSON form. Errors that are not
// format problems have the name "IOError".
func toProblem(err error) problemJSON {
	p := problemJSON{Error: schema.ErrorName(err), Message: err.Error()}
	if p.Error == "" {
		p.Error = "IOError"
	}
	var ce *schema.CorruptionError
	if errors.As(err, &ce) {
		off := ce.Offset
		p.Offset = &off
		if ce.Record >= 0 {
			r := ce.Record
			p.Record = &r
		}
		p.Field, p.Rule = ce.Field, ce.Rule
	}
	return p
}

func toProblems(errs []error) []problemJSON {
	out := make([]problemJSON, 0, len(errs))
	for _, e := range errs {
		out = append(out, toProblem(e))
	}
	return out
}

// printJSON writes v as indented JSON on stdout. "<", ">" and "&" are
// written as they are (bun ranges such as "< 1.3.5", URLs with queries),
// not as \u003c escapes.
func printJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := Stdout.Write(buf.Bytes())
	return err
}

// maxShown is how many problems of one file a human report lists.
const maxShown = 20
