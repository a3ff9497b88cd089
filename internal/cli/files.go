package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockload"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/schema"
)

// DefaultName is the file name a directory walk looks for.
const DefaultName = "bun.lockb"

// The problems a directory walk reports (CLI.md: a check that examined
// nothing does not report clean). Each is wrapped with the path it is
// about; reading that path returns it (walkProblem), so that every
// command reports it where it reports a file it could not read, as an
// operational error (exit 8).
var (
	// errNoLockfile is returned for a path under which the walk found
	// no file of the name looked for.
	errNoLockfile = errors.New("no lockfile found")
	// errDanglingLink is returned for a lockfile symlink whose target
	// does not exist.
	errDanglingLink = errors.New("dangling symlink")
	// errOutsideRoot is returned for a lockfile symlink whose target
	// lies outside the directory walked; it is not followed unless
	// --follow-outside is given.
	errOutsideRoot = errors.New("symlink leads outside the directory walked")
)

// walkState holds what a run's walks found wrong, by the path they put
// in the file list, and whether links out of the root are followed
// (--follow-outside).
type walkState struct {
	sync.Mutex
	problems      map[string]error
	followOutside bool
}

// walkProblem returns the problem a walk of this run found at path, or nil.
// Files given on the command line have none: a link given as FILE is
// followed wherever it leads.
func (e *env) walkProblem(path string) error {
	e.walk.Lock()
	defer e.walk.Unlock()
	return e.walk.problems[path]
}

// followOutsideFlag returns --follow-outside, which every command that
// walks directories (every command with --name) has; a flag is made anew
// for each app, as urfave/cli writes into it while it parses.
func followOutsideFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "follow-outside",
		Usage: "follow a lockfile symlink found in a directory walk whose target lies outside that directory (by default it is reported, not followed, exit 8)"}
}

// expandPaths turns the command line's paths into files: a file stays as
// it is, a directory is walked for files whose base name matches glob.
// The result keeps the order of the arguments, each directory's files
// sorted. What the walk finds wrong (walkPaths) stays in the list, at the
// path it is about, and reading that path returns the problem: a command
// reports it as a file it could not read and ends with exit 8.
func (e *env) expandPaths(paths []string, glob string) ([]string, error) {
	files, problems, err := e.walkPaths(paths, glob, true)
	if err != nil {
		return nil, err
	}
	e.walk.Lock()
	defer e.walk.Unlock()
	for p, pe := range problems {
		if e.walk.problems == nil {
			e.walk.problems = map[string]error{}
		}
		e.walk.problems[p] = pe
	}
	return files, nil
}

// walkPaths does the walk of expandPaths and returns the problems it found
// by path, each of which is also in the file list. The walk follows a
// path given that is a symlink to a directory, never a symlinked directory
// under it, skips lockfix's temp files and Kubernetes' "..*" directories,
// and reports:
//
//   - a directory under which no file matches glob (errNoLockfile, at the
//     directory's path), when empty is true;
//   - a matching symlink whose target does not exist (errDanglingLink);
//   - a matching symlink to a file outside the directory given
//     (errOutsideRoot), unless --follow-outside.
func (e *env) walkPaths(paths []string, glob string, empty bool) ([]string, map[string]error, error) {
	if glob == "" {
		glob = DefaultName
	}
	if _, err := filepath.Match(glob, ""); err != nil {
		return nil, nil, usage("--name %q is not a valid glob: %v", glob, err)
	}
	e.walk.Lock()
	follow := e.walk.followOutside
	e.walk.Unlock()
	problems := map[string]error{}
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p)
			continue
		}
		root, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, nil, fmt.Errorf("walk %s: %w", p, err)
		}
		var (
			mu    sync.Mutex
			found []string
		)
		err = walkTree(p, func(path string, d fs.DirEntry, err error) {
			if err != nil {
				mu.Lock()
				found = append(found, path) // reported when read
				mu.Unlock()
				return
			}
			if atomicfile.IsTemp(d.Name()) {
				return
			}
			if ok, _ := filepath.Match(glob, d.Name()); !ok {
				return
			}
			var prob error
			if d.Type()&fs.ModeSymlink != 0 {
				var skip bool
				if prob, skip = checkLink(path, p, root, follow); skip {
					return
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if prob != nil {
				problems[path] = prob
			}
			found = append(found, path)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("walk %s: %w", p, err)
		}
		if len(found) == 0 && empty {
			problems[p] = fmt.Errorf("%s: %w: no file named %s under it (--name GLOB looks for another name)", p, errNoLockfile, glob)
			found = append(found, p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, problems, nil
}

// walkReaders is how many directories a walk reads at once. On a cold
// cache each read waits for the disk, which serves several in flight
// together; on a warm one they share the processors.
const walkReaders = 8

// walkTree calls visit for every entry under dir that is not a directory,
// and, with the error, for every directory below dir that could not be
// read (after the entries that were read of it). visit runs on several
// goroutines at once, in no order. dir itself is read through a symlink;
// the directories under it are entered only as what they are, never
// through a link, and those whose name begins with ".." (Kubernetes'
// atomic writer keeps each version of a ConfigMap in a
// "..2026_11_25_..." directory behind the "..data" link; the files the
// volume shows are the links beside them) are skipped. It returns the
// error of reading dir.
func walkTree(dir string, visit func(path string, d fs.DirEntry, err error)) error {
	// read reads one directory, visits its entries and returns the
	// directories under it.
	read := func(dir string) ([]string, error) {
		f, err := atomicfile.OpenDir(dir)
		if err != nil {
			return nil, err
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		var subs []string
		for _, d := range entries {
			path := filepath.Join(dir, d.Name())
			switch {
			case !d.IsDir():
				visit(path, d, nil)
			case !strings.HasPrefix(d.Name(), ".."):
				subs = append(subs, path)
			}
		}
		return subs, err
	}
	queue, err := read(dir)
	if err != nil {
		return err
	}
	var (
		mu      sync.Mutex
		more    = sync.NewCond(&mu)
		reading int // directories taken from the queue and not yet read
		wg      sync.WaitGroup
	)
	for range min(walkReaders, len(queue)) {
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			for {
				for len(queue) == 0 && reading > 0 {
					more.Wait()
				}
				if len(queue) == 0 {
					return // nothing queued and nothing being read: done
				}
				d := queue[len(queue)-1] // the deepest first: the queue stays short
				queue = queue[:len(queue)-1]
				reading++
				mu.Unlock()
				subs, err := read(d)
				if err != nil {
					visit(d, nil, err)
				}
				mu.Lock()
				reading--
				queue = append(queue, subs...)
				if len(subs) > 0 || reading == 0 {
					more.Broadcast()
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// checkLink examines a lockfile symlink met in the walk of dir (whose real
// path is root): it returns the link's problem, or skip for a link to a
// directory (directory links are never followed). A ConfigMap-style link
// to a file inside root is fine; one to a file that is not regular is
// refused when read.
func checkLink(path, dir, root string, follow bool) (problem error, skip bool) {
	dest, _ := os.Readlink(path)
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w to %s: there is no file to read", path, errDanglingLink, dest), false
		}
		return fmt.Errorf("%s: symlink to %s: %w", path, dest, err), false
	}
	if st, err := os.Stat(target); err == nil && st.IsDir() {
		return nil, true
	}
	if rel, err := filepath.Rel(root, target); !follow && (err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator))) {
		return fmt.Errorf("%s: %w %s (it points to %s): not followed (--follow-outside follows it)", path, errOutsideRoot, dir, target), false
	}
	return nil, false
}

// openFile is atomicfile.Open for a path that may come from a walk: a
// path the walk found wrong returns its problem and is not opened.
func (e *env) openFile(path string, opts atomicfile.Options) (*atomicfile.Handle, error) {
	if err := e.walkProblem(path); err != nil {
		return nil, err
	}
	return atomicfile.Open(path, opts)
}

// readFile reads a lockfile for a read-only command: regular files only,
// at most atomicfile.MaxSize bytes, "-" for stdin. The read is traced
// (atomicfile traces files itself).
func (e *env) readFile(path string) ([]byte, error) {
	if path != "-" {
		h, err := e.openFile(path, atomicfile.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		return h.Data(), nil
	}
	span := trace.Start("file.read")
	b, err := io.ReadAll(io.LimitReader(e.stdin, atomicfile.MaxSize+1))
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
