package migrate_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockfix/lockfix/migrate"
	"github.com/lockfix/lockfix/schema"
)

// killChildEnv makes the test binary a child that migrates the files
// listed in it (one per line) with the sync mode in killSyncEnv, as
// TestRunKilled's victim.
const (
	killChildEnv = "MIGRATE_TEST_KILL_CHILD"
	killSyncEnv  = "MIGRATE_TEST_KILL_SYNC"
)

func TestMain(m *testing.M) {
	if list := os.Getenv(killChildEnv); list != "" {
		b, err := os.ReadFile(list)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		files := strings.Fields(string(b))
		fmt.Println("ready")
		migrate.Run(context.Background(), files, migrate.Options{To: 2, Jobs: 3, Sync: migrate.SyncMode(os.Getenv(killSyncEnv)), BatchSize: 16})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunKilled kills runs over a fleet, in batches and file by file,
// with SIGKILL at random moments, 20 times each. After each kill every
// lockfile holds its old bytes or its new content, complete and valid,
// whatever the spares (the originals reused as temp files) were doing;
// and the run that finishes the job leaves no temp file.
func TestRunKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills 40 runs")
	}
	for _, mode := range []migrate.SyncMode{migrate.SyncBatch, migrate.SyncFile} {
		t.Run(string(mode), func(t *testing.T) { runKilled(t, mode) })
	}
}

func runKilled(t *testing.T, mode migrate.SyncMode) {
	files, _ := fleet(t, 600, 0)
	orig := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		orig[f] = b
	}
	list := filepath.Join(t.TempDir(), "files")
	if err := os.WriteFile(list, []byte(strings.Join(files, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(when string) (migrated int) {
		t.Helper()
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, f, err)
			}
			if bytes.Equal(b, orig[f]) {
				continue
			}
			if errs := schema.Check(b); errs != nil {
				t.Fatalf("%s: %s holds neither its old bytes nor a valid file: %v", when, f, errs)
			}
			now, _ := schema.Decode(b)
			want, _ := schema.Decode(orig[f])
			want.Config.Version = 2
			if err := migrate.SameContent(want, now); err != nil {
				t.Fatalf("%s: %s: %v", when, f, err)
			}
			migrated++
		}
		return migrated
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		cmd := exec.Command(exe, "-test.run", "^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+list, killSyncEnv+"="+string(mode))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q", line)
		}
		time.Sleep(time.Duration(r.IntN(60_000)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
		t.Logf("kill %d: %d files had been migrated", i+1, check(fmt.Sprintf("after kill %d", i+1)))
		// Every file back, so that the next kill lands in a run again.
		for _, f := range files {
			if err := os.WriteFile(f, orig[f], 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	sum := migrate.Run(context.Background(), files, migrate.Options{To: 2, Jobs: 3, Sync: mode, BatchSize: 16})
	if sum.Failed != 0 || sum.Refused != 0 || sum.NotRun != 0 {
		t.Fatalf("the final run: %+v", sum)
	}
	check("after the final run")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if l, err := schema.Decode(b); err != nil || l.Config.Version != 2 {
			t.Fatalf("%s: not at version 2 after the final run", f)
		}
	}
	noTemp(t, files)
}
