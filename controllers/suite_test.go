package controllers

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// The suite runs every reconciler in one manager against a real kube-apiserver and
// etcd (hack/setup-envtest.sh builds them; the Makefile exports KUBEBUILDER_ASSETS).
var (
	k8sClient client.Client
	apiReader client.Reader
	// engine is the policy engine the suite's reconcilers use.
	engine *policy.Engine
	// directClient talks to the API server without a cache, for tests that call a
	// reconciler themselves.
	directClient client.Client
	restCfg      *rest.Config
	scheme       = runtime.NewScheme()
	nsCounter    atomic.Int32
)

// testPolicyTimeout bounds one policy evaluation in tests: the race detector makes
// OPA several times slower, and the 100 ms default is a production bound.
const testPolicyTimeout = 5 * time.Second

const (
	systemNamespace = "klaxon-system"
	directLabel     = "test.klaxon.dev/direct"
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	// Two cores under -race are slow: an Eventually without its own timeout waits
	// long enough for a reconcile on a loaded machine, and fails only then.
	gomega.SetDefaultEventuallyTimeout(30 * time.Second)
	gomega.SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(false), zap.Level(zapLevel())))
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := klaxonv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	env := testenv.New()
	cfg, err := testenv.Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	// Objects labelled directLabel are invisible to the suite's manager: the tests
	// that own them call the reconciler directly, step by step, on their own clock.
	notDirect, err := labels.Parse(directLabel + " != true")
	if err != nil {
		panic(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&klaxonv1.Incident{}:          {Label: notDirect},
			&klaxonv1.MaintenanceWindow{}: {Label: notDirect},
		}},
	})
	if err != nil {
		panic(err)
	}
	engine, err = policy.NewEngine(policy.Options{SystemNamespace: systemNamespace, Timeout: testPolicyTimeout})
	if err != nil {
		panic(err)
	}
	if err := SetupWithManager(mgr, suiteOptions()); err != nil {
		panic(err)
	}
	mustSetupIntake(mgr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := mgr.Start(ctx); err != nil {
			panic(err)
		}
	}()
	restCfg = cfg
	k8sClient = mgr.GetClient()
	if directClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	apiReader = mgr.GetAPIReader()
	if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil {
		panic(err)
	}
	return m.Run()
}

// zapLevel keeps the suite quiet unless KLAXON_TEST_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("KLAXON_TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// newNamespace creates a namespace of the test's own, so tests never see each other's
// objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", nsCounter.Add(1), time.Now().UnixNano()%100000)
	if err := k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

// linkKey signs the respond links in the suite's pages.
var linkKey = []byte("0123456789abcdef0123456789abcdef")

// suiteOptions are the options every manager of the suite runs with.
func suiteOptions() Options {
	return Options{SystemNamespace: systemNamespace, Engine: engine,
		Notify: dispatch.Options{BaseURL: "http://klaxon.test", LinkKeys: [][]byte{linkKey}}}
}
