package lint

import (
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// FileResult is what linting one file found.
type FileResult struct {
	Path string
	// Version is the file's config version, -1 when the header names none.
	Version  int
	Packages int
	// Size is the file's size in bytes.
	Size     int
	Findings []Finding
}

// SARIF returns a SARIF 2.1.0 log of the results, for code scanning: one
// run of the tool named tool at version, one reporting descriptor per
// check with its help text, and one result per finding whose location is
// the file with a region of the record's (or header field's) byteOffset
// and byteLength, as a binary file has no lines. ok says whether every
// file could be read; an unread file is not a clean one.
func SARIF(results []FileResult, tool, version string, ok bool) *sarif.Report {
	rep := sarif.NewReport()
	run := sarif.NewRun()
	run.Tool = sarif.NewTool().WithDriver(sarif.NewToolComponent().WithName(tool).WithVersion(version).
		WithSemanticVersion(version))
	for _, r := range Rules {
		help := r.Help
		if r.Flag != "" {
			help += " (" + r.Flag + ")"
		}
		run.AddRule(r.ID).WithName(r.Name).WithDescription(r.Summary).
			WithFullDescription(sarif.NewMultiformatMessageString().WithText(r.Help)).
			WithHelp(sarif.NewMultiformatMessageString().WithText(help)).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel("error"))
	}
	for _, fr := range results {
		uri := artifactURI(fr.Path)
		index := len(run.Artifacts)
		art := run.AddDistinctArtifact(uri)
		if art.Location.Index < 0 { // a new one
			art.Location.Index = index
			if fr.Size > 0 {
				art.Length = fr.Size
			}
		}
		for _, f := range fr.Findings {
			msg := f.Message
			if f.Package != "" {
				msg = f.Package + ": " + msg
			}
			if f.Value != "" {
				msg += fmt.Sprintf(" (found %s, expected %s)", f.Value, f.Expected)
			}
			region := sarif.NewRegion().WithByteOffset(f.Offset).WithByteLength(f.Length)
			loc := sarif.NewLocationWithPhysicalLocation(sarif.NewPhysicalLocation().
				WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri).WithIndex(art.Location.Index)).WithRegion(region))
			props := sarif.NewPropertyBag()
			props.Add("record", f.Record)
			props.Add("field", f.Field)
			if f.Package != "" {
				props.Add("package", f.Package)
			}
			run.CreateResultForRule(f.Rule).WithLevel("error").WithMessage(sarif.NewTextMessage(msg)).
				AddLocation(loc).WithProperties(props).
				WithPartialFingerprints(map[string]string{"lockfixFinding/v1": f.Rule + ":" + f.Package + ":" + f.Field})
		}
	}
	run.AddInvocation(sarif.NewInvocation().WithExecutionSuccessful(ok))
	rep.AddRun(run)
	return rep
}

// artifactURI is a path as a URI reference: relative paths stay
// relative (code scanning resolves them against the checkout), absolute
// ones become file URIs.
func artifactURI(path string) string {
	if path == "-" {
		return "stdin"
	}
	p := filepath.ToSlash(path)
	if filepath.IsAbs(path) {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}
