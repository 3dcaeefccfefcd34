// Command klaxon is the Klaxon controller manager: it reconciles incidents and the
// declarations of how to respond to them. With --local it first starts an embedded
// control plane (kube-apiserver and etcd, no Docker) for `make run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/controllers"
)

// config is everything the flags set.
type config struct {
	metricsAddr     string
	probeAddr       string
	leaderElect     bool
	leaderElectNS   string
	systemNamespace string
	qps             float64
	burst           int
	local           localConfig
}

func main() {
	var cfg config
	flag.StringVar(&cfg.metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint binds to; 0 disables it")
	flag.StringVar(&cfg.probeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	flag.BoolVar(&cfg.leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles")
	flag.StringVar(&cfg.leaderElectNS, "leader-election-namespace", "", "namespace of the leader election lease; the system namespace when empty")
	flag.StringVar(&cfg.systemNamespace, "system-namespace", klaxonv1.DefaultSystemNamespace, "the provider's namespace, whose policies and groups apply to every tenant")
	flag.Float64Var(&cfg.qps, "kube-api-qps", 50, "steady queries per second to the Kubernetes API")
	flag.IntVar(&cfg.burst, "kube-api-burst", 100, "burst of queries to the Kubernetes API")
	cfg.local.register(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), cfg); err != nil {
		ctrl.Log.Error(err, "klaxon stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	log := ctrl.Log.WithName("setup")

	var restCfg *rest.Config
	var local *localRun
	if cfg.local.enabled {
		lc, err := startLocal(ctx, cfg.local, cfg.systemNamespace)
		if err != nil {
			return err
		}
		defer lc.stop()
		local = lc
		restCfg = lc.restConfig
		// If the control plane dies, stop too rather than reconcile against nothing.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-lc.cluster.Done():
				log.Error(nil, "the embedded control plane stopped; stopping klaxon")
				cancel()
			case <-ctx.Done():
			}
		}()
	} else {
		var err error
		if restCfg, err = ctrl.GetConfig(); err != nil {
			return fmt.Errorf("loading kubeconfig: %w", err)
		}
	}
	// Explicit client limits: a library default should not decide how hard Klaxon
	// pushes the API server during an alert storm.
	restCfg.QPS = float32(cfg.qps)
	restCfg.Burst = cfg.burst

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(klaxonv1.AddToScheme(scheme))

	leNS := cfg.leaderElectNS
	if leNS == "" {
		leNS = cfg.systemNamespace
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: cfg.metricsAddr},
		HealthProbeBindAddress:  cfg.probeAddr,
		LeaderElection:          cfg.leaderElect,
		LeaderElectionID:        "klaxon.klaxon.dev",
		LeaderElectionNamespace: leNS,
		// Stepping down promptly on shutdown lets the next leader start escalating
		// without waiting out the lease.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{SystemNamespace: cfg.systemNamespace}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}

	if local != nil {
		// Runs once the controllers have started, so the tour is the last thing printed.
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			local.tour(cfg.local.dir)
			<-ctx.Done()
			return nil
		})); err != nil {
			return fmt.Errorf("adding the tour: %w", err)
		}
	}

	log.Info("starting klaxon", "systemNamespace", cfg.systemNamespace, "leaderElection", cfg.leaderElect)
	if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}
