package lint

import "testing"

// FuzzNames checks that the fast path of the URL checks (names) never
// accepts what taking the path apart (layout) refuses (when it says no,
// the checks take the slow path), and that neither panics.
func FuzzNames(f *testing.F) {
	f.Add("lodash", "4.17.21", "https://registry.example.org/lodash/-/lodash-4.17.21.tgz")
	f.Add("@scope/util", "2.0.0", "https://registry.example.org/@scope/util/-/util-2.0.0.tgz")
	f.Add("util", "2.0.0", "https://registry.example.org/@evil/util/-/util-2.0.0.tgz")
	f.Add("a", "1.0.0", "https://h/npm/a/-/a-1.0.0.tgz?x#y")
	f.Add("@s/x", "1.0.0", "https://h/@s%2fx/-/x-1.0.0.tgz")
	f.Add("a", "1.0.0", "https://h/-/a-1.0.0.tgz")
	f.Fuzz(func(t *testing.T, name, version, resolved string) {
		if name == "" {
			return
		}
		u := splitURL(resolved)
		fast := u.names(name, version)
		l, ok := u.layout()
		slow := ok && l.nameMatches(name) && l.version(name) == version
		if fast && !slow {
			t.Fatalf("names(%q, %q) on %q is true, the layout (%+v, %v) says no", name, version, resolved, l, ok)
		}
	})
}
