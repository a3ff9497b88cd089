package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockload"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// DefaultName is the file name a directory walk looks for.
const DefaultName = "bun.lockb"

// expandPaths turns the command line's paths into files: a file stays as
// it is, a directory is walked for files whose base name matches glob.
// The walk never follows a symlinked directory and skips lockfix's temp
// files. The result keeps the order of the arguments, each directory's
// files sorted.
func expandPaths(paths []string, glob string) ([]string, error) {
	if glob == "" {
		glob = DefaultName
	}
	if _, err := filepath.Match(glob, ""); err != nil {
		return nil, usage("--name %q is not a valid glob: %v", glob, err)
	}
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == p {
					return err
				}
				found = append(found, path) // reported when read
				return nil
			}
			if d.IsDir() {
				// Kubernetes' atomic writer keeps each version of a
				// ConfigMap in a "..2026_11_25_..." directory behind the
				// "..data" link; the files the volume shows are the links
				// beside them.
				if path != p && strings.HasPrefix(d.Name(), "..") {
					return filepath.SkipDir
				}
				return nil
			}
			if atomicfile.IsTemp(d.Name()) {
				return nil
			}
			if ok, _ := filepath.Match(glob, d.Name()); ok && d.Type()&fs.ModeSymlink == 0 || ok && isRegularLink(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// isRegularLink reports whether path is a symlink to a regular file (a
// ConfigMap-style link is followed; a link to a directory is not).
func isRegularLink(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// readFile reads a lockfile for a read-only command: regular files only,
// at most atomicfile.MaxSize bytes, "-" for stdin. The read is traced
// (atomicfile traces files itself).
func readFile(path string) ([]byte, error) {
	if path != "-" {
		h, err := atomicfile.Open(path, atomicfile.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		return h.Data(), nil
	}
	span := trace.Start("file.read")
	b, err := io.ReadAll(io.LimitReader(Stdin, atomicfile.MaxSize+1))
	if err == nil && len(b) > atomicfile.MaxSize {
		err = fmt.Errorf("stdin: %w: the limit is %d bytes", atomicfile.ErrTooLarge, atomicfile.MaxSize)
	}
	span.End(fmt.Sprintf("stdin %dB", len(b)))
	return b, err
}

// sniffHeader decodes the magic and configVersion of b and finds its
// schema, traced as header.decode.
func sniffHeader(b []byte) (*schema.Schema, error) { return lockload.Sniff(b) }

// ioCode is the exit code for an error reading or writing a file: always
// 8 (operational), a missing file included, as fsck treats one.
func ioCode(error) int {
	return ExitOperational
}
