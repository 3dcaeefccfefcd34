package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

// WebhookEvent is the X-Klaxon-Event header of a runbook automation call.
const WebhookEvent = "RunbookAction"

// WebhookPayload is the JSON body a webhook action POSTs. It is signed like a webhook
// notification (X-Klaxon-Timestamp, X-Klaxon-Signature; see internal/notify's
// WEBHOOK.md), and carries Key as the Idempotency-Key header: a receiver verifies
// the signature with the Secret's signingKey and drops a key it has seen.
//
//	{
//	  "key": "6f1c2a9e-3b7d-4c1e-9a51-0d2f8e4b7c13/r0/acme/db-breach/isolate",
//	  "runbook": "acme/db-breach", "step": "isolate", "stage": "Contain",
//	  "incident": {"namespace": "acme", "name": "db-exfil", "title": "…", "severity": "SEV1", …},
//	  "sentAt": "2026-03-01T10:05:00Z"
//	}
type WebhookPayload struct {
	Key      string                 `json:"key"`
	Runbook  string                 `json:"runbook"`
	Step     string                 `json:"step"`
	Stage    klaxonv1.IncidentStage `json:"stage"`
	Incident notify.WebhookIncident `json:"incident"`
	SentAt   time.Time              `json:"sentAt"`
}

// WebhookExecutor calls automation endpoints.
type WebhookExecutor struct {
	// Secrets reads the Secret a webhook action names, uncached and only when the
	// action runs, from the Runbook's namespace.
	Secrets client.Reader
	// Client makes the call; nil for one that never follows redirects (a redirected
	// POST turns into a GET) and gives up after ActionTimeout.
	Client *http.Client
}

// Execute implements Executor. A dry run resolves the URL and sends nothing: a
// receiver might not tell a dry run from the real thing.
func (x WebhookExecutor) Execute(ctx context.Context, a Action) Outcome {
	spec := a.Spec().Webhook
	if spec == nil {
		return failed(Actor, "webhook action without webhook settings")
	}
	url, key, err := x.endpoint(ctx, a.Runbook, spec)
	if err != nil {
		return failed(Actor, err.Error())
	}
	target := notify.RedactURL(url)
	if a.DryRun {
		return succeeded(Actor, "would post to "+target, true)
	}
	body, err := json.Marshal(payload(a))
	if err != nil {
		return failed(Actor, "encoding the body: "+err.Error())
	}
	h := http.Header{}
	h.Set(notify.IdempotencyKeyHeader, a.Key)
	h.Set(notify.WebhookEventHeader, WebhookEvent)
	if err := notify.PostSigned(ctx, x.client(), url, key, h, body, a.Now); err != nil {
		// PostSigned's errors name only scheme and host: never the URL or the key.
		return failed(Actor, err.Error())
	}
	return succeeded(Actor, "posted to "+target, false)
}

// endpoint returns the URL and signing key of an action; a Secret's url wins over none.
func (x WebhookExecutor) endpoint(ctx context.Context, rb *klaxonv1.Runbook, spec *klaxonv1.WebhookAction) (string, []byte, error) {
	url := spec.URL
	var key []byte
	if spec.SecretRef != nil {
		var s corev1.Secret
		if err := x.Secrets.Get(ctx, client.ObjectKey{Namespace: rb.Namespace, Name: spec.SecretRef.Name}, &s); err != nil {
			return "", nil, fmt.Errorf("reading Secret %s/%s: %w", rb.Namespace, spec.SecretRef.Name, err)
		}
		if url == "" {
			url = string(s.Data[klaxonv1.SecretKeyURL])
		}
		key = s.Data[klaxonv1.SecretKeySigningKey]
	}
	if url == "" {
		return "", nil, fmt.Errorf("no URL: set webhook.url, or %q in the Secret webhook.secretRef names", klaxonv1.SecretKeyURL)
	}
	return url, key, nil
}

func (x WebhookExecutor) client() *http.Client {
	if x.Client != nil {
		return x.Client
	}
	return &http.Client{
		Timeout:       ActionTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func payload(a Action) WebhookPayload {
	inc := a.Incident
	p := WebhookPayload{Key: a.Key, Runbook: a.Name(), Step: a.Step.Step.Name, Stage: a.Step.Step.Stage, SentAt: a.Now.UTC(),
		Incident: notify.WebhookIncident{Namespace: inc.Namespace, Name: inc.Name, Title: inc.Spec.Title,
			Severity: inc.Status.Severity, State: inc.Status.State, Stage: inc.Status.Stage,
			Category: inc.Status.Category, Service: inc.Status.Service, Customer: inc.Spec.Customer,
			Assignee: inc.Spec.Assignee, ReopenCount: inc.Status.ReopenCount}}
	if t := inc.Status.TriggeredAt; t != nil {
		u := t.UTC()
		p.Incident.TriggeredAt = &u
	}
	if e := inc.Status.Escalation; e != nil {
		p.Incident.Level, p.Incident.Cycle = e.Level, e.Cycle
	}
	return p
}
