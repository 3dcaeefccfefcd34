// Package e2e runs the klaxon binary as `make run` does (--local: an embedded
// kube-apiserver and etcd) and drives it with the real kubectl, as a user would.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// klaxonBin is the binary under test, built once by TestMain.
var klaxonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "klaxon-e2e-bin")
	if err != nil {
		panic(err)
	}
	klaxonBin = filepath.Join(dir, "klaxon")
	build := exec.Command("go", "build", "-o", klaxonBin, "./cmd/klaxon")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building klaxon: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a running `klaxon --local`.
type instance struct {
	t          *testing.T
	dir        string
	kubeconfig string
	sinkAddr   string
	httpAddr   string // intake, respond links, dashboard
	cmd        *exec.Cmd
	log        *lockedBuffer
	exited     chan struct{}
}

// freePort asks the kernel for a port nobody uses.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startKlaxon runs klaxon --local with state in dir and waits until it prints its
// tour, which it does once the controllers run.
func startKlaxon(t *testing.T, dir string, apiPort int) *instance {
	t.Helper()
	root := testenv.RepoRoot()
	sinkAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(klaxonBin, "--local",
		"--local-dir="+dir,
		"--local-binaries="+testenv.AssetsDir(),
		"--local-crds="+filepath.Join(root, "config", "crd", "bases"),
		"--local-samples="+filepath.Join(root, "config", "samples"),
		fmt.Sprintf("--local-apiserver-port=%d", apiPort),
		"--local-sink-address="+sinkAddr,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", freePort(t)),
		"--http-bind-address="+httpAddr,
		fmt.Sprintf("--webhook-port=%d", freePort(t)),
	)
	cmd.Dir = root
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	inst := &instance{t: t, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), sinkAddr: sinkAddr, httpAddr: httpAddr, cmd: cmd,
		log: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = inst.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Klaxon is running") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		_ = cmd.Wait()
		close(inst.exited)
	}()
	select {
	case <-ready:
	case <-inst.exited:
		t.Fatalf("klaxon exited before it was ready:\n%s", inst.log.String())
	case <-time.After(2 * time.Minute):
		inst.stop()
		t.Fatalf("klaxon not ready after 2m:\n%s", inst.log.String())
	}
	t.Cleanup(inst.stop)
	return inst
}

// stop sends Ctrl-C (SIGINT) and waits for klaxon and its control plane to exit.
func (i *instance) stop() { stopProcess(i.t, i.cmd.Process, i.exited, syscall.SIGINT, "klaxon") }

// startControlPlane starts a kube-apiserver and etcd (envtest, with Klaxon's CRDs
// unless an option says otherwise) for the test and writes an admin kubeconfig for
// it, for the processes the test runs: klaxon, kubectl, make and helm.
func startControlPlane(t *testing.T, opts ...testenv.Option) (*rest.Config, string) {
	t.Helper()
	env := testenv.New(opts...)
	cfg, err := testenv.Start(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return cfg, kubeconfig
}

// replica is a klaxon process run as a Deployment's pod would run it: a kubeconfig, its
// flags, nothing embedded.
type replica struct {
	t           *testing.T
	name        string
	httpAddr    string
	metricsAddr string
	cmd         *exec.Cmd
	log         *lockedBuffer
	exited      chan struct{}
}

// startManager runs klaxon with args against kubeconfig's cluster and waits until its
// /readyz (on --health-probe-bind-address) answers: webhook and HTTP servers serve.
func startManager(t *testing.T, name, kubeconfig string, args ...string) *replica {
	t.Helper()
	r := &replica{t: t, name: name, httpAddr: flagValue(args, "--http-bind-address"), metricsAddr: flagValue(args, "--metrics-bind-address"),
		log: &lockedBuffer{}, exited: make(chan struct{})}
	probeAddr := flagValue(args, "--health-probe-bind-address")
	r.cmd = exec.Command(klaxonBin, args...)
	r.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s's log:\n%s", r.name, r.log.String())
		}
	})
	eventually(t, 2*time.Minute, func() error {
		select {
		case <-r.exited:
			t.Fatalf("%s exited:\n%s", name, r.log.String())
		default:
		}
		resp, err := http.Get("http://" + probeAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: readyz %s", name, resp.Status)
		}
		return nil
	})
	return r
}

// isLeader reads controller-runtime's leader election gauge from the replica's metrics.
func (r *replica) isLeader() bool {
	resp, err := http.Get("http://" + r.metricsAddr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(data), `leader_election_master_status{name="klaxon.klaxon.dev"} 1`)
}

// kill is a crash: no lease released, nothing flushed.
func (r *replica) kill() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}

// stop is SIGTERM, as the kubelet sends, and waits for the process to exit.
func (r *replica) stop() {
	stopProcess(r.t, r.cmd.Process, r.exited, syscall.SIGTERM, "replica "+r.name)
}

// stopProcess sends sig to a child that closes exited when it ends, and waits a minute
// for it before killing it and failing the test.
func stopProcess(t *testing.T, p *os.Process, exited <-chan struct{}, sig os.Signal, what string) {
	select {
	case <-exited:
		return
	default:
	}
	_ = p.Signal(sig)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		_ = p.Kill()
		t.Errorf("%s did not stop within a minute of %s", what, sig)
	}
}

// level is one level of the tenant pagedTenant declares: after delay, page responder.
type level struct {
	delay     time.Duration
	responder string
}

// pagedTenant is tenant acme's YAML: a webhook channel "pager" posting to sinkURL, a
// Responder for each level reached through it, and the EscalationPolicy "default"
// with those levels.
func pagedTenant(sinkURL string, levels ...level) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Namespace
metadata: {name: acme}
---
apiVersion: klaxon.dev/v1alpha1
kind: NotificationChannel
metadata: {name: pager, namespace: acme}
spec:
  type: webhook
  webhook: {url: %q}
`, sinkURL)
	for _, l := range levels {
		fmt.Fprintf(&b, `---
apiVersion: klaxon.dev/v1alpha1
kind: Responder
metadata: {name: %[1]s, namespace: acme}
spec:
  displayName: %[1]s
  timeZone: Europe/Berlin
  contactMethods: [{name: pager, channelRef: {name: pager}, address: %[1]s}]
`, l.responder)
	}
	b.WriteString(`---
apiVersion: klaxon.dev/v1alpha1
kind: EscalationPolicy
metadata: {name: default, namespace: acme}
spec:
  levels:
`)
	for _, l := range levels {
		fmt.Fprintf(&b, "  - delay: %s\n    targets: [{kind: Responder, name: %s}]\n", l.delay, l.responder)
	}
	return b.String()
}

// kubectl runs the real kubectl against the instance and returns its output.
func (i *instance) kubectl(args ...string) (string, error) {
	return runKubectl(i.kubeconfig, "", args...)
}

// runKubectl runs the real kubectl against kubeconfig's cluster, from the repository's
// root with stdin as its input, and returns its output; an error names the command
// and carries the output.
func runKubectl(kubeconfig, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testenv.AssetsDir(), "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// flagValue is the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// mustKubectl is kubectl that fails the test on error.
func (i *instance) mustKubectl(args ...string) string {
	i.t.Helper()
	out, err := i.kubectl(args...)
	if err != nil {
		i.t.Fatal(err)
	}
	return out
}

// installedTool runs a hack/install-*.sh script, which builds its tool into bin/ once,
// and returns the binary's path.
func installedTool(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command(script)
	cmd.Dir = testenv.RepoRoot()
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return strings.TrimSpace(string(out))
}

// eventually retries f until it succeeds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lockedBuffer collects the child's log; writes come from exec's copying goroutine
// while failure messages read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
