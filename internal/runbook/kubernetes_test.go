package runbook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// request is what the fake API server saw.
type request struct {
	method, path, query, impersonate, contentType string
	body                                          map[string]any
}

// fakeAPIServer answers every request 200 with an empty object and records it; the
// real API server's behaviour is the envtest's to prove.
func fakeAPIServer(t *testing.T) (*rest.Config, func() []request) {
	var mu sync.Mutex
	var seen []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := request{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, impersonate: r.Header.Get("Impersonate-User"),
			contentType: r.Header.Get("Content-Type")}
		_ = json.Unmarshal(raw, &req.body)
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Status","metadata":{}}`))
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL, Impersonate: rest.ImpersonationConfig{UserName: "admin-should-never-be-used"}},
		func() []request { mu.Lock(); defer mu.Unlock(); return append([]request(nil), seen...) }
}

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	return m
}

func kubeAction(k *klaxonv1.KubernetesAction, dryRun bool) Action {
	rb := dbRunbook()
	rb.Spec.Steps[2].Action = &klaxonv1.RunbookAction{Type: klaxonv1.ActionKubernetes, Kubernetes: k}
	return Action{Incident: openIncident(klaxonv1.StageContain), Step: Step{Runbook: &rb, Step: &rb.Spec.Steps[2]}, DryRun: dryRun, Key: "k", Now: t0}
}

func TestKubernetesExecutorImpersonates(t *testing.T) {
	deploy := func(op klaxonv1.KubernetesOperation) *klaxonv1.KubernetesAction {
		return &klaxonv1.KubernetesAction{Operation: op, APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	}
	tests := []struct {
		name     string
		action   *klaxonv1.KubernetesAction
		dryRun   bool
		wantPath string
		wantBody string
		wantMsg  string
	}{
		{"scale goes to the scale subresource", func() *klaxonv1.KubernetesAction {
			k := deploy(klaxonv1.OperationScale)
			k.Replicas = ptr.To[int32](0)
			return k
		}(), false, "/apis/apps/v1/namespaces/acme/deployments/web/scale", `{"spec":{"replicas":0}}`, "scale apps/v1 Deployment web to 0 replicas"},
		{"a dry run is the API server's", func() *klaxonv1.KubernetesAction {
			k := deploy(klaxonv1.OperationScale)
			k.Replicas = ptr.To[int32](3)
			return k
		}(), true, "/apis/apps/v1/namespaces/acme/deployments/web/scale", `{"spec":{"replicas":3}}`, "dry run: the API server accepted"},
		{"label sets and removes", &klaxonv1.KubernetesAction{Operation: klaxonv1.OperationLabel, APIVersion: "v1", Kind: "Pod", Name: "web-0",
			Labels: map[string]string{"quarantine": "true", "serving": ""}}, false,
			"/api/v1/namespaces/acme/pods/web-0", `{"metadata":{"labels":{"quarantine":"true","serving":null}}}`, "label v1 Pod web-0 quarantine=true serving-"},
		{"annotate", func() *klaxonv1.KubernetesAction {
			k := deploy(klaxonv1.OperationAnnotate)
			k.Annotations = map[string]string{"klaxon.dev/incident": "db-down"}
			return k
		}(), false, "/apis/apps/v1/namespaces/acme/deployments/web", `{"metadata":{"annotations":{"klaxon.dev/incident":"db-down"}}}`, "annotate"},
		{"patch sends the merge patch as written", func() *klaxonv1.KubernetesAction {
			k := deploy(klaxonv1.OperationPatch)
			k.Patch = `{"spec":{"paused":true}}`
			return k
		}(), false, "/apis/apps/v1/namespaces/acme/deployments/web", `{"spec":{"paused":true}}`, "patch apps/v1 Deployment web"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, seen := fakeAPIServer(t)
			o := KubernetesExecutor{Config: cfg, Mapper: testMapper()}.Execute(context.Background(), kubeAction(tc.action, tc.dryRun))
			if o.By != "system:serviceaccount:acme:actor" || !strings.Contains(o.Message, tc.wantMsg) {
				t.Fatalf("outcome = %+v", o)
			}
			want := klaxonv1.StepSucceeded
			if tc.dryRun {
				want = klaxonv1.StepDryRun
			}
			if o.State != want {
				t.Fatalf("state = %s, want %s (%s)", o.State, want, o.Message)
			}
			reqs := seen()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if r.method != http.MethodPatch || r.path != tc.wantPath || r.contentType != "application/merge-patch+json" {
				t.Errorf("request = %s %s (%s)", r.method, r.path, r.contentType)
			}
			// The ServiceAccount in the incident's namespace, never the base config's identity.
			if r.impersonate != "system:serviceaccount:acme:actor" {
				t.Errorf("Impersonate-User = %q", r.impersonate)
			}
			if got := strings.Contains(r.query, "dryRun=All"); got != tc.dryRun {
				t.Errorf("query %q: dry run %v, want %v", r.query, got, tc.dryRun)
			}
			var want2 map[string]any
			_ = json.Unmarshal([]byte(tc.wantBody), &want2)
			if b1, b2 := mustJSON(r.body), mustJSON(want2); b1 != b2 {
				t.Errorf("body = %s, want %s", b1, b2)
			}
		})
	}
}

func TestKubernetesExecutorRefusesBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name    string
		action  *klaxonv1.KubernetesAction
		noSA    bool
		wantMsg string
	}{
		{"a cluster-scoped object is outside the namespace", &klaxonv1.KubernetesAction{Operation: klaxonv1.OperationLabel,
			APIVersion: "v1", Kind: "Namespace", Name: "other-tenant", Labels: map[string]string{"x": "y"}}, false, "forbidden: Namespace is cluster-scoped"},
		{"no service account to act as", &klaxonv1.KubernetesAction{Operation: klaxonv1.OperationLabel,
			APIVersion: "v1", Kind: "Pod", Name: "p", Labels: map[string]string{"x": "y"}}, true, "names no serviceAccountName"},
		{"an unknown kind", &klaxonv1.KubernetesAction{Operation: klaxonv1.OperationLabel,
			APIVersion: "v1", Kind: "Gadget", Name: "g", Labels: map[string]string{"x": "y"}}, false, "Gadget"},
		{"a patch that is not JSON", &klaxonv1.KubernetesAction{Operation: klaxonv1.OperationPatch,
			APIVersion: "v1", Kind: "Pod", Name: "p", Patch: "replicas: 0"}, false, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, seen := fakeAPIServer(t)
			a := kubeAction(tc.action, false)
			if tc.noSA {
				a.Runbook.Spec.ServiceAccountName = ""
			}
			o := KubernetesExecutor{Config: cfg, Mapper: testMapper()}.Execute(context.Background(), a)
			if o.State != klaxonv1.StepFailed || !strings.Contains(o.Message, tc.wantMsg) {
				t.Fatalf("outcome = %+v, want Failed with %q", o, tc.wantMsg)
			}
			if n := len(seen()); n != 0 {
				t.Fatalf("%d requests reached the API server", n)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
