package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["snapshot"] = cmdSnapshot
}

// cmdSnapshot writes a listing of every entry under DIR (its path, type,
// mode, size and the SHA-256 of a regular file's bytes) to OUT, so that two
// snapshots compared with cmp prove that nothing was written, created or
// removed in between:
//
//	snapshot DIR OUT
//
// OUT, and any file whose name starts with "snapshot", is left out of the
// listing.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! snapshot")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: snapshot DIR OUT")
	}
	root, out := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == out || strings.HasPrefix(filepath.Base(p), "snapshot") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum, size := "", int64(0)
		if info.Mode().IsRegular() {
			size = info.Size()
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(data))
		}
		fmt.Fprintf(&b, "%s %s %d %s\n", rel, info.Mode(), size, sum)
		return nil
	})
	ts.Check(err)
	ts.Check(os.WriteFile(out, []byte(b.String()), 0o644))
}
