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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
func (i *instance) stop() {
	select {
	case <-i.exited:
		return
	default:
	}
	_ = i.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-i.exited:
	case <-time.After(time.Minute):
		_ = i.cmd.Process.Kill()
		i.t.Errorf("klaxon did not stop within a minute of SIGINT")
	}
}

// kubectl runs the real kubectl against the instance and returns its output.
func (i *instance) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testenv.AssetsDir(), "kubectl"), append([]string{"--kubeconfig", i.kubeconfig}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
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
