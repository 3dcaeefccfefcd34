package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/testenv"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// The tenant the alerts arrive for, and its alert source.
const (
	tenantNS   = "shop"
	sourceName = "alertmanager"
)

// harness is the control plane, the sink and what the phases share.
type harness struct {
	env        *envtest.Environment
	cfg        *rest.Config
	client     client.Client
	kubeconfig string
	out        string
	opts       options
	sink       *sink
	token      string // the alert source's bearer token
	apiserver  int    // pids, for their CPU
	etcd       int
}

// startHarness starts kube-apiserver and etcd (testenv: Klaxon's CRDs, etcd with
// --unsafe-no-fsync) and the sink, and writes a kubeconfig for the controller child.
func startHarness(opts options) (*harness, error) {
	h := &harness{env: testenv.New(), out: opts.out, opts: opts}
	cfg, err := testenv.Start(h.env)
	if err != nil {
		return nil, err
	}
	h.cfg = cfg
	h.apiserver = measure.FindPID("kube-apiserver", "--cert-dir="+h.env.ControlPlane.APIServer.CertDir)
	h.etcd = measure.FindPID("etcd", "--data-dir="+h.env.ControlPlane.Etcd.DataDir)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return h, err
	}
	if err := klaxonv1.AddToScheme(scheme); err != nil {
		return h, err
	}
	gen := rest.CopyConfig(cfg)
	gen.QPS, gen.Burst = 1000, 1000
	if h.client, err = client.New(gen, client.Options{Scheme: scheme}); err != nil {
		return h, err
	}
	h.kubeconfig = filepath.Join(h.out, "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, h.kubeconfig); err != nil {
		return h, err
	}
	if h.sink, err = newSink(); err != nil {
		return h, err
	}
	return h, nil
}

// apiserverProfile fetches a CPU profile of kube-apiserver over d into file, in the
// background.
func (h *harness) apiserverProfile(d time.Duration, file string) <-chan struct{} {
	return measure.APIServerProfile(h.cfg, d, file)
}

func (h *harness) stop() {
	if h.sink != nil {
		_ = h.sink.srv.Close()
	}
	_ = h.env.Stop()
}

// createTenant creates what a tenant declares to receive Alertmanager's alerts and
// page on them: the system namespace, a namespace, the source's token Secret, an
// AlertSource grouping by alertname, and a one-level escalation policy paging a
// responder through a webhook channel to the sink. Rate limits are raised above what
// the stream sends: the harness measures intake, not its guards against floods.
func (h *harness) createTenant(ctx context.Context) error {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	h.token = hex.EncodeToString(raw)
	unlimited := &klaxonv1.RateLimit{PerMinute: 100000, Burst: 10000}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: klaxonv1.DefaultSystemNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "alertmanager-token", Namespace: tenantNS},
			StringData: map[string]string{klaxonv1.SecretKeyAuthToken: h.token}},
		&klaxonv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: "pager", Namespace: tenantNS},
			Spec: klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook, RateLimit: unlimited,
				Webhook: &klaxonv1.WebhookChannel{URL: h.sink.url + pathKlaxon}}},
		&klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: "oncall", Namespace: tenantNS},
			Spec: klaxonv1.ResponderSpec{DisplayName: "On call", ContactMethods: []klaxonv1.ContactMethod{
				{ChannelRef: klaxonv1.ObjectReference{Name: "pager"}, Address: "oncall"}}}},
		&klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "page", Namespace: tenantNS},
			Spec: klaxonv1.EscalationPolicySpec{Levels: []klaxonv1.EscalationLevel{{
				Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "oncall"}}}}}},
		&klaxonv1.AlertSource{ObjectMeta: metav1.ObjectMeta{Name: sourceName, Namespace: tenantNS},
			Spec: klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatAlertmanager,
				Auth:                klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: "alertmanager-token"}},
				GroupBy:             []string{"alertname"},
				EscalationPolicyRef: &klaxonv1.ObjectReference{Name: "page"},
				RateLimit:           unlimited}},
	}
	for _, o := range objs {
		if err := h.client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	if h.opts.intakeOnly {
		return nil // no reconciler marks them Ready; intake needs only the source and its Secret
	}
	return h.waitReady(ctx, objs[3:]...)
}

// waitReady waits until every object is Ready=True.
func (h *harness) waitReady(ctx context.Context, objs ...client.Object) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, o := range objs {
		for {
			err := h.client.Get(ctx, client.ObjectKeyFromObject(o), o)
			if err == nil {
				if c, ok := o.(interface{ GetConditions() []metav1.Condition }); ok &&
					meta.IsStatusConditionTrue(c.GetConditions(), klaxonv1.ConditionReady) {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%T %s/%s not Ready: %w", o, o.GetNamespace(), o.GetName(), ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// backendCPU is the CPU kube-apiserver and etcd have used so far: what Klaxon's
// writes cost beyond its own process.
func (h *harness) backendCPU() time.Duration {
	var total time.Duration
	for _, pid := range []int{h.apiserver, h.etcd} {
		if pid != 0 {
			p, _ := measure.ReadProc(pid)
			total += p.CPU
		}
	}
	return total
}

// apiserverMetrics scrapes kube-apiserver's /metrics; an empty set when it cannot.
func (h *harness) apiserverMetrics() measure.Metrics {
	m, err := measure.ScrapeAPIServer(h.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "intake: scraping kube-apiserver's metrics:", err)
	}
	return m
}
