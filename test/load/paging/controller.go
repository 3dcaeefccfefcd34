package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/controllers"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// controllerRole is the first argument that makes this binary the controller under
// test instead of the harness.
const controllerRole = "controller"

// linkKey signs the respond links in the pages.
var linkKey = []byte("load-harness-respond-link-key-32")

// runController is the controller under test: a manager set up as cmd/klaxon sets it
// up (controllers.SetupWithManager, a policy engine with the built-in library, respond
// links, explicit QPS and burst), without the admission webhooks and the HTTP server,
// which play no part in paging. It prints "ready" once its caches are synced.
func runController(args []string) error {
	fs := flag.NewFlagSet(controllerRole, flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the API server")
	qps := fs.Float64("kube-api-qps", 50, "as klaxon's --kube-api-qps")
	burst := fs.Int("kube-api-burst", 100, "as klaxon's --kube-api-burst")
	workers := fs.Int("incident-workers", controllers.DefaultIncidentWorkers, "as klaxon's --incident-workers")
	metricsAddr := fs.String("metrics-bind-address", "0", "metrics endpoint")
	pprofAddr := fs.String("pprof-bind-address", "", "net/http/pprof endpoint; empty for none")
	_ = fs.Parse(args)

	// Production logs at info level as JSON; so does this (to the file the harness gives).
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", *kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst

	// Client-side throttling and request latency are opt-in metrics; they tell whether
	// QPS is what a page waits for.
	buckets := []float64{0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 4, 8, 16, 32, 64}
	metrics.RegisterRESTClientMetricsWithOptions(metrics.RESTClientMetricsOptions{DurationBuckets: buckets},
		metrics.MetricRequestLatency, metrics.MetricRateLimiterLatency)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := klaxonv1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: "0",
		PprofBindAddress:       *pprofAddr,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	engine, err := policy.NewEngine(policy.Options{SystemNamespace: klaxonv1.DefaultSystemNamespace})
	if err != nil {
		return fmt.Errorf("loading the built-in policies: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{SystemNamespace: klaxonv1.DefaultSystemNamespace, Engine: engine,
		IncidentWorkers: *workers, Notify: dispatch.Options{BaseURL: "http://klaxon.load.test", LinkKeys: [][]byte{linkKey}}}); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("caches did not sync")
		}
		fmt.Println("ready")
		<-ctx.Done()
		return nil
	})); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// qpsSetting is the controller's client limits.
type qpsSetting struct {
	qps   float64
	burst int
}

func (s qpsSetting) String() string { return fmt.Sprintf("%g/%d", s.qps, s.burst) }

// parseSettings reads "50/100,500/1000".
func parseSettings(s string) ([]qpsSetting, error) {
	var out []qpsSetting
	for _, part := range strings.Split(s, ",") {
		var q qpsSetting
		if _, err := fmt.Sscanf(strings.TrimSpace(part), "%g/%d", &q.qps, &q.burst); err != nil {
			return nil, fmt.Errorf("QPS setting %q is not qps/burst", part)
		}
		out = append(out, q)
	}
	return out, nil
}

// controllerProc is a running controller child.
type controllerProc struct {
	*measure.Child
	name    string
	setting qpsSetting
}

// startController runs this binary as a controller child with setting; its log goes
// to <out>/<name>.log.
func startController(h *harness, name string, setting qpsSetting) (*controllerProc, error) {
	child, err := measure.StartChild(filepath.Join(h.out, name+".log"), controllerRole, "-kubeconfig", h.kubeconfig,
		"-kube-api-qps", fmt.Sprint(setting.qps), "-kube-api-burst", fmt.Sprint(setting.burst),
		"-incident-workers", fmt.Sprint(h.opts.workers))
	if err != nil {
		return nil, fmt.Errorf("controller %s: %w", name, err)
	}
	return &controllerProc{Child: child, name: name, setting: setting}, nil
}
