package schema_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestLibraryPackagesImportNoVersion lists the imports of every package of
// the module (go list) and fails when a library package imports a version
// package: only schema/vN themselves, schema/all and programs (package
// main) may, so that every other package works from the registry's
// descriptions.
func TestLibraryPackagesImportNoVersion(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "./...")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	version := regexp.MustCompile(`^github\.com/lockfix/lockfix/schema/(v[0-9]+|all)$`)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n++
		pkg, name := f[0], f[1]
		if name == "main" || version.MatchString(pkg) {
			continue
		}
		for _, imp := range f[2:] {
			if version.MatchString(imp) {
				t.Errorf("%s imports %s: only schema/vN, schema/all and programs may", pkg, imp)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list listed %d packages: the check examined too little", n)
	}
}
