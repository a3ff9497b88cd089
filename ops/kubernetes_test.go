package ops

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/lockfix/lockfix/internal/cli"
	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

// objects are the Kubernetes objects of kubernetes/, by kind and name.
type objects struct {
	configMaps map[string]*corev1.ConfigMap
	daemonSets map[string]*appsv1.DaemonSet
	jobs       map[string]*batchv1.Job
	claims     map[string]*corev1.PersistentVolumeClaim
}

// decodeStrict decodes one YAML document into the Kubernetes API type of
// its kind with sigs.k8s.io/yaml's UnmarshalStrict (the decoder kubectl's
// strict field validation uses): a field the type does not have, or a
// field given twice, is an error.
func decodeStrict(doc []byte, o *objects) (kind, name string, err error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", "", err
	}
	var obj interface{ GetName() string }
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		cm := &corev1.ConfigMap{}
		obj = cm
		defer func() { o.configMaps[cm.Name] = cm }()
	case "apps/v1 DaemonSet":
		ds := &appsv1.DaemonSet{}
		obj = ds
		defer func() { o.daemonSets[ds.Name] = ds }()
	case "batch/v1 Job":
		j := &batchv1.Job{}
		obj = j
		defer func() { o.jobs[j.GenerateName] = j }()
	case "v1 PersistentVolumeClaim":
		pvc := &corev1.PersistentVolumeClaim{}
		obj = pvc
		defer func() { o.claims[pvc.Name] = pvc }()
	default:
		return "", "", errors.New("apiVersion " + tm.APIVersion + " kind " + tm.Kind + ": not a kind these tests know")
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return tm.Kind, "", err
	}
	return tm.Kind, obj.GetName(), nil
}

// manifests decodes every YAML document of every file in kubernetes/,
// strictly.
func manifests(t *testing.T) *objects {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("kubernetes", "*.y*ml"))
	if len(files) == 0 {
		t.Fatal("no manifests in kubernetes/")
	}
	o := &objects{map[string]*corev1.ConfigMap{}, map[string]*appsv1.DaemonSet{}, map[string]*batchv1.Job{}, map[string]*corev1.PersistentVolumeClaim{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			kind, name, err := decodeStrict(doc, o)
			if err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, kind, err)
			}
			if name == "" && !(kind == "Job") {
				t.Errorf("%s document %d: metadata.name is required", f, i)
			}
		}
	}
	return o
}

// TestStrictDecoding checks that the decoder the manifests go through
// rejects what a loose YAML parse would accept.
func TestStrictDecoding(t *testing.T) {
	o := &objects{map[string]*corev1.ConfigMap{}, map[string]*appsv1.DaemonSet{}, map[string]*batchv1.Job{}, map[string]*corev1.PersistentVolumeClaim{}}
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      initContainer: []\n",
		"misplaced":     "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          limits: {memory: 1Gi}\n",
		"duplicate":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n",
		"unknown kind":  "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
	} {
		if _, _, err := decodeStrict([]byte(doc), o); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
	if _, _, err := decodeStrict([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {target: \"2\"}\n"), o); err != nil {
		t.Errorf("a good ConfigMap: %v", err)
	}
}

func TestKubernetesConfigMapLockfile(t *testing.T) {
	cm, ok := manifests(t).configMaps["lockfix-reference"]
	if !ok {
		t.Fatal("no ConfigMap lockfix-reference")
	}
	b, ok := cm.BinaryData["bun.lockb"] // base64 decoded by the API type
	if !ok {
		t.Fatal("the ConfigMap has no binaryData bun.lockb")
	}
	if errs := schema.Check(b); len(errs) > 0 {
		t.Fatalf("the ConfigMap's lockfile is invalid: %v", errs)
	}
	// And the command users run agrees.
	path := filepath.Join(t.TempDir(), "bun.lockb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	app := cli.New(cli.Commands(), cli.Streams{Stdin: os.Stdin, Stdout: &out, Stderr: &out})
	if code := cli.Run(app, []string{"lockfix", "validate", path}); code != 0 {
		t.Fatalf("lockfix validate: exit %d\n%s", code, out.String())
	}
}

// mountOf returns where c mounts the volume named name, "" if it does not.
func mountOf(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("container %s mounts %s with subPath, which never sees updates", c.Name, m.Name)
		}
		if m.Name == name {
			return m.MountPath
		}
	}
	return ""
}

// flagValue returns the value after flag in args, "" when it is absent.
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// targetEnv checks that c reads LOCKFIX_TARGET from the ConfigMap
// lockfix-fleet's one key and returns the key.
func targetEnv(t *testing.T, o *objects, c corev1.Container) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != cli.TargetEnv {
			continue
		}
		ref := e.ValueFrom
		if ref == nil || ref.ConfigMapKeyRef == nil || ref.ConfigMapKeyRef.Name != "lockfix-fleet" {
			t.Fatalf("container %s: %s must come from the ConfigMap lockfix-fleet, got %+v", c.Name, cli.TargetEnv, e)
		}
		if ref.ConfigMapKeyRef.Optional != nil && *ref.ConfigMapKeyRef.Optional {
			t.Errorf("container %s: the target key must not be optional (a missing key would be no target)", c.Name)
		}
		key := ref.ConfigMapKeyRef.Key
		cm, ok := o.configMaps["lockfix-fleet"]
		if !ok {
			t.Fatal("no ConfigMap lockfix-fleet")
		}
		if _, ok := cm.Data[key]; !ok || len(cm.Data) != 1 {
			t.Fatalf("ConfigMap lockfix-fleet: want exactly the key %q, got %v", key, cm.Data)
		}
		return key
	}
	t.Fatalf("container %s does not set %s", c.Name, cli.TargetEnv)
	return ""
}

func TestKubernetesDaemonSet(t *testing.T) {
	o := manifests(t)
	ds, ok := o.daemonSets["lockfix"]
	if !ok {
		t.Fatal("no DaemonSet lockfix")
	}
	pod := ds.Spec.Template.Spec
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
		if v.ConfigMap != nil {
			if _, ok := o.configMaps[v.ConfigMap.Name]; !ok {
				t.Errorf("volume %s names ConfigMap %s, which no manifest defines", v.Name, v.ConfigMap.Name)
			}
		}
	}
	volumeOf := func(is func(corev1.Volume) bool) string {
		for _, v := range pod.Volumes {
			if is(v) {
				return v.Name
			}
		}
		t.Fatal("a volume is missing")
		return ""
	}
	hostVol := volumeOf(func(v corev1.Volume) bool { return v.HostPath != nil })
	cmVol := volumeOf(func(v corev1.Volume) bool { return v.ConfigMap != nil && v.ConfigMap.Name == "lockfix-reference" })
	reportVol := volumeOf(func(v corev1.Volume) bool { return v.EmptyDir != nil })

	if len(pod.InitContainers) != 1 {
		t.Fatalf("want one init container, got %d", len(pod.InitContainers))
	}
	mig := pod.InitContainers[0]
	hostMount, reportMount := mountOf(t, mig, hostVol), mountOf(t, mig, reportVol)
	report := flagValue(mig.Args, "--report")
	if len(mig.Command) > 0 || len(mig.Args) == 0 || mig.Args[0] != "migrate" || hostMount == "" || !slices.Contains(mig.Args, hostMount) {
		t.Errorf("init container: args %q should be migrate over the hostPath mount %q", mig.Args, hostMount)
	}
	if slices.Contains(mig.Args, "--to") {
		t.Errorf("init container: args %q name a target: it must come from the ConfigMap, or a rollback is undone at the next start", mig.Args)
	}
	if !slices.Contains(mig.Args, "--exit-zero") || reportMount == "" || !strings.HasPrefix(report, reportMount+"/") {
		t.Errorf("init container: args %q should be --exit-zero with a --report in the emptyDir mount %q", mig.Args, reportMount)
	}
	targetEnv(t, o, mig)

	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	srv := pod.Containers[0]
	if srv.Image != mig.Image {
		t.Errorf("images differ: %s and %s", mig.Image, srv.Image)
	}
	if len(srv.Args) == 0 || srv.Args[0] != "serve" {
		t.Fatalf("container %s: args %q, want serve", srv.Name, srv.Args)
	}
	cmMount := mountOf(t, srv, cmVol)
	if cmMount == "" || mountOf(t, srv, hostVol) != hostMount || mountOf(t, srv, reportVol) != reportMount {
		t.Errorf("serve must mount the ConfigMap (at %q), the hostPath at %q and the report at %q", cmMount, hostMount, reportMount)
	}
	if ref := flagValue(srv.Args, "--reference"); ref != cmMount+"/bun.lockb" || !slices.Contains(srv.Args, hostMount) {
		t.Errorf("serve args %q should be --reference %s/bun.lockb over %s", srv.Args, cmMount, hostMount)
	}
	if got := flagValue(srv.Args, "--migrate-report"); got != report {
		t.Errorf("serve --migrate-report %q, the init container writes %q", got, report)
	}
	_, port, _ := strings.Cut(flagValue(srv.Args, "--listen"), ":")
	if len(srv.Ports) != 1 || port == "" || port != ds.Spec.Template.Annotations["prometheus.io/port"] {
		t.Errorf("--listen %q, ports %v and the prometheus.io/port annotation must agree", flagValue(srv.Args, "--listen"), srv.Ports)
	}
	if ds.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
		t.Error(`the pod template lacks the prometheus.io/scrape: "true" annotation`)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": srv.ReadinessProbe, "liveness": srv.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			t.Errorf("%s probe must GET /healthz", name)
		}
	}
	if sc := srv.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("serve must run as non-root")
	}
	for _, c := range []corev1.Container{mig, srv} {
		lim, req := c.Resources.Limits.Memory(), c.Resources.Requests.Memory()
		if lim.IsZero() || req.IsZero() || req.Cmp(*lim) > 0 {
			t.Errorf("container %s: memory request %v and limit %v", c.Name, req, lim)
		}
	}
}

func TestKubernetesMigrateJob(t *testing.T) {
	o := manifests(t)
	job, ok := o.jobs["lockfix-migrate-"]
	if !ok {
		t.Fatal("no Job with generateName lockfix-migrate-")
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("restartPolicy %q, %d containers: want Never and one", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	targetEnv(t, o, c)
	claims := map[string]string{}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	var fleet, reports string
	for vol, claim := range claims {
		switch claim {
		case "lockfix-fleet":
			fleet = mountOf(t, c, vol)
		case "lockfix-reports":
			reports = mountOf(t, c, vol)
			if _, ok := o.claims[claim]; !ok {
				t.Errorf("no PersistentVolumeClaim %s", claim)
			}
		}
	}
	report := flagValue(c.Args, "--report")
	if len(c.Args) == 0 || c.Args[0] != "migrate" || fleet == "" || !slices.Contains(c.Args, fleet) || slices.Contains(c.Args, "--to") {
		t.Errorf("args %q: want migrate over the shared volume %q, the target from the ConfigMap", c.Args, fleet)
	}
	if reports == "" || !strings.HasPrefix(report, reports+"/") || !strings.Contains(report, "$(JOB_NAME)") {
		t.Errorf("--report %q: want a file per Job on the reports claim (mounted at %q)", report, reports)
	}
	jobName := false
	for _, e := range c.Env {
		if e.Name == "JOB_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.labels['batch.kubernetes.io/job-name']" {
			jobName = true
		}
	}
	if !jobName {
		t.Error("JOB_NAME is not set from the Job's name label")
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		t.Error("backoffLimit must be 0: a refused file is refused again")
	}
	if lim := c.Resources.Limits.Memory(); lim.IsZero() {
		t.Error("the Job has no memory limit")
	}
}
