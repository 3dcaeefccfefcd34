package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
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
	intakeQPS := fs.Float64("intake-kube-api-qps", 100, "as klaxon's --intake-kube-api-qps")
	intakeBurst := fs.Int("intake-kube-api-burst", 200, "as klaxon's --intake-kube-api-burst")
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
		Notify:    dispatch.Options{BaseURL: "http://klaxon.load.test"},
		IntakeQPS: float32(*intakeQPS), IntakeBurst: *intakeBurst}
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
	*measure.Child
	intakeURL string // http://host:port
}

// startController runs this binary as the controller child; its log goes to
// <out>/controller.log.
func startController(h *harness) (*controllerProc, error) {
	httpAddr, err := measure.FreeAddr()
	if err != nil {
		return nil, err
	}
	child, err := measure.StartChild(filepath.Join(h.out, "controller.log"), controllerRole, "-kubeconfig", h.kubeconfig,
		"-kube-api-qps", fmt.Sprint(h.opts.qps.qps), "-kube-api-burst", fmt.Sprint(h.opts.qps.burst),
		"-intake-kube-api-qps", fmt.Sprint(h.opts.intakeQPS.qps), "-intake-kube-api-burst", fmt.Sprint(h.opts.intakeQPS.burst),
		"-http-bind-address", httpAddr, fmt.Sprintf("-intake-only=%t", h.opts.intakeOnly))
	if err != nil {
		return nil, fmt.Errorf("the controller: %w", err)
	}
	return &controllerProc{Child: child, intakeURL: "http://" + httpAddr}, nil
}

// stop stops the controller as a Deployment's pod is stopped.
func (c *controllerProc) stop() { _ = c.Stop(45 * time.Second) }
