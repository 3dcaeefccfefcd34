// Command klaxon is the Klaxon controller manager: it reconciles incidents and the
// declarations of how to respond to them. With --local it first starts an embedded
// control plane (kube-apiserver, etcd and kube-controller-manager, no Docker) for
// `make run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/controllers"
	"github.com/klaxon-ops/klaxon/internal/dashboard"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/internal/respond"
	"github.com/klaxon-ops/klaxon/internal/server"
	klaxonwebhook "github.com/klaxon-ops/klaxon/internal/webhook"
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
	intakeQPS       float64
	intakeBurst     int
	incidentWorkers int
	webhookPort     int
	webhookCertDir  string
	policyTimeout   time.Duration
	httpAddr        string
	externalURL     string
	respondKeys     string
	dashboard       bool
	postmortemCache string
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
	flag.Float64Var(&cfg.intakeQPS, "intake-kube-api-qps", 100, "steady queries per second to the Kubernetes API from alert intake and heartbeats, apart from the reconcilers' --kube-api-qps")
	flag.IntVar(&cfg.intakeBurst, "intake-kube-api-burst", 200, "burst of queries to the Kubernetes API from alert intake and heartbeats")
	flag.IntVar(&cfg.incidentWorkers, "incident-workers", controllers.DefaultIncidentWorkers, "incidents reconciled at once (each mostly waits on the API server or a receiver)")
	flag.IntVar(&cfg.webhookPort, "webhook-port", 9443, "port the admission webhook server listens on (every replica serves it)")
	flag.StringVar(&cfg.webhookCertDir, "webhook-cert-dir", "", "directory with the webhook serving certificate (tls.crt, tls.key); controller-runtime's default when empty")
	flag.DurationVar(&cfg.policyTimeout, "policy-timeout", policy.DefaultTimeout, "deadline of one policy's evaluation at a decision point; past it the built-in default decides")
	flag.StringVar(&cfg.httpAddr, "http-bind-address", ":8090", "address of the HTTP server: alert intake, heartbeats, respond links, dashboard (every replica serves it)")
	flag.StringVar(&cfg.externalURL, "external-url", "", "URL people reach the HTTP server at, for the links in pages; http://localhost<http-bind-address port> when empty")
	flag.StringVar(&cfg.respondKeys, "respond-keys-secret", "klaxon-respond-keys", "Secret in the system namespace with the keys that sign respond links (created when missing)")
	flag.BoolVar(&cfg.dashboard, "dashboard", true, "serve the read-only incident dashboard at / on the HTTP server (put it behind your ingress's authentication)")
	flag.StringVar(&cfg.postmortemCache, "postmortem-cache-dir", "", "directory of the local caches of the post-mortem repositories, kept across restarts (a volume); a temporary directory when empty, so each start fetches them again")
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
		lc, err := startLocal(ctx, cfg.local, cfg.systemNamespace, cfg.webhookPort)
		if err != nil {
			return err
		}
		defer lc.stop()
		local = lc
		restCfg = lc.restConfig
		cfg.webhookCertDir = lc.webhookCertDir
		if cfg.postmortemCache == "" {
			cfg.postmortemCache = lc.postmortemCacheDir()
		}
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
		WebhookServer:                 webhook.NewServer(webhook.Options{Port: cfg.webhookPort, CertDir: cfg.webhookCertDir}),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	engine, err := policy.NewEngine(policy.Options{SystemNamespace: cfg.systemNamespace, Timeout: cfg.policyTimeout})
	if err != nil {
		return fmt.Errorf("loading the built-in policies: %w", err)
	}
	direct, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("building a client: %w", err)
	}
	linkKeys, err := respond.LoadKeys(ctx, direct, cfg.systemNamespace, cfg.respondKeys)
	if err != nil {
		return err
	}
	external := cfg.externalURL
	if external == "" {
		external = "http://localhost" + cfg.httpAddr[strings.LastIndex(cfg.httpAddr, ":"):]
	}
	opts := controllers.Options{SystemNamespace: cfg.systemNamespace, Engine: engine,
		Notify: dispatch.Options{BaseURL: external, LinkKeys: linkKeys}, PostmortemCacheDir: cfg.postmortemCache, IncidentWorkers: cfg.incidentWorkers,
		IntakeQPS: float32(cfg.intakeQPS), IntakeBurst: cfg.intakeBurst}
	if local != nil {
		local.httpURL = external
	}
	if err := controllers.SetupWithManager(mgr, opts); err != nil {
		return err
	}

	srv := server.New(cfg.httpAddr, func() error {
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(c) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	})
	(&respond.Handler{Client: direct, Keys: linkKeys, Now: time.Now}).Register(srv.Handle)
	if _, err := controllers.RegisterIntake(mgr, srv, opts); err != nil {
		return err
	}
	if cfg.dashboard {
		(&dashboard.Handler{Reader: mgr.GetClient(), Now: time.Now}).Register(srv.Handle)
	}
	if err := mgr.Add(srv); err != nil {
		return fmt.Errorf("adding the HTTP server: %w", err)
	}
	self, err := whoAmI(ctx, restCfg)
	if err != nil {
		return err
	}
	klaxonwebhook.Setup(mgr, klaxonwebhook.Options{SystemNamespace: cfg.systemNamespace, Trusted: []string{self},
		Policy: klaxonwebhook.EnginePolicy{Engine: engine}})
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("http", srv.Checker); err != nil {
		return fmt.Errorf("adding the HTTP server's readiness check: %w", err)
	}

	if local != nil {
		// Runs once the controllers have started, so the tour is the last thing printed.
		webhookStarted := mgr.GetWebhookServer().StartedChecker()
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			if err := local.afterStart(ctx, func() error { return webhookStarted(nil) }); err != nil {
				return err
			}
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

// whoAmI asks the API server who this process is, so admission can trust Klaxon's own
// requests to name the responder who acted.
func whoAmI(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("building a client: %w", err)
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("asking the API server who klaxon is: %w", err)
	}
	return r.Status.UserInfo.Username, nil
}
