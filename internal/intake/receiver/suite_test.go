package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/server"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// The suite runs two receivers, each in a manager of its own (its own cache and
// index), against one real kube-apiserver: two replicas of Klaxon. Nothing else runs:
// what the tests see in the API server is what intake wrote.
var (
	scheme = runtime.NewScheme()
	// api reads and writes the API server without a cache: what is really stored.
	api client.Client
	// replicas are the two receivers, with their HTTP routing.
	replicas [2]*replica
	// clock is the receivers' clock; tests move it instead of sleeping.
	clock     = &testClock{}
	nsCounter atomic.Int32
)

const systemNamespace = "klaxon-system"

// replica is one receiver and the server routing to it.
type replica struct {
	rcv     *Receiver
	handler http.Handler
	cache   client.Client
}

// testClock is a clock tests set; it starts at the real time so objects the API
// server stamps and times the receiver uses agree.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	if os.Getenv("KLAXON_TEST_VERBOSE") != "" {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	}
	_ = clientgoscheme.AddToScheme(scheme)
	_ = klaxonv1.AddToScheme(scheme)
	clock.Set(time.Now())
	env := testenv.New()
	cfg, err := testenv.Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if api, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range replicas {
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
		if err != nil {
			panic(err)
		}
		// A flush interval longer than any test: tests flush when they want counts.
		rcv, err := New(mgr, Options{SystemNamespace: systemNamespace, Now: clock.Now, FlushInterval: time.Hour})
		if err != nil {
			panic(err)
		}
		srv := server.New("", rcv.Ready)
		rcv.Register(srv)
		replicas[i] = &replica{rcv: rcv, handler: srv.Handler(), cache: mgr.GetClient()}
		go func() {
			if err := mgr.Start(ctx); err != nil {
				panic(err)
			}
		}()
	}
	if err := api.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil {
		panic(err)
	}
	for _, r := range replicas {
		deadline := time.Now().Add(time.Minute)
		for r.rcv.Ready() != nil {
			if time.Now().After(deadline) {
				panic("receiver not ready after a minute")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return m.Run()
}

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("r%d-%d", nsCounter.Add(1), time.Now().UnixNano()%100000)
	if err := api.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

// token is the bearer token of the sources the tests create.
const token = "s3cret-token"

// source creates an AlertSource with a bearer-token Secret and waits until both
// replicas' caches have it.
func source(t *testing.T, ns, name string, spec klaxonv1.AlertSourceSpec) *klaxonv1.AlertSource {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-auth"},
		Data: map[string][]byte{klaxonv1.SecretKeyAuthToken: []byte(token)}}
	if err := api.Create(ctx, secret); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	if spec.Format == "" {
		spec.Format = klaxonv1.FormatAlertmanager
	}
	if spec.Auth.Type == "" {
		spec.Auth = klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: secret.Name}}
	}
	src := &klaxonv1.AlertSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := api.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	waitCached(t, src)
	return src
}

// waitCached waits until both replicas' caches hold obj's current version.
func waitCached(t *testing.T, obj client.Object) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range replicas {
		for {
			got := obj.DeepCopyObject().(client.Object)
			err := r.cache.Get(context.Background(), client.ObjectKeyFromObject(obj), got)
			if err == nil && got.GetResourceVersion() == obj.GetResourceVersion() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%T %s not in the cache after 30s (last error %v)", obj, obj.GetName(), err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// post sends a request to a replica and returns the recorded answer.
func post(r *replica, method, path, contentType string, body []byte, header http.Header) *httptest.ResponseRecorder {
	return serve(r, newRequest(method, path, contentType, body, header))
}

// bearer is the header of an authenticated request.
func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// amAlert is one alert of an Alertmanager payload.
type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    string            `json:"startsAt,omitempty"`
	EndsAt      string            `json:"endsAt,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
}

// amPayload renders an Alertmanager webhook payload (version 4) for a group.
func amPayload(groupKey string, alerts ...amAlert) []byte {
	raw, err := json.Marshal(map[string]any{"version": "4", "groupKey": groupKey, "status": "firing", "receiver": "klaxon",
		"groupLabels": map[string]string{}, "commonLabels": map[string]string{}, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager", "alerts": alerts})
	if err != nil {
		panic(err)
	}
	return raw
}

func firing(fp, alertname string, startsAt time.Time) amAlert {
	return amAlert{Status: "firing", Fingerprint: fp, StartsAt: startsAt.UTC().Format(time.RFC3339Nano),
		Labels: map[string]string{"alertname": alertname, "severity": "critical", "service": "orders-db"}}
}

func resolved(fp, alertname string, startsAt time.Time) amAlert {
	a := firing(fp, alertname, startsAt)
	a.Status = "resolved"
	a.EndsAt = startsAt.Add(time.Minute).UTC().Format(time.RFC3339Nano)
	return a
}

// decode reads a 2xx answer.
func decode(t *testing.T, rec *httptest.ResponseRecorder) AlertsResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp AlertsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	return resp
}

// incidents lists a namespace's incidents as the API server has them.
func incidents(t *testing.T, ns string) []klaxonv1.Incident {
	t.Helper()
	var list klaxonv1.IncidentList
	if err := api.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// incident reads one incident as the API server has it.
func incident(t *testing.T, ns, name string) *klaxonv1.Incident {
	t.Helper()
	var inc klaxonv1.Incident
	if err := api.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &inc); err != nil {
		t.Fatal(err)
	}
	return &inc
}

// flushAll writes both replicas' counts.
func flushAll() {
	for _, r := range replicas {
		r.rcv.Flush(context.Background())
	}
}
