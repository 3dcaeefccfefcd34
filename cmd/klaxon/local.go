package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/klaxon-ops/klaxon/internal/localcluster"
)

// localConfig is the --local mode behind `make run`.
type localConfig struct {
	enabled   bool
	dir       string
	binaries  string
	crds      string
	samples   string
	webhooks  string
	sinkAddr  string
	apiPort   int
	verbosity bool
}

func (c *localConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "local", false, "start an embedded control plane (kube-apiserver, etcd, kube-controller-manager) and run against it; for `make run`")
	fs.StringVar(&c.dir, "local-dir", localcluster.DefaultDir, "state of the embedded control plane: etcd data, certificates, kubeconfig, notifications.jsonl")
	fs.StringVar(&c.binaries, "local-binaries", os.Getenv("KUBEBUILDER_ASSETS"), "directory holding kube-apiserver, kube-controller-manager and etcd (hack/setup-envtest.sh prints it)")
	fs.StringVar(&c.crds, "local-crds", "config/crd/bases", "CRD manifests to install")
	fs.StringVar(&c.samples, "local-samples", "config/samples", "manifests to apply once the control plane is up; empty for none")
	fs.StringVar(&c.webhooks, "local-webhooks", "config/webhook/manifests.yaml", "webhook configurations to point at this process")
	fs.StringVar(&c.sinkAddr, "local-sink-address", "127.0.0.1:8099", "address of the local notification sink the samples' webhook channel posts to")
	fs.IntVar(&c.apiPort, "local-apiserver-port", localcluster.DefaultAPIServerPort, "port of the embedded kube-apiserver on 127.0.0.1")
	fs.BoolVar(&c.verbosity, "local-verbose", false, "print the control plane's own output")
}

// localRun is a running embedded control plane and its notification sink.
type localRun struct {
	config          localConfig
	systemNamespace string
	restConfig      *rest.Config
	cluster         *localcluster.Cluster
	sink            *localcluster.Sink
	webhookCertDir  string
	// httpURL is where the HTTP server (intake, respond links, dashboard) listens.
	httpURL string
}

func (l *localRun) stop() {
	log := ctrl.Log.WithName("local")
	if l.sink != nil {
		_ = l.sink.Close()
	}
	if err := l.cluster.Stop(); err != nil {
		log.Error(err, "stopping the embedded control plane")
	}
}

// startLocal starts the embedded control plane, the notification sink and applies the
// samples, then tells the user what to try.
func startLocal(ctx context.Context, c localConfig, systemNamespace string, webhookPort int) (*localRun, error) {
	log := ctrl.Log.WithName("local")
	if c.binaries == "" {
		return nil, fmt.Errorf("--local needs the control plane binaries: run hack/setup-envtest.sh and pass its output as --local-binaries or KUBEBUILDER_ASSETS")
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", c.dir, err)
	}
	log.Info("starting the embedded control plane", "dir", c.dir)
	opts := localcluster.Options{Dir: c.dir, BinaryDir: c.binaries, CRDDirs: []string{c.crds}, APIServerPort: c.apiPort}
	if c.verbosity {
		opts.Out = os.Stderr
	}
	cluster, err := localcluster.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("starting the embedded control plane: %w", err)
	}
	run := &localRun{config: c, systemNamespace: systemNamespace, restConfig: cluster.Config(), cluster: cluster}

	sink, err := localcluster.StartSink(c.sinkAddr, filepath.Join(c.dir, "notifications.jsonl"), os.Stdout)
	if err != nil {
		run.stop()
		return nil, fmt.Errorf("starting the notification sink: %w", err)
	}
	run.sink = sink

	if err := ensureNamespace(ctx, run.restConfig, systemNamespace); err != nil {
		run.stop()
		return nil, err
	}
	run.webhookCertDir, err = cluster.InstallWebhooks(ctx, c.webhooks, webhookPort)
	if err != nil {
		run.stop()
		return nil, fmt.Errorf("installing the admission webhooks: %w", err)
	}
	return run, nil
}

func ensureNamespace(ctx context.Context, cfg *rest.Config, name string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building a client: %w", err)
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// afterStart runs once the manager serves admission: it applies the samples (which
// admission checks) and prints what to try next.
func (l *localRun) afterStart(ctx context.Context, webhookStarted func() error) error {
	log := ctrl.Log.WithName("local")
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return webhookStarted() == nil, nil
	}); err != nil {
		return fmt.Errorf("waiting for the webhook server: %w", err)
	}
	if l.config.samples != "" {
		applied, err := localcluster.Apply(ctx, l.restConfig, l.config.samples)
		if err != nil {
			return fmt.Errorf("applying %s: %w", l.config.samples, err)
		}
		log.Info("applied samples", "dir", l.config.samples, "objects", len(applied))
		if err := ensureIntakeSecret(ctx, l.restConfig); err != nil {
			return err
		}
	}
	records, err := applyLocalPostmortems(ctx, l.restConfig, l.config.dir, l.systemNamespace)
	if err != nil {
		return err
	}
	log.Info("post-mortem records go to a local bare repository", "repository", records)
	printTour(l.cluster.KubeconfigPath(), l.sink.URL(), filepath.Join(l.config.dir, "notifications.jsonl"), l.httpURL, records)
	return nil
}

// postmortemCacheDir is where the controller keeps its cache of the local post-mortem
// repository, next to the rest of the state.
func (l *localRun) postmortemCacheDir() string {
	return filepath.Join(l.config.dir, "postmortem-cache")
}

// The Secret the samples' AlertSource and Heartbeat authenticate with. A token is
// made up here, once, rather than written in the samples: a token in a repository is
// a token anyone can read.
const (
	sampleIntakeNamespace = "acme"
	sampleIntakeSecret    = "prometheus-intake"
)

// ensureIntakeSecret creates the samples' intake Secret with a random bearer token,
// unless it exists (a restart keeps the token senders were configured with).
func ensureIntakeSecret(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building a client: %w", err)
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return fmt.Errorf("making an intake token: %w", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sampleIntakeNamespace, Name: sampleIntakeSecret},
		Data: map[string][]byte{"token": []byte(hex.EncodeToString(token))}}
	_, err = cs.CoreV1().Secrets(sampleIntakeNamespace).Create(ctx, secret, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("creating Secret %s/%s: %w", sampleIntakeNamespace, sampleIntakeSecret, err)
	}
	return nil
}

func printTour(kubeconfig, sinkURL, sinkFile, httpURL, records string) {
	fmt.Printf(`
Klaxon is running on an embedded control plane.

  kubeconfig:     %[1]s
  notifications:  %[2]s (appended to %[3]s)

Try, in another terminal:

  export KUBECONFIG=%[1]s
  alias kubectl=bin/k8s/1.37.2/kubectl
  kubectl -n acme get responders,oncall,ep,sg,nc
  kubectl -n acme get oncall primary -o wide
  kubectl -n acme create -f config/samples/incidents/checkout-latency.yaml
  kubectl -n acme get incidents
  kubectl -n acme patch incident checkout-latency --type=merge -p '{"spec":{"state":"Acknowledged","acknowledgedBy":"alice"}}'
  kubectl -n acme patch incident checkout-latency --type=merge -p '{"spec":{"state":"Resolved","stage":"Monitor"}}'
  kubectl -n acme get incident checkout-latency -o jsonpath='{range .status.timeline[*]}{.time}  {.type}  {.actor}  {.message}{"\n"}{end}'

Read the post-mortem record committed when it resolved:

  kubectl -n acme get incident checkout-latency -o jsonpath='{.status.postmortem}{"\n"}'
  git -C %[5]s log --stat

Send an alert as Prometheus Alertmanager would:

  TOKEN=$(kubectl -n acme get secret prometheus-intake -o jsonpath='{.data.token}' | base64 -d)
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data @config/samples/alerts/checkout-errors.json %[4]s/api/v1/alerts/acme/prometheus
  kubectl -n acme get incidents -l klaxon.dev/alertsource=prometheus

Ctrl-C stops Klaxon and the control plane; state stays in the directory above.

`, kubeconfig, sinkURL, sinkFile, httpURL, records)
}
