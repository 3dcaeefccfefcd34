package runbook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

// webhookAction is the "hook" step of dbRunbook, pointed at url through a Secret that
// also holds the signing key.
func webhookAction(url string, dryRun bool) (Action, *fake.ClientBuilder) {
	rb := dbRunbook()
	rb.Spec.Steps[3].Action.Webhook = &klaxonv1.WebhookAction{SecretRef: &klaxonv1.SecretReference{Name: "automation"}}
	inc := openIncident(klaxonv1.StageContain)
	inc.Status.Severity, inc.Status.Service = klaxonv1.SEV1, "db"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "automation"},
		Data: map[string][]byte{"url": []byte(url), "signingKey": []byte("s3cret-signing-key")}}
	a := Action{Incident: inc, Step: Step{Runbook: &rb, Step: &rb.Spec.Steps[3]}, DryRun: dryRun, Key: "r0/acme/db/hook", Now: t0}
	return a, fake.NewClientBuilder().WithObjects(secret)
}

func TestWebhookExecutorSignsTheCall(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		// What a receiver does: verify the signature with the shared key.
		if err := notify.VerifyWebhookSignature([]byte("s3cret-signing-key"), r.Header.Get(notify.WebhookTimestampHeader),
			r.Header.Get(notify.WebhookSignatureHeader), body, t0, 0); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if got := r.Header.Get(notify.IdempotencyKeyHeader); got != "r0/acme/db/hook" {
			t.Errorf("Idempotency-Key = %q", got)
		}
		if got := r.Header.Get(notify.WebhookEventHeader); got != WebhookEvent {
			t.Errorf("X-Klaxon-Event = %q", got)
		}
		var p WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("body: %v", err)
		}
		if p.Runbook != "acme/db" || p.Step != "hook" || p.Stage != klaxonv1.StageContain || p.Key != "r0/acme/db/hook" ||
			p.Incident.Name != "db-down" || p.Incident.Severity != klaxonv1.SEV1 || p.Incident.Service != "db" || p.Incident.TriggeredAt == nil {
			t.Errorf("payload = %+v", p)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	a, cb := webhookAction(srv.URL+"/hooks/isolate?token=tok-0123456789abcdef", false)
	o := WebhookExecutor{Secrets: cb.Build()}.Execute(context.Background(), a)
	if o.State != klaxonv1.StepSucceeded || o.By != "klaxon" || calls.Load() != 1 {
		t.Fatalf("outcome = %+v after %d calls", o, calls.Load())
	}
	if strings.Contains(o.Message, "token") || !strings.Contains(o.Message, "posted to http://127.0.0.1") {
		t.Errorf("message %q must name the host and nothing more", o.Message)
	}
}

func TestWebhookExecutorFailureKeepsTheURLSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A receiver that echoes the request URL in its error page.
		http.Error(w, "cannot handle "+r.URL.String(), http.StatusInternalServerError)
	}))
	defer srv.Close()
	a, cb := webhookAction(srv.URL+"/hooks/tok-0123456789abcdef", false)
	o := WebhookExecutor{Secrets: cb.Build()}.Execute(context.Background(), a)
	if o.State != klaxonv1.StepFailed || !strings.Contains(o.Message, "500") {
		t.Fatalf("outcome = %+v", o)
	}
	if strings.Contains(o.Message, "tok-0123456789abcdef") {
		t.Fatalf("the URL's credential leaked into the outcome: %q", o.Message)
	}
}

func TestWebhookExecutorDryRunSendsNothing(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	a, cb := webhookAction(srv.URL+"/x", true)
	o := WebhookExecutor{Secrets: cb.Build()}.Execute(context.Background(), a)
	if o.State != klaxonv1.StepDryRun || calls.Load() != 0 || !strings.Contains(o.Message, "would post to") {
		t.Fatalf("dry run: outcome %+v, %d calls", o, calls.Load())
	}
}

func TestWebhookExecutorMissingSecret(t *testing.T) {
	a, _ := webhookAction("http://unused", false)
	o := WebhookExecutor{Secrets: fake.NewClientBuilder().Build()}.Execute(context.Background(), a)
	if o.State != klaxonv1.StepFailed || !strings.Contains(o.Message, "Secret acme/automation") {
		t.Fatalf("outcome = %+v", o)
	}
}
