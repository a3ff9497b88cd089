// Command genfleet writes a fleet of generated lockfiles for
// scripts/bench-migrate.sh: N files named bun.lockb in nested directories
// (DIR/team<i%16>/svc<i>/bun.lockb), config versions 0 and 1 in turn (so
// that every file has something to migrate to 2), 5 to 120 packages each,
// deterministic for a seed. -version and -packages fix the version and
// the package count of every file (scripts/bench-validate.sh writes one
// large file so).
//
//	genfleet -n 10000 -seed 1 DIR
//	genfleet -n 1 -version 2 -packages 100000 DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lockfix/lockfix/internal/lockgen"
	_ "github.com/lockfix/lockfix/schema/all"
)

func main() {
	n := flag.Int("n", 10000, "number of lockfiles")
	seed := flag.Uint64("seed", 1, "generator seed")
	versions := flag.Int("versions", 2, "use config versions 0 .. versions-1")
	version := flag.Int("version", -1, "write every file at this config version")
	packages := flag.Int("packages", 0, "packages in every file (0: 5 to 120)")
	flag.Parse()
	if flag.NArg() != 1 || *n < 0 || *versions < 1 || *versions > 3 || *version > 2 || *packages < 0 {
		fmt.Fprintln(os.Stderr, "usage: genfleet [-n N] [-seed S] [-versions 1-3 | -version 0-2] [-packages P] DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	var bytes int
	for i := range *n {
		p := filepath.Join(dir, fmt.Sprintf("team%02d", i%16), fmt.Sprintf("svc%05d", i), "bun.lockb")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "genfleet:", err)
			os.Exit(1)
		}
		o := lockgen.Options{Version: i % *versions, Packages: 5 + (i*37)%116, Seed: *seed*1_000_003 + uint64(i)}
		if *version >= 0 {
			o.Version = *version
		}
		if *packages > 0 {
			o.Packages = *packages
		}
		b := lockgen.Bytes(o)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "genfleet:", err)
			os.Exit(1)
		}
		bytes += len(b)
	}
	fmt.Printf("genfleet: %d files, %d bytes, in %s\n", *n, bytes, dir)
}
