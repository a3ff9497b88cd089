package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lockfix/lockfix/internal/lockgen"
	"github.com/lockfix/lockfix/schema"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// lockfixBin builds cmd/lockfix once for the tests of this package and
// returns the binary's path: the image's ENTRYPOINT.
func lockfixBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "lockfix-ops-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "lockfix")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/lockfix").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// node is a pod's volumes on this machine: each volume name is a local
// directory.
type node map[string]string

// containerCommand returns the argv and environment of container c as
// the kubelet would run them on n: the volume mounts' paths in the args
// are replaced by n's directories, each env var is its value or its
// ConfigMap key from cms, and $(VAR) in the args is expanded as
// Kubernetes does.
func containerCommand(t *testing.T, c corev1.Container, n node, cms map[string]*corev1.ConfigMap) (args, env []string) {
	t.Helper()
	if len(c.Command) > 0 {
		t.Fatalf("container %s overrides the image's ENTRYPOINT: %q", c.Name, c.Command)
	}
	vars := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := cms[ref.Name]
			if !ok {
				t.Fatalf("container %s: env %s: no ConfigMap %s", c.Name, e.Name, ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Fatalf("container %s: env %s: ConfigMap %s has no key %s", c.Name, e.Name, ref.Name, ref.Key)
			}
			vars[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			vars[e.Name] = "field-" + strings.ToLower(e.Name)
		default:
			t.Fatalf("container %s: env %s: a source this test does not know", c.Name, e.Name)
		}
		env = append(env, e.Name+"="+vars[e.Name])
	}
	expand := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, a := range c.Args {
		a = expand.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vars[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
		for _, m := range c.VolumeMounts {
			dir, ok := n[m.Name]
			if !ok {
				t.Fatalf("container %s mounts volume %s, which the test node lacks", c.Name, m.Name)
			}
			if a == m.MountPath || strings.HasPrefix(a, m.MountPath+"/") {
				a = dir + strings.TrimPrefix(a, m.MountPath)
			}
		}
		args = append(args, a)
	}
	return args, env
}

// runContainer runs a container that exits, and returns its exit code and
// output.
func runContainer(t *testing.T, c corev1.Container, n node, cms map[string]*corev1.ConfigMap) (int, string) {
	t.Helper()
	args, env := containerCommand(t, c, n, cms)
	cmd := exec.Command(lockfixBin(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatal(err)
	}
	return 0, string(out)
}

// testNode is a node of the DaemonSet: a hostPath directory with the
// given lockfiles (name -> bytes), an empty report directory and the
// reference ConfigMap's files.
func testNode(t *testing.T, o *objects, files map[string][]byte) (node, string) {
	t.Helper()
	ds := o.daemonSets["lockfix"]
	n := node{}
	var host string
	for _, v := range ds.Spec.Template.Spec.Volumes {
		dir := filepath.Join(t.TempDir(), v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		n[v.Name] = dir
		switch {
		case v.HostPath != nil:
			host = dir
			for name, b := range files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case v.ConfigMap != nil:
			for name, b := range o.configMaps[v.ConfigMap.Name].BinaryData {
				os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
		}
	}
	return n, host
}

// reportLine is what the tests read of a migrate report line.
type reportLine struct {
	Path, Status, Reason string
	From                 *int
	To                   int
}

// readReport reads the init container's report on n.
func readReport(t *testing.T, o *objects, n node) map[string]reportLine {
	t.Helper()
	mig := o.daemonSets["lockfix"].Spec.Template.Spec.InitContainers[0]
	args, _ := containerCommand(t, mig, n, o.configMaps)
	path := flagValue(args, "--report")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the report: %v", err)
	}
	out := map[string]reportLine{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l reportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out[l.Path] = l
	}
	return out
}

func lockfileAt(t *testing.T, v int, seed uint64) []byte {
	t.Helper()
	return lockgen.Bytes(lockgen.Options{Version: v, Packages: 4, Seed: seed})
}

// TestInitStepInvalidLockfile runs the DaemonSet's init container, as the
// manifest writes it, on a node whose lockfiles include an invalid one: it
// must exit 0 (the pod goes on to Running), migrate the good file, leave
// the bad one alone and say so in the report, which the serve container,
// also run as written, exports.
func TestInitStepInvalidLockfile(t *testing.T) {
	o := manifests(t)
	bad := lockfileAt(t, 1, 2)
	bad[0x12] ^= 0x40 // the header checksum no longer holds
	n, host := testNode(t, o, map[string][]byte{"good/bun.lockb": lockfileAt(t, 1, 1), "bad/bun.lockb": bad})
	pod := o.daemonSets["lockfix"].Spec.Template.Spec

	code, out := runContainer(t, pod.InitContainers[0], n, o.configMaps)
	if code != 0 {
		t.Fatalf("the init container exited %d: the pod would never start\n%s", code, out)
	}
	target := o.configMaps["lockfix-fleet"].Data["target"]
	rep := readReport(t, o, n)
	good, badPath := filepath.Join(host, "good", "bun.lockb"), filepath.Join(host, "bad", "bun.lockb")
	if l := rep[good]; l.Status != "migrated" || fmt.Sprint(l.To) != target {
		t.Errorf("good file: %+v, want migrated to %s", l, target)
	}
	if l := rep[badPath]; l.Status != "refused" || l.Reason != "invalid" {
		t.Errorf("bad file: %+v, want refused (invalid)\n%s", l, out)
	}
	if b, _ := os.ReadFile(badPath); !bytes.Equal(b, bad) {
		t.Error("the invalid file was changed")
	}
	if b, _ := os.ReadFile(good); b[4] != target[0]-'0' {
		t.Errorf("the good file is at version %d, want %s", b[4], target)
	}

	// serve, as the manifest runs it, answers and shows the refusal.
	srv := pod.Containers[0]
	for i, a := range srv.Args {
		if a == "--listen" {
			srv.Args = append([]string{}, srv.Args...)
			srv.Args[i+1] = "127.0.0.1:0" // loopback, any free port
		}
	}
	base := startServe(t, srv, n, o.configMaps)
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	_, body := httpGet(t, base+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`lockfix_migrate_last_status{path=%q,reason="invalid",status="refused"} 1`, badPath),
		fmt.Sprintf(`lockfix_migrate_last_status{path=%q,reason="",status="migrated"} 1`, good),
		fmt.Sprintf(`lockfix_config_valid{path=%q} 0`, badPath),
		"lockfix_migrate_report_ok 1",
		fmt.Sprintf(`lockfix_config_matches_reference{path=%q}`, good),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestInitStepRollback: a fleet rolled back to version 1 with the
// ConfigMap's target set to 1 is left as it is by the next pod start.
func TestInitStepRollback(t *testing.T) {
	o := manifests(t)
	fleet := map[string][]byte{}
	for i := range 5 {
		fleet[fmt.Sprintf("svc%d/bun.lockb", i)] = lockfileAt(t, 1, uint64(10+i))
	}
	n, host := testNode(t, o, fleet)
	cm := o.configMaps["lockfix-fleet"].DeepCopy()
	cm.Data["target"] = "1" // kubectl patch configmap lockfix-fleet ... {"data":{"target":"1"}}
	cms := map[string]*corev1.ConfigMap{"lockfix-fleet": cm, "lockfix-reference": o.configMaps["lockfix-reference"]}

	code, out := runContainer(t, o.daemonSets["lockfix"].Spec.Template.Spec.InitContainers[0], n, cms)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for name, want := range fleet {
		if b, _ := os.ReadFile(filepath.Join(host, name)); !bytes.Equal(b, want) {
			t.Errorf("%s was changed", name)
		}
	}
	rep := readReport(t, o, n)
	if len(rep) != len(fleet) {
		t.Errorf("the report has %d files, want %d", len(rep), len(fleet))
	}
	for p, l := range rep {
		if l.Status != "skipped" || l.To != 1 {
			t.Errorf("%s: %+v, want skipped at 1", p, l)
		}
	}
	// The same start with the manifest's own target does migrate: the
	// test above is not passing for want of a target.
	if o.configMaps["lockfix-fleet"].Data["target"] == "1" {
		t.Fatal("the manifest's target is 1")
	}
	runContainer(t, o.daemonSets["lockfix"].Spec.Template.Spec.InitContainers[0], n, o.configMaps)
	if b, _ := os.ReadFile(filepath.Join(host, "svc0", "bun.lockb")); schema.Uint(b[4:5]) == 1 {
		t.Error("the manifest's target did not migrate the fleet")
	}
}

// startServe runs a serve container until the test ends and returns its
// base URL, read from its log line.
func startServe(t *testing.T, c corev1.Container, n node, cms map[string]*corev1.ConfigMap) string {
	t.Helper()
	args, env := containerCommand(t, c, n, cms)
	return startLockfix(t, "", env, args...)
}

var metricsURL = regexp.MustCompile(`metrics on (http://[^ ]+)/metrics`)

// startLockfix starts 'lockfix ARGS' (a serve) in directory dir (""
// for this one) with environment env (nil for this process's), waits
// until it has read its files a first time, stops it with SIGTERM when
// the test ends, and returns the base URL it prints.
func startLockfix(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(lockfixBin(t), args...)
	cmd.Dir, cmd.Env = dir, env
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var log safeBuffer
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		pw.Close()
		close(exited)
	}()
	found := make(chan string, 1)
	go func() {
		base := ""
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := metricsURL.FindStringSubmatch(sc.Text()); m != nil {
				base = m[1]
			}
			if strings.HasPrefix(sc.Text(), "lockfix serve: read ") && base != "" {
				select {
				case found <- base:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("lockfix %s:\n%s", strings.Join(args, " "), log.String())
		}
	})
	select {
	case u := <-found:
		return u
	case <-exited:
		t.Fatalf("lockfix %s exited:\n%s", strings.Join(args, " "), log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("lockfix %s printed no address:\n%s", strings.Join(args, " "), log.String())
	}
	return ""
}

// safeBuffer is a bytes.Buffer for one writer and one reader.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMigrateJobRun runs the Job's container as written over a shared
// volume: it migrates what it can, exits 4 for the invalid file (the Job
// fails and is not retried) and keeps its report on the reports claim,
// named after the Job.
func TestMigrateJobRun(t *testing.T) {
	o := manifests(t)
	job := o.jobs["lockfix-migrate-"]
	c := job.Spec.Template.Spec.Containers[0]
	n := node{}
	for _, v := range job.Spec.Template.Spec.Volumes {
		n[v.Name] = filepath.Join(t.TempDir(), v.Name)
		os.MkdirAll(n[v.Name], 0o755)
	}
	var fleet string
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "lockfix-fleet" {
			fleet = n[v.Name]
		}
	}
	bad := lockfileAt(t, 0, 3)
	bad[0x20] = 1 // padding must be zero
	for name, b := range map[string][]byte{"a/bun.lockb": lockfileAt(t, 0, 1), "b/bun.lockb": lockfileAt(t, 1, 2), "c/bun.lockb": bad} {
		os.MkdirAll(filepath.Join(fleet, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(fleet, name), b, 0o644)
	}
	code, out := runContainer(t, c, n, o.configMaps)
	if code != 4 {
		t.Fatalf("exit %d, want 4 (one file refused)\n%s", code, out)
	}
	args, _ := containerCommand(t, c, n, o.configMaps)
	report := flagValue(args, "--report")
	if !strings.HasSuffix(report, "/field-job_name.jsonl") {
		t.Fatalf("--report %s is not named after the Job", report)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 3 || !bytes.Contains(b, []byte(`"status":"refused","reason":"invalid"`)) ||
		bytes.Count(b, []byte(`"status":"migrated"`)) != 2 {
		t.Errorf("report:\n%s", b)
	}
}
