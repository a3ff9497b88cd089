// Command migrate-floor is the floor that 'lockfix migrate' is measured
// against in scripts/bench-migrate.sh: the least a safe rewrite of every
// file costs. With N workers it reads each file and writes it back
// unchanged the safe way: a temp file in the same directory, fsync, rename
// over the original, fsync of the directory. It prints the files per
// second.
//
//	migrate-floor -jobs 8 DIR...
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	jobs := flag.Int("jobs", 8, "workers")
	name := flag.String("name", "bun.lockb", "file name to look for")
	flag.Parse()
	var files []string
	for _, root := range flag.Args() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && d.Name() == *name {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "migrate-floor:", err)
			os.Exit(1)
		}
	}
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *jobs; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if err := rewrite(files[i], w); err != nil {
					fmt.Fprintln(os.Stderr, "migrate-floor:", err)
					failed.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	d := time.Since(start)
	fmt.Printf("%d files in %s: %.0f files/s\n", len(files), d.Round(time.Millisecond), float64(len(files))/d.Seconds())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

// rewrite replaces path with its own bytes: temp file, fsync, rename,
// directory fsync.
func rewrite(path string, worker int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.floor-%d.tmp", filepath.Base(path), worker))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
