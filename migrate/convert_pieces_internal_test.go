package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// inPieces converts b to version to, leaving the encoding to
// ReplaceInPieces, and replaces the file at path (holding b) with it.
func inPieces(t *testing.T, path string, to int, opts schema.StepOptions, e func(*Conversion) Expect) error {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := convertArriving(b, nil, to, opts, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != nil {
		t.Fatal("convertArriving without encode encoded")
	}
	h, err := atomicfile.Open(path, atomicfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	return c.ReplaceInPieces(h, e(c))
}

func content(c *Conversion) Expect { return Content(c.After) }

// noTemps fails when dir holds a temp file.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if atomicfile.IsTemp(n.Name()) {
			t.Errorf("temp file %s left behind", n.Name())
		}
	}
}

// TestReplaceInPiecesBytes: the file written in pieces is byte for byte
// the whole encoding of Convert, for every step up and down (a lossy one
// too), with no packages, one, and counts around the piece size; the
// mode is kept.
func TestReplaceInPiecesBytes(t *testing.T) {
	steps := []struct {
		from, to int
		flags    schema.Flags
		lossy    bool
	}{
		{0, 2, 0, false}, {1, 2, 0, false}, {0, 1, 0, false}, {1, 0, 0, false},
		{2, 1, 0, false}, {2, 0, 0, false},
		{2, 1, schema.FlagDebug | schema.FlagOffline, true},
	}
	for _, st := range steps {
		for _, n := range []int{0, 1, pieceRecords - 1, pieceRecords, pieceRecords + 1, 3*pieceRecords + 5} {
			dir := t.TempDir()
			path := filepath.Join(dir, "bun.lockb")
			orig := lockgen.Bytes(lockgen.Options{Version: st.from, Packages: n, Seed: uint64(n), Flags: st.flags, Writer: "gen 1"})
			if err := os.WriteFile(path, orig, 0o640); err != nil {
				t.Fatal(err)
			}
			opts := schema.StepOptions{AllowLossy: st.lossy, Writer: "lockfix test"}
			whole, err := Convert(orig, st.to, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := inPieces(t, path, st.to, opts, content); err != nil {
				t.Fatalf("v%d -> v%d, %d packages: %v", st.from, st.to, n, err)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, whole.Data) {
				t.Fatalf("v%d -> v%d, %d packages: %d bytes in pieces, not the %d of the whole encoding", st.from, st.to, n, len(got), len(whole.Data))
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", fi.Mode())
			}
			noTemps(t, dir)
		}
	}
}

// TestReplaceInPiecesRefuses: when the content meant is not what is
// encoded (another package, config, writer, count or version), the
// check in pieces refuses with the error Verify gives for the whole new
// bytes, and the file is left as it was.
func TestReplaceInPiecesRefuses(t *testing.T) {
	orig := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 3*pieceRecords + 7, Seed: 3})
	whole, err := Convert(orig, 2, schema.StepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := func(edit func(l *schema.Lockfile)) func(*Conversion) Expect {
		return func(c *Conversion) Expect {
			l := c.After.Clone()
			edit(l)
			return Content(l)
		}
	}
	writer := "someone"
	cases := map[string]func(*Conversion) Expect{
		"a package":     other(func(l *schema.Lockfile) { l.Packages[pieceRecords+3].Version = "9.9.9" }),
		"the last":      other(func(l *schema.Lockfile) { l.Packages[len(l.Packages)-1].Integrity = "" }),
		"fewer":         other(func(l *schema.Lockfile) { l.Packages = l.Packages[:len(l.Packages)-1] }),
		"the config":    other(func(l *schema.Lockfile) { l.Config.Rows++ }),
		"the version":   func(c *Conversion) Expect { e := Content(c.After); e.Version = 1; return e },
		"the writer":    func(c *Conversion) Expect { e := Content(c.After); e.Writer = &writer; return e },
		"any, no check": func(c *Conversion) Expect { return Expect{Version: 2} },
	}
	for name, expect := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "bun.lockb")
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		c, _ := convertArriving(orig, nil, 2, schema.StepOptions{}, false)
		want := Verify(expect(c))(whole.Data)
		err := inPieces(t, path, 2, schema.StepOptions{}, expect)
		if name == "any, no check" {
			if err != nil || want != nil {
				t.Errorf("%s: %v (whole: %v)", name, err, want)
			}
			continue
		}
		if want == nil {
			t.Fatalf("%s: Verify passes the whole bytes", name)
		}
		if !errors.Is(err, atomicfile.ErrVerify) || !errors.Is(err, ErrMismatch) || !strings.HasSuffix(err.Error(), want.Error()) {
			t.Errorf("%s: %v, want ErrVerify with Verify's %v", name, err, want)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
			t.Errorf("%s: the file changed", name)
		}
		noTemps(t, dir)
	}
}

// TestPieceCheckProblems: the check in pieces finds what Verify finds in
// the same bytes, damaged: a record's checksum, its strings, the order
// across a piece's boundary, the header's count, array size and CRC-64;
// for framed records (v2) and plain ones (v1).
func TestPieceCheckProblems(t *testing.T) {
	for _, to := range []int{2, 1} {
		from := 3 - to
		orig := lockgen.Bytes(lockgen.Options{Version: from, Packages: 2*pieceRecords + 9, Seed: 5})
		c, err := convertArriving(orig, nil, to, schema.StepOptions{}, false)
		if err != nil {
			t.Fatal(err)
		}
		pieces := func(l *schema.Lockfile) (*schema.Encoding, [][]byte) {
			enc, err := c.target.EncodePieces(l, c.eo, true, pieceRecords)
			if err != nil {
				t.Fatal(err)
			}
			var ps [][]byte
			for k := range enc.Pieces() {
				p, _, _ := enc.Piece(nil, k)
				ps = append(ps, p)
			}
			return enc, ps
		}
		enc, ps := pieces(c.After)
		s := enc.Schema()
		damage := map[string]func(p [][]byte){
			// The first record of piece 2 gets a space in its name.
			"a name byte": func(p [][]byte) { p[2][2] = ' ' },
		}
		if to == 2 {
			damage["a body byte"] = func(p [][]byte) { p[1][100] ^= 0x20 }
			damage["a name byte"] = func(p [][]byte) {
				// With its CRC-32C made right: only the string rule breaks.
				size := int(schema.Uint(p[2][2:6]))
				body := p[2][6 : 6+size]
				body[2] = ' '
				schema.PutUint(p[2][6+size:10+size], uint64(schema.CRC32C(body)))
			}
		}
		for name, d := range damage {
			dps := make([][]byte, len(ps))
			for k := range ps {
				dps[k] = slices.Clone(ps[k])
			}
			d(dps)
			comparePieces(t, fmt.Sprintf("v%d: %s", to, name), c.After, enc, dps, nil)
		}
		// The last package of the first piece swapped with the first of
		// the next, encoded as they are (trusted: not sorted again).
		swapped := c.After.Clone()
		swapped.Packages[pieceRecords-1], swapped.Packages[pieceRecords] = swapped.Packages[pieceRecords], swapped.Packages[pieceRecords-1]
		senc, sps := pieces(swapped)
		comparePieces(t, fmt.Sprintf("v%d: order across pieces", to), swapped, senc, sps, nil)
		// The header's own fields.
		edits := map[string]func(h []byte){
			"count": func(h []byte) { f := s.FieldOf(schema.KindCount); schema.PutUint(h[f.Offset:f.End()], 1) },
		}
		if to == 2 {
			edits["array size"] = func(h []byte) { f := s.FieldOf(schema.KindArraySize); schema.PutUint(h[f.Offset:f.End()], 5) }
			edits["array CRC"] = func(h []byte) { f := s.FieldOf(schema.KindArrayChecksum); h[f.Offset] ^= 1 }
		}
		for name, edit := range edits {
			comparePieces(t, fmt.Sprintf("v%d: %s", to, name), c.After, enc, ps, edit)
		}
	}
}

// comparePieces checks that the check in pieces of ps (the pieces of
// enc, maybe damaged) and header (edited by edit) against the content l
// fails as Verify fails on the whole bytes.
func comparePieces(t *testing.T, name string, l *schema.Lockfile, enc *schema.Encoding, ps [][]byte, edit func(h []byte)) {
	t.Helper()
	s := enc.Schema()
	var sum uint64
	size := 0
	for _, p := range ps {
		sum = schema.CRC64Update(sum, p)
		size += len(p)
	}
	header := enc.Header(size, sum)
	if edit != nil {
		edit(header)
		hc := s.FieldOf(schema.KindHeaderChecksum)
		schema.PutUint(header[hc.Offset:hc.End()], schema.HeaderCRC(header, hc.Offset))
	}
	whole := slices.Concat(append([][]byte{header}, ps...)...)
	e := Content(l)
	want := Verify(e)(whole)
	v, err := VerifyPieces(e, s, enc.Count())
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range ps {
		_, first, n := enc.Piece(nil, k)
		errs, last := v.Piece(p, first, n)
		v.Add(p, n, last, errs)
	}
	got := v.End(header)
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Errorf("%s:\n in pieces %v\n whole     %v", name, got, want)
	}
}

// TestReplaceInPiecesFullDisk: a write that fails part way (a full disk)
// leaves the original and no temp file.
func TestReplaceInPiecesFullDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bun.lockb")
	orig := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 4 * pieceRecords, Seed: 9})
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := convertArriving(orig, nil, 2, schema.StepOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	fsys := &shortFS{left: len(orig) / 2}
	h, err := atomicfile.Open(path, atomicfile.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = c.ReplaceInPieces(h, Content(c.After))
	if err == nil || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("err = %v, want a full disk", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Error("the file changed")
	}
	noTemps(t, dir)
}

// shortFS is the operating system with a disk that fills up after left
// bytes written to temp files.
type shortFS struct {
	atomicfile.OSFS
	left int
}

func (f *shortFS) OpenFile(name string, flag int, perm fs.FileMode) (atomicfile.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !atomicfile.IsTemp(filepath.Base(name)) {
		return file, err
	}
	return &shortFile{File: file, fs: f}, nil
}

type shortFile struct {
	atomicfile.File
	fs *shortFS
}

func (f *shortFile) Write(p []byte) (int, error) {
	if len(p) > f.fs.left {
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: errNoSpace}
	}
	f.fs.left -= len(p)
	return f.File.Write(p)
}

var errNoSpace = errors.New("no space left on device")

// BenchmarkReplaceLarge is the write of scripts/bench-migrate-one.sh in
// process, for one v1 file of 100,000 packages (17 MB) converted to v2:
// the new content encoded whole, checked by Verify and replaced
// (atomicfile.Replace), against the same in pieces (ReplaceInPieces).
// The read and the decode are not timed. Put TMPDIR on a tmpfs to leave the disk out.
//
//	TMPDIR=/dev/shm go test -run XXX -bench ReplaceLarge -count 6 ./migrate/ | benchstat -col /write -
func BenchmarkReplaceLarge(b *testing.B) {
	orig := lockgen.Bytes(lockgen.Options{Version: 1, Packages: 100_000, Seed: 7})
	for _, mode := range []string{"whole", "pieces"} {
		b.Run("write="+mode, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bun.lockb")
			b.SetBytes(int64(len(orig)))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if err := os.WriteFile(path, orig, 0o644); err != nil {
					b.Fatal(err)
				}
				c, err := convertArriving(orig, nil, 2, schema.StepOptions{}, false)
				if err != nil {
					b.Fatal(err)
				}
				h, err := atomicfile.Open(path, atomicfile.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if mode == "whole" {
					data, err := c.target.EncodeTrusted(c.After, c.eo)
					if err == nil {
						err = h.Replace(data, Verify(Content(c.After)))
					}
					if err != nil {
						b.Fatal(err)
					}
				} else if err := c.ReplaceInPieces(h, Content(c.After)); err != nil {
					b.Fatal(err)
				}
				h.Close()
			}
		})
	}
}
