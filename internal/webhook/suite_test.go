package webhook

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// The suite installs the generated webhook configurations into a real kube-apiserver
// and serves them from a manager, so every request below goes through admission as it
// would in a cluster.
var (
	cfg       *rest.Config
	admin     client.Client
	scheme    = runtime.NewScheme()
	stopMgr   context.CancelFunc
	mgrExited chan struct{}
	// engine is the real policy engine admission uses; fakePolicy answers from it
	// unless a test scripts an answer.
	engine     *policy.Engine
	fakePolicy = &scriptedPolicy{}
)

const systemNamespace = "klaxon-system"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = klaxonv1.AddToScheme(scheme)
	env := testenv.New(testenv.WithWebhooks())
	var err error
	if engine, err = policy.NewEngine(policy.Options{SystemNamespace: systemNamespace, Timeout: 5 * time.Second}); err != nil {
		panic(err)
	}
	fakePolicy.real = EnginePolicy{Engine: engine}
	if cfg, err = testenv.Start(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: testenv.WebhookServer(env)})
	if err != nil {
		panic(err)
	}
	Setup(mgr, Options{SystemNamespace: systemNamespace, Policy: fakePolicy, Trusted: []string{"system:serviceaccount:klaxon-system:klaxon"}})
	ctx, cancel := context.WithCancel(context.Background())
	stopMgr = cancel
	mgrExited = make(chan struct{})
	go func() {
		defer close(mgrExited)
		if err := mgr.Start(ctx); err != nil {
			panic(err)
		}
	}()
	if admin, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	setupUsers(context.Background())
	return m.Run()
}

// setupUsers lets the people in the tests edit Klaxon objects, so requests can be made
// as them (impersonation) and the stamps name them.
func setupUsers(ctx context.Context) {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "klaxon-editor"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"klaxon.dev"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "klaxon-editors"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "klaxon-editor"},
		Subjects: []rbacv1.Subject{
			{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"},
			{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "bob"},
			{Kind: "ServiceAccount", Name: "klaxon", Namespace: "klaxon-system"},
		}}
	for _, o := range []client.Object{role, binding,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}} {
		if err := admin.Create(ctx, o); err != nil {
			panic(err)
		}
	}
}

// as returns a client that makes requests as user.
func as(user string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}
	return cl
}

var nsCounter int

// newNamespace creates a tenant namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	nsCounter++
	name := fmt.Sprintf("tenant-%d", nsCounter)
	if err := admin.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// scriptedPolicy answers admission as a test tells it to, and otherwise as the real
// engine does.
type scriptedPolicy struct {
	real EnginePolicy
	deny func(DenyRequest) []string
}

func (p *scriptedPolicy) Check(ctx context.Context, obj client.Object) []string {
	return p.real.Check(ctx, obj)
}

func (p *scriptedPolicy) Deny(ctx context.Context, req DenyRequest) ([]string, error) {
	if p.deny == nil {
		return p.real.Deny(ctx, req)
	}
	return p.deny(req), nil
}
