package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/lockfix/lockfix/internal/atomicfile"
	"github.com/lockfix/lockfix/internal/render"
	"github.com/lockfix/lockfix/internal/trace"
	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/recovery"
	"github.com/lockfix/lockfix/schema"
)

func recoverCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "recover",
		Usage:     "find and repair damage in lockfiles",
		ArgsUsage: "FILE|DIR...",
		Description: `recover reads whatever bytes are there, classifies the damage and rebuilds
the lockfile from what survives. It never invents data: what it cannot
prove is either refused or, with --yes, reported as guessed with its source.

Modes (as fsck has them):
   --dry-run   report and show the diff; write nothing (exit 4 when damaged)
   (default)   apply only repairs that lose no package and guess no value;
               otherwise print the plan and exit 4 with the flag that applies it
   --yes       also drop damaged packages and fill fields that cannot be
               derived, each reported as dropped or guessed

What is repaired, and how:
   - bit flips in a v1/v2 header: the single- or double-bit correction that
     makes the header CRC-64 match and leaves a valid header, when unique;
   - fields out of range or zeroed (terminal mode, registry hash, flags,
     rows, cols): their bits are solved from the stored CRC-64 when the
     answer is unique and valid;
   - fixed fields (magic, reserved, padding, headerSize) are restored; a
     wiped header is recognised from its array ("PK" frames: v2; plain
     records at 0x40: v0 or v1);
   - packageCount, packagesSize and the checksums are recomputed; the
     registry hash is derived from the most common registry of the packages;
   - a burst of damage at an unknown position (up to 16 bytes) in a header
     whose CRC-64 survived: every window is solved from the CRC-64 and the
     only valid header any window gives is applied;
   - with peers (--reference FILE|DIR, repeatable): their field values
     are tried against the stored CRC-64, and a value it confirms is
     applied; records lost in the file are taken from the copies among
     them (proven in v2 by the header's array CRC-64; otherwise "from N
     of M copies", with --yes); several damaged copies repair each other
     (--reference DIR DIR), by a byte-wise majority of three or more;
   - v2 records with a single flipped bit are corrected from their CRC-32C;
     damaged records are skipped (resynchronising on the next good record)
     and a torn tail is cut: every package lost is named where its name
     survived.

What is guessed (only with --yes, each reported with its source): fields
that neither the checksum nor the packages determine (terminal mode, rows,
cols, flags, the registry when the packages do not tell it, the writer),
taken from the peers (the value most of them give, named in the report),
then --registry URL, then the defaults (cooked, 24x80, no flags).

The original bytes are kept in a backup next to the file before it is
replaced (FILE.lockfix-backup-TIME-RANDOM; --no-backup to skip); the new
file is verified, written atomically and only if nobody changed the file
meanwhile. --output FILE writes the repair elsewhere and leaves the input
alone; it does not replace a FILE that exists unless --force. A second run over a repaired file finds nothing (exit 0).

Exit: 0 nothing wrong, 1 all repaired, 4 problems remain (refused, dry
run, unrepairable), 8 I/O; they add up across files.

Examples:
   lockfix recover --dry-run bun.lockb
   lockfix recover bun.lockb
   lockfix recover --yes --reference healthy/bun.lockb /srv/fleet
   lockfix recover --reference gathered/ --name '*.lockb' gathered/
   lockfix recover --yes --registry https://registry.example.org/ bun.lockb
   lockfix recover --output repaired.lockb damaged.lockb
   lockfix recover --json --dry-run /srv/fleet | jq '.files[] | select(.status != "clean")'`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "report and show the diff, write nothing"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "also drop damaged packages and fill fields that cannot be derived"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the repair to `FILE`, leave the input untouched (one input only)"},
			&ucli.BoolFlag{Name: "force", Usage: "let --output replace a file that exists, and replace a lockfile that has more than one hard link (as --break-links)"},
			&ucli.BoolFlag{Name: "break-links", Usage: "replace a lockfile that has more than one hard link (its other names keep the old content)"},
			&ucli.BoolFlag{Name: "no-backup", Usage: "do not keep the original bytes in a backup file before replacing"},
			&ucli.StringSliceFlag{Name: "reference", Usage: "a peer lockfile `FILE`, or a DIR of them, from the same fleet (repeatable): hypotheses for damaged fields, copies of lost records"},
			&ucli.StringFlag{Name: "registry", Usage: "registry `URL` for the registry hash when the packages do not tell it"},
			&ucli.DurationFlag{Name: "wait", Usage: "wait up to `D` for another lockfix's lock (0: fail at once)"},
			&ucli.StringFlag{Name: "name", Value: DefaultName, Usage: "file name `GLOB` to look for in directories"},
		},
		Action: runRecover,
	}
}

// recoverResult is one file's entry in the JSON report.
type recoverResult struct {
	Path string `json:"path"`
	*recovery.Report
	// Backup is the backup file written, Written the file replaced or
	// created.
	Backup  string `json:"backup,omitempty"`
	Written string `json:"written,omitempty"`
	DryRun  bool   `json:"dryRun,omitempty"`
	Diff    string `json:"diff,omitempty"`
	Error   string `json:"error,omitempty"`
	// Problems are what a strict check still finds in a file left
	// damaged (refused, unrepairable or a dry run), as validate --json
	// reports them.
	Problems []*schema.CorruptionError `json:"problems,omitempty"`
}

type recoverRun struct {
	e      *env
	opts   recovery.Options
	dryRun bool
	output string
	force  bool
	links  bool // replace a lockfile with several hard links
	backup bool
	wait   time.Duration
	asJSON bool
	quiet  bool
	peers  []peerFile
}

// peerFile is a peer lockfile given with --reference.
type peerFile struct {
	path string
	info os.FileInfo
	peer *recovery.Peer
}

// loadPeers reads every --reference FILE and every lockfile under a
// --reference DIR, once.
func (e *env) loadPeers(refs []string, glob string) ([]peerFile, error) {
	paths, err := e.expandPaths(refs, glob)
	if err != nil {
		return nil, err
	}
	var out []peerFile
	for _, p := range paths {
		data, err := e.readFile(p)
		if err != nil {
			return nil, exit(ExitOperational, "recover: --reference: %v", err)
		}
		info, _ := os.Stat(p)
		peer := recovery.NewPeer(p, data)
		if !peer.Lockfile() {
			return nil, usage("recover: --reference %s is not a valid lockfile, nor a damaged one; give a peer from the fleet", p)
		}
		out = append(out, peerFile{path: p, info: info, peer: peer})
	}
	if len(out) == 0 {
		return nil, usage("recover: --reference %v holds no lockfile", refs)
	}
	return out, nil
}

// peersFor returns the peers of the file at path: every peer but the
// file itself.
func (run *recoverRun) peersFor(path string) []*recovery.Peer {
	st, _ := os.Stat(path)
	var out []*recovery.Peer
	for _, p := range run.peers {
		if filepath.Clean(p.path) == filepath.Clean(path) || st != nil && p.info != nil && os.SameFile(st, p.info) {
			continue
		}
		out = append(out, p.peer)
	}
	return out
}

func runRecover(c *ucli.Context) error {
	if c.NArg() == 0 {
		return usage("recover: no FILE given (usage: lockfix recover [--dry-run] [--yes] FILE|DIR...)")
	}
	files, err := envOf(c).expandPaths(c.Args().Slice(), c.String("name"))
	if err != nil {
		return err
	}
	run := &recoverRun{
		e:      envOf(c),
		dryRun: c.Bool("dry-run"),
		output: c.String("output"),
		force:  c.Bool("force"),
		links:  c.Bool("break-links") || c.Bool("force"),
		backup: !c.Bool("no-backup"),
		wait:   c.Duration("wait"),
		asJSON: global(c, "json"),
		quiet:  global(c, "quiet"),
		opts:   recovery.Options{Writer: writerName},
	}
	if c.Bool("yes") {
		run.opts.Mode = recovery.Yes
	}
	if run.output != "" && len(files) != 1 {
		return usage("recover: --output takes one input file, %d were given", len(files))
	}
	if u := c.String("registry"); u != "" {
		if _, _, err := schema.RegistryHash(u); err != nil {
			return usage("recover: --registry: %v", err)
		}
		run.opts.Registry = u
	}
	if refs := c.StringSlice("reference"); len(refs) > 0 {
		peers, err := run.e.loadPeers(refs, c.String("name"))
		if err != nil {
			return err
		}
		run.peers = peers
	}
	code := 0
	var results []recoverResult
	counts := map[string]int{}
	for _, path := range files {
		res, fileCode := run.file(path)
		code |= fileCode
		st := string(res.statusOr("error"))
		counts[st]++
		if run.asJSON {
			results = append(results, res)
			continue
		}
		run.print(res)
	}
	if run.asJSON {
		if results == nil {
			results = []recoverResult{}
		}
		if err := printJSON(stdout(c), map[string]any{"files": results, "counts": counts, "exit": code}); err != nil {
			return err
		}
	} else if len(files) > 1 && !run.quiet {
		repairable := ""
		if n := counts["repairable"]; n > 0 {
			repairable = fmt.Sprintf(", %d repairable", n)
		}
		fmt.Fprintf(stdout(c), "%d files: %d clean, %d repaired%s, %d refused, %d unrepairable, %d errors\n", len(files),
			counts["clean"], counts["repaired"], repairable, counts["refused"], counts["unrepairable"], counts["error"])
	}
	return exitCode(code)
}

func (r *recoverResult) statusOr(s string) recovery.Status {
	if r.Report == nil || r.Error != "" {
		return recovery.Status(s)
	}
	return r.Status
}

func (run *recoverRun) print(res recoverResult) {
	if res.Report == nil {
		fmt.Fprintf(run.e.stdout, "%s: error: %s\n", displayPath(res.Path), res.Error)
		return
	}
	if run.quiet && res.Status == recovery.StatusClean {
		return
	}
	res.WriteText(run.e.stdout, displayPath(res.Path), res.DryRun)
	if res.Backup != "" {
		fmt.Fprintf(run.e.stdout, "  backup: %s\n", res.Backup)
	}
	if res.Written != "" {
		fmt.Fprintf(run.e.stdout, "  written: %s\n", res.Written)
	}
	if res.Error != "" {
		fmt.Fprintf(run.e.stdout, "  error: %s\n", res.Error)
	}
	if res.Diff != "" {
		fmt.Fprint(run.e.stdout, indent(res.Diff))
	}
}

func indent(s string) string {
	out := make([]byte, 0, len(s)+len(s)/8)
	start := true
	for i := 0; i < len(s); i++ {
		if start {
			out = append(out, "    "...)
		}
		out = append(out, s[i])
		start = s[i] == '\n'
	}
	return string(out)
}

// file recovers one file and returns its result and exit code.
func (run *recoverRun) file(path string) (recoverResult, int) {
	res := recoverResult{Path: path, DryRun: run.dryRun}
	inPlace := !run.dryRun && run.output == ""
	var h *atomicfile.Handle
	var data []byte
	var err error
	if inPlace {
		h, err = run.e.openFile(path, atomicfile.Options{Wait: run.wait, Links: run.links})
		if err == nil {
			defer h.Close()
			data = h.Data()
		}
	} else {
		data, err = run.e.readFile(path)
	}
	if err != nil {
		res.Error = err.Error()
		return res, ioCode(err)
	}
	opts := run.opts
	opts.Peers = run.peersFor(path)
	rep := recovery.Recover(data, opts)
	for _, d := range rep.Damage {
		d.Path = path
	}
	trace.Line("recover.analyze", rep.Duration, fmt.Sprintf("schema/v%d %s", rep.Version, rep.Status))
	res.Report = rep
	if run.asJSON && rep.Status != recovery.StatusClean && (run.dryRun || rep.Status != recovery.StatusRepaired) {
		res.Problems = schema.AsProblems(schema.Check(data), path)
	}
	switch rep.Status {
	case recovery.StatusClean:
		return res, ExitOK
	case recovery.StatusUnrepairable:
		return res, ExitProblems
	case recovery.StatusRefused:
		res.Diff = diffOf(path, rep, rep.Plan)
		return res, ExitProblems
	}
	out := rep.Output
	// The one verify of every write: a valid file of the version repaired.
	verify := migrate.Verify(migrate.Expect{Version: rep.Version})
	// "repaired" only once the new bytes are written.
	rep.Status = recovery.StatusRepairable
	if run.dryRun {
		res.Diff = diffOf(path, rep, out)
		if err := verify(out); err != nil {
			res.Error = err.Error()
		}
		return res, ExitProblems
	}
	if run.output != "" {
		if err := sameFile(path, run.output); err != nil {
			res.Error = err.Error()
			return res, ExitUsage
		}
		perm := os.FileMode(0o644)
		if st, err := os.Stat(path); err == nil {
			perm = st.Mode().Perm()
		}
		if _, err := os.Lstat(run.output); err == nil && !run.force {
			res.Error = fmt.Sprintf("--output %s exists; nothing written (--force replaces it)", run.output)
			return res, ExitProblems
		}
		_, err := writeOutput(run.output, out, perm, verify, run.wait)
		if err != nil {
			res.Error = err.Error()
			return res, ioCode(err)
		}
		res.Written = run.output
		rep.Status = recovery.StatusRepaired
		return res, ExitRepaired
	}
	if run.backup {
		name, err := writeBackup(h)
		if err != nil {
			res.Error = "backup: " + err.Error() + " (nothing replaced; --no-backup skips the backup)"
			return res, ExitOperational
		}
		res.Backup = name
	}
	span := trace.Start("file.replace")
	err = h.Replace(out, verify)
	span.End(path)
	if err != nil {
		res.Error = err.Error()
		if res.Backup != "" && !errors.Is(err, atomicfile.ErrNotDurable) {
			// The original is in place: the backup would only pile up.
			if atomicfile.RemoveBackup(res.Backup) == nil {
				res.Backup = ""
			}
		}
		if errors.Is(err, atomicfile.ErrVerify) {
			return res, ExitProblems
		}
		return res, ExitOperational
	}
	res.Written = path
	rep.Status = recovery.StatusRepaired
	return res, ExitRepaired
}

// diffOf is the unified diff of the file as found (leniently read) and the
// repair.
func diffOf(path string, rep *recovery.Report, out []byte) string {
	after, err := schema.Decode(out)
	before := rep.Found()
	if err != nil || before == nil {
		return ""
	}
	return render.Unified(path+" (as found)", path+" (repaired)", before, after)
}

// sameFile refuses an --output that is the input itself.
func sameFile(in, out string) error {
	a, err1 := os.Stat(in)
	b, err2 := os.Stat(out)
	if err1 == nil && err2 == nil && os.SameFile(a, b) {
		return fmt.Errorf("--output %s is the input; leave out --output to repair in place (with a backup)", out)
	}
	return nil
}

func randomSuffix() (string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(rnd[:]), nil
}

// writeBackup keeps the original bytes next to the lockfile, in a file
// with an unpredictable name, written as every file is (atomicfile
// Backup: temp file, the lockfile's owner and mode, fsync, rename, directory
// fsync) before the lockfile is replaced.
func writeBackup(h *atomicfile.Handle) (string, error) {
	sfx, err := randomSuffix()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s.lockfix-backup-%s-%s", h.Target(), time.Now().UTC().Format("20060102T150405"), sfx)
	if err := h.Backup(name); err != nil {
		return "", err
	}
	return name, nil
}
