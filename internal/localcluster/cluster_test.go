package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// k8sVersion is the directory hack/setup-envtest.sh builds the binaries into.
const k8sVersion = "1.37.2"

var incidentGVR = schema.GroupVersionResource{Group: "klaxon.dev", Version: "v1alpha1", Resource: "incidents"}

// binaryDir finds kube-apiserver, etcd and kubectl: KUBEBUILDER_ASSETS, or where
// hack/setup-envtest.sh puts them. The tests fail without them rather than skip, so a
// green run always means the control plane was exercised.
func binaryDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join("..", "..", "bin", "k8s", k8sVersion))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			t.Fatalf("no %s in %s: run hack/setup-envtest.sh (or set KUBEBUILDER_ASSETS)", bin, dir)
		}
	}
	return dir
}

func crdDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// testOptions starts in a fresh directory on a free port, never on the default
// port, which a developer's `make run` may be using.
func testOptions(t *testing.T) Options {
	t.Helper()
	return Options{
		Dir:           t.TempDir(),
		BinaryDir:     binaryDir(t),
		CRDDirs:       []string{crdDir(t)},
		APIServerPort: stablePort(t),
	}
}

func stablePort(t *testing.T) int {
	t.Helper()
	port, err := testenv.StablePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	begin := time.Now()
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("control plane started in %s", time.Since(begin).Round(10*time.Millisecond))
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func newClient(t *testing.T, c *Cluster) client.Client {
	t.Helper()
	cl, err := client.New(c.Config(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestRestartKeepsDataAndKubeconfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := testOptions(t)

	c := startCluster(t, opts)
	if want := filepath.Join(opts.Dir, "kubeconfig"); c.KubeconfigPath() != want {
		t.Errorf("KubeconfigPath() = %q, want %q", c.KubeconfigPath(), want)
	}
	dyn, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(incidentGVR).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list incidents: the CRDs are not installed: %v", err)
	}

	cl := newClient(t, c)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor", Namespace: ns.Name},
		Data:       map[string]string{"incident": "INC-1"},
	}
	for _, obj := range []client.Object{ns, cm} {
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatalf("create %s: %v", obj.GetName(), err)
		}
	}
	kubeconfig, err := os.ReadFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done() not closed after Stop")
	}
	if err := checkPortFree(opts.APIServerPort); err != nil {
		t.Fatalf("after Stop: %v", err)
	}

	c = startCluster(t, opts)
	got := &corev1.ConfigMap{}
	if err := newClient(t, c).Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.Data["incident"] != "INC-1" {
		t.Errorf("after restart: data = %v, want incident=INC-1", got.Data)
	}

	// The kubeconfig written by the first start is still the one on disk and still
	// works, with client-go and with kubectl, which a developer points at it.
	again, err := os.ReadFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(kubeconfig) {
		t.Error("the kubeconfig changed across the restart")
	}
	fromFile, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		t.Fatalf("load %s: %v", c.KubeconfigPath(), err)
	}
	fileClient, err := client.New(fromFile, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fileClient.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err != nil {
		t.Errorf("client-go with %s: %v", c.KubeconfigPath(), err)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(opts.BinaryDir, "kubectl"),
		"--kubeconfig", c.KubeconfigPath(), "get", "configmap", "survivor", "-n", "tenant-a",
		"-o", "jsonpath={.data.incident}").CombinedOutput()
	if err != nil || string(out) != "INC-1" {
		t.Errorf("kubectl with %s: %q, %v", c.KubeconfigPath(), out, err)
	}
}

// TestOwnedObjectsAndNamespacesAreCollected: the controller manager's garbage collector
// deletes what a deleted object owned (as an Incident owns its IncidentDecisions), and
// its namespace controller finishes a namespace's deletion.
func TestOwnedObjectsAndNamespacesAreCollected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startCluster(t, testOptions(t))
	cl := newClient(t, c)

	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "incident", Namespace: "default"}}
	if err := cl.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	owned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "decision", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-gone"}}
	for _, obj := range []client.Object{owned, ns} {
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns.Name}}); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{owner, ns} {
		if err := cl.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, obj := range []client.Object{owned, ns} {
		for {
			err := cl.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still there a minute after its owner or itself was deleted (%v)", obj.GetName(), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func TestStartRefusesATakenPort(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.APIServerPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Start(context.Background(), opts); !errors.Is(err, errPortInUse) {
		t.Fatalf("Start on a taken port: %v, want %v", err, errPortInUse)
	}
}

func TestStartWithoutBinaries(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.BinaryDir = t.TempDir()
	_, err := Start(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "hack/setup-envtest.sh") {
		t.Fatalf("Start without binaries: %v, want advice to run hack/setup-envtest.sh", err)
	}
}

func TestStartRefusesADirInUse(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := Start(context.Background(), opts); !errors.Is(err, errDirInUse) {
		t.Fatalf("Start on a directory in use: %v, want %v", err, errDirInUse)
	}
}

// helperEnv makes the test binary, run again by TestParentGoneLeavesNoControlPlane,
// act as a parent that starts a control plane and waits for a signal.
const helperEnv = "KLAXON_LOCALCLUSTER_HELPER"

// TestParentGoneLeavesNoControlPlane kills a parent that never calls Stop, first
// with kill -9, then with Ctrl-C (SIGINT to its process group), and checks that etcd
// kube-apiserver and kube-controller-manager go with it and that the next start finds its data, port and
// directory free.
func TestParentGoneLeavesNoControlPlane(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux stops children when their parent dies (Pdeathsig)")
	}
	t.Parallel()
	opts := testOptions(t)

	cases := []struct {
		name      string
		signal    func(parent int) error
		configMap string // the parent writes it before the signal
	}{
		{"kill -9", func(parent int) error { return syscall.Kill(parent, syscall.SIGKILL) }, "before-kill"},
		{"Ctrl-C", func(parent int) error { return syscall.Kill(-parent, syscall.SIGINT) }, "before-ctrl-c"},
	}
	for _, tc := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperParent$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%s,%s", helperEnv, opts.Dir, opts.APIServerPort, opts.BinaryDir, tc.configMap))
		// Its own process group, like a shell gives a command, so Ctrl-C stays there.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		var log []string
		var children []int
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) == 4 && f[0] == "ready" {
				for _, pid := range f[1:] {
					n, _ := strconv.Atoi(pid)
					children = append(children, n)
				}
				break
			}
			log = append(log, lines.Text())
		}
		if children == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("%s: the helper parent did not start a control plane:\n%s", tc.name, strings.Join(log, "\n"))
		}

		if err := tc.signal(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		deadline := time.Now().Add(stopTimeout)
		for _, pid := range children {
			for testenv.Running(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: child %d still runs after its parent is gone", tc.name, pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		// Nothing is left holding the API server's port either: the kernel closes a
		// killed process's sockets as its last threads exit, which can be a moment
		// after its state reads as exited.
		for checkPortFree(opts.APIServerPort) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s: port %d is still taken after the control plane is gone: %v", tc.name, opts.APIServerPort, checkPortFree(opts.APIServerPort))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	c := startCluster(t, opts)
	cl := newClient(t, c)
	for _, tc := range cases {
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: tc.configMap}, &corev1.ConfigMap{}); err != nil {
			t.Errorf("after the parent was gone: %v", err)
		}
	}
}

// TestHelperParent is the parent of TestParentGoneLeavesNoControlPlane; it does
// nothing in a normal run.
func TestHelperParent(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return
	}
	parts := strings.SplitN(spec, ",", 4)
	port, _ := strconv.Atoi(parts[1])
	c, err := Start(context.Background(), Options{Dir: parts[0], APIServerPort: port, BinaryDir: parts[2]})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: parts[3], Namespace: "default"}}
	if err := newClient(t, c).Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready", c.etcd.cmd.Process.Pid, c.apiserver.cmd.Process.Pid, c.manager.cmd.Process.Pid)
	time.Sleep(time.Minute) // until the signal; no Stop, no signal handler
}
