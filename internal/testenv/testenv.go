// Package testenv starts the real kube-apiserver and etcd that tests run against,
// configured the same way for every package: Klaxon's CRDs installed, binaries from
// hack/setup-envtest.sh, and etcd without fsync (a test's data need not survive a
// power cut, and fsync dominates the run time of write-heavy tests).
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// K8sVersion is the version hack/setup-envtest.sh builds.
const K8sVersion = "1.37.2"

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir is where kube-apiserver, etcd and kubectl are: KUBEBUILDER_ASSETS, or
// bin/k8s/<version> in the repository.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion)
}

// Option changes the environment New returns.
type Option func(*envtest.Environment)

// WithWebhooks installs Klaxon's admission webhooks (config/webhook), pointed at a
// local port with a generated certificate: serve them with WebhookServer(env), or
// every create of a configuration kind is refused (those webhooks fail closed).
func WithWebhooks() Option {
	return func(env *envtest.Environment) {
		env.WebhookInstallOptions.Paths = []string{filepath.Join(RepoRoot(), "config", "webhook", "manifests.yaml")}
	}
}

// New returns an environment with Klaxon's CRDs; call Start on it.
func New(opts ...Option) *envtest.Environment {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: AssetsDir(),
	}
	env.ControlPlane.Etcd = &envtest.Etcd{}
	env.ControlPlane.Etcd.Configure().Set("unsafe-no-fsync", "true")
	for _, o := range opts {
		o(env)
	}
	return env
}

// WebhookServer serves the webhooks WithWebhooks installed, once the environment runs.
func WebhookServer(env *envtest.Environment) webhook.Server {
	o := env.WebhookInstallOptions
	return webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir})
}

// startError explains a failed start: usually the binaries are not built yet.
func startError(err error) error {
	return fmt.Errorf("starting kube-apiserver and etcd from %s (run hack/setup-envtest.sh): %w", AssetsDir(), err)
}
