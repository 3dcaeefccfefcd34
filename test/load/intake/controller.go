package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/controllers"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/internal/server"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// controllerRole is the first argument that makes this binary the controller under
// test instead of the harness.
const controllerRole = "controller"

// runController is Klaxon as cmd/klaxon sets it up, for what intake involves: the
// reconcilers (controllers.SetupWithManager), the policy engine with the built-in
// library, and the HTTP server with alert intake (controllers.RegisterIntake); not the
// admission webhooks, the dashboard or respond links. It prints "ready" once its
// caches are synced and intake answers.
func runController(args []string) error {
	fs := flag.NewFlagSet(controllerRole, flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the API server")
	qps := fs.Float64("kube-api-qps", 50, "as klaxon's --kube-api-qps")
	burst := fs.Int("kube-api-burst", 100, "as klaxon's --kube-api-burst")
	httpAddr := fs.String("http-bind-address", "127.0.0.1:8090", "as klaxon's --http-bind-address")
	metricsAddr := fs.String("metrics-bind-address", "0", "metrics endpoint")
	pprofAddr := fs.String("pprof-bind-address", "", "net/http/pprof endpoint; empty for none")
	intakeOnly := fs.Bool("intake-only", false, "serve intake without the reconcilers (nothing triages or pages)")
	_ = fs.Parse(args)

	// Production logs at info level as JSON; so does this (to the file the harness gives).
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", *kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := klaxonv1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme,
		Metrics: metricsserver.Options{BindAddress: *metricsAddr}, HealthProbeBindAddress: "0",
		PprofBindAddress: *pprofAddr})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	engine, err := policy.NewEngine(policy.Options{SystemNamespace: klaxonv1.DefaultSystemNamespace})
	if err != nil {
		return fmt.Errorf("loading the built-in policies: %w", err)
	}
	opts := controllers.Options{SystemNamespace: klaxonv1.DefaultSystemNamespace, Engine: engine,
		Notify: dispatch.Options{BaseURL: "http://klaxon.load.test"}}
	if !*intakeOnly {
		if err := controllers.SetupWithManager(mgr, opts); err != nil {
			return err
		}
	}
	srv := server.New(*httpAddr, func() error { return nil })
	rcv, err := controllers.RegisterIntake(mgr, srv, opts)
	if err != nil {
		return err
	}
	if err := mgr.Add(srv); err != nil {
		return fmt.Errorf("adding the HTTP server: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("caches did not sync")
		}
		for rcv.Ready() != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
		fmt.Println("ready")
		<-ctx.Done()
		return nil
	})); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// controllerProc is the running controller child.
type controllerProc struct {
	cmd        *exec.Cmd
	intakeURL  string // http://host:port
	metricsURL string
	pprofURL   string
	ready      chan struct{}
	exited     chan error
	rss        sampler
}

// startController runs this binary as the controller child; its log goes to
// <out>/controller.log.
func startController(h *harness) (*controllerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	httpAddr, err := measure.FreeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := measure.FreeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := measure.FreeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(h.out, "controller.log"))
	if err != nil {
		return nil, err
	}
	c := &controllerProc{intakeURL: "http://" + httpAddr, metricsURL: "http://" + metricsAddr + "/metrics",
		pprofURL: "http://" + pprofAddr + "/debug/pprof",
		ready:    make(chan struct{}), exited: make(chan error, 1)}
	c.cmd = exec.Command(self, controllerRole, "-kubeconfig", h.kubeconfig,
		"-kube-api-qps", fmt.Sprint(h.opts.qps.qps), "-kube-api-burst", fmt.Sprint(h.opts.qps.burst),
		"-http-bind-address", httpAddr, "-metrics-bind-address", metricsAddr, "-pprof-bind-address", pprofAddr,
		fmt.Sprintf("-intake-only=%t", h.opts.intakeOnly))
	c.cmd.Stderr = logFile
	// A harness killed mid-run takes its controller with it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(c.ready)
			}
		}
	}()
	go func() {
		c.exited <- c.cmd.Wait()
		logFile.Close()
	}()
	c.rss.start(c.cmd.Process.Pid)
	select {
	case <-c.ready:
		return c, nil
	case err := <-c.exited:
		return nil, fmt.Errorf("the controller exited before it was ready (%v); see %s", err, logFile.Name())
	case <-time.After(2 * time.Minute):
		_ = c.cmd.Process.Kill()
		return nil, fmt.Errorf("the controller was not ready after 2 minutes; see %s", logFile.Name())
	}
}

// stop asks the child to stop as a Deployment's pod is asked (SIGTERM) and waits.
func (c *controllerProc) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(45 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// scrape reads the child's metrics.
func (c *controllerProc) scrape() measure.Metrics {
	resp, err := http.Get(c.metricsURL)
	if err != nil {
		return measure.Metrics{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return measure.ParseMetrics(string(b))
}

// profile writes a CPU profile of the child over d to file, in the background; the
// returned channel closes when it is written.
func (c *controllerProc) profile(d time.Duration, file string) <-chan struct{} {
	return measure.FetchProfile(http.DefaultClient, fmt.Sprintf("%s/profile?seconds=%d", c.pprofURL, int(d.Seconds())), file)
}

// sampler keeps the largest VmRSS of a process, sampled every 100 ms while it runs.
type sampler struct {
	pid int
	max atomic.Int64
}

func (s *sampler) start(pid int) {
	s.pid = pid
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			p, err := measure.ReadProc(pid)
			if err != nil {
				return
			}
			if p.RSS > s.max.Load() {
				s.max.Store(p.RSS)
			}
		}
	}()
}

// now is the process's memory at this moment; reset starts a new maximum.
func (s *sampler) now() measure.Proc {
	p, _ := measure.ReadProc(s.pid)
	return p
}

func (s *sampler) reset() { s.max.Store(0) }
