package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/signature"
)

// Headers of a webhook delivery. WEBHOOK.md documents them for receivers.
const (
	// IdempotencyKeyHeader carries Delivery.Key: the same page retried, or repeated
	// after a controller crash, has the same key, so a receiver can drop repeats.
	IdempotencyKeyHeader = "Idempotency-Key"
	// WebhookEventHeader carries the event, e.g. "Triggered".
	WebhookEventHeader = "X-Klaxon-Event"
	// WebhookTimestampHeader carries the signing time in Unix seconds.
	WebhookTimestampHeader = signature.TimestampHeader
	// WebhookSignatureHeader carries "sha256=" and the hex HMAC-SHA256 of
	// "<timestamp>.<body>" under the channel Secret's signingKey.
	WebhookSignatureHeader = signature.SignatureHeader
)

// DefaultWebhookSignatureWindow is how far a signature's timestamp may be from the
// receiver's clock when VerifyWebhookSignature is given no window.
const DefaultWebhookSignatureWindow = signature.DefaultWindow

// ErrInvalidWebhookSignature is wrapped by every error VerifyWebhookSignature returns.
var ErrInvalidWebhookSignature = errors.New("invalid webhook signature")

// WebhookPayload is the JSON body a webhook channel POSTs, one per delivery. Every
// key is always present; strings are empty and triggeredAt is null when unknown.
//
//	{
//	  "event": "Escalated",                  // Triggered | Acknowledged | Escalated | StageChanged | Resolved | PostmortemPublished
//	  "key": "…",                            // Delivery.Key, also the Idempotency-Key header
//	  "incident": {
//	    "namespace": "shop", "name": "checkout-5xx", "title": "Checkout returns 500s",
//	    "severity": "SEV1", "state": "Triggered", "stage": "Triage",
//	    "category": "availability", "service": "checkout", "customer": "acme",
//	    "assignee": "alice", "triggeredAt": "2026-03-01T10:00:00Z",
//	    "reopenCount": 0, "level": 2, "cycle": 0
//	  },
//	  "subject": "…", "text": "…",           // rendered for this audience
//	  "links": {"acknowledge": "…", "resolve": "…", "incident": "…",
//	            "runbooks": [{"title": "…", "url": "…"}]},
//	  "address": "…",                        // the recipient's address on this channel, may be empty
//	  "sentAt": "2026-03-01T10:05:00Z"        // the same instant as X-Klaxon-Timestamp
//	}
type WebhookPayload struct {
	Event    klaxonv1.IncidentEvent `json:"event"`
	Key      string                 `json:"key"`
	Incident WebhookIncident        `json:"incident"`
	Subject  string                 `json:"subject"`
	Text     string                 `json:"text"`
	Links    WebhookLinks           `json:"links"`
	Address  string                 `json:"address"`
	SentAt   time.Time              `json:"sentAt"`
}

// WebhookIncident is the incident part of a WebhookPayload.
type WebhookIncident struct {
	Namespace   string                 `json:"namespace"`
	Name        string                 `json:"name"`
	Title       string                 `json:"title"`
	Severity    klaxonv1.Severity      `json:"severity"`
	State       klaxonv1.IncidentState `json:"state"`
	Stage       klaxonv1.IncidentStage `json:"stage"`
	Category    string                 `json:"category"`
	Service     string                 `json:"service"`
	Customer    string                 `json:"customer"`
	Assignee    string                 `json:"assignee"`
	TriggeredAt *time.Time             `json:"triggeredAt"`
	ReopenCount int32                  `json:"reopenCount"`
	Level       int32                  `json:"level"`
	Cycle       int32                  `json:"cycle"`
}

// WebhookLinks are the links of a WebhookPayload. Acknowledge and resolve links are
// signed for the paged responder and expire.
type WebhookLinks struct {
	Acknowledge string        `json:"acknowledge"`
	Resolve     string        `json:"resolve"`
	Incident    string        `json:"incident"`
	Runbooks    []WebhookLink `json:"runbooks"`
}

// WebhookLink is a titled URL in a WebhookPayload.
type WebhookLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// webhookNotifier POSTs a WebhookPayload to an HTTP endpoint.
type webhookNotifier struct {
	url        string
	signingKey []byte
	env        channelEnv
	secrets    []string
}

func newWebhookNotifier(spec klaxonv1.NotificationChannelSpec, secret map[string][]byte, env channelEnv) (Notifier, error) {
	n := &webhookNotifier{env: env}
	if spec.Webhook != nil && spec.Webhook.URL != "" {
		n.url = spec.Webhook.URL
		if !isHTTPURL(n.url) {
			return nil, errors.New("spec.webhook.url is not an http(s) URL")
		}
	} else {
		// CheckSecret has verified that the Secret's url is present and usable.
		n.url = secretString(secret, klaxonv1.SecretKeyURL)
		n.secrets = urlSecrets(n.url)
	}
	if key := secret[klaxonv1.SecretKeySigningKey]; len(key) > 0 {
		n.signingKey = key
		n.secrets = append(n.secrets, string(key))
	}
	return n, nil
}

// Send POSTs the delivery's WebhookPayload; any 2xx is success.
func (n *webhookNotifier) Send(ctx context.Context, d Delivery) error {
	ctx, cancel := n.env.attempt(ctx)
	defer cancel()
	return finishSend(n.send(ctx, d), n.secrets)
}

func (n *webhookNotifier) send(ctx context.Context, d Delivery) error {
	now := n.env.now()
	body, err := webhookBody(d, now)
	if err != nil {
		return &SendError{Err: err, Permanent: true}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(IdempotencyKeyHeader, headerValue(d.Key))
	h.Set(WebhookEventHeader, headerValue(string(d.Message.Event)))
	h.Set(WebhookTimestampHeader, ts)
	if len(n.signingKey) > 0 {
		h.Set(WebhookSignatureHeader, webhookSignature(n.signingKey, ts, body))
	}
	res, err := postOnce(ctx, n.env.client, n.url, h, body)
	if err != nil {
		return err
	}
	if res.Status >= 200 && res.Status < 300 {
		return nil
	}
	return classifyHTTP(res, now, "webhook "+redactURL(n.url), "")
}

// webhookBody renders the JSON body of a delivery.
func webhookBody(d Delivery, now time.Time) ([]byte, error) {
	m := d.Message
	inc := m.Incident
	p := WebhookPayload{
		Event: m.Event,
		Key:   d.Key,
		Incident: WebhookIncident{
			Namespace: inc.Namespace, Name: inc.Name, Title: inc.Title,
			Severity: inc.Severity, State: inc.State, Stage: inc.Stage,
			Category: inc.Category, Service: inc.Service, Customer: inc.Customer,
			Assignee: inc.Assignee, ReopenCount: inc.ReopenCount,
			Level: inc.Level, Cycle: inc.Cycle,
		},
		Subject: m.Subject,
		Text:    m.Text,
		Links: WebhookLinks{
			Acknowledge: m.Links.Acknowledge,
			Resolve:     m.Links.Resolve,
			Incident:    m.Links.Incident,
			Runbooks:    make([]WebhookLink, 0, len(m.Links.Runbooks)),
		},
		Address: d.Address,
		SentAt:  now.UTC(),
	}
	if !inc.TriggeredAt.IsZero() {
		t := inc.TriggeredAt.UTC()
		p.Incident.TriggeredAt = &t
	}
	for _, rb := range m.Links.Runbooks {
		p.Links.Runbooks = append(p.Links.Runbooks, WebhookLink{Title: rb.Title, URL: rb.URL})
	}
	body, err := jsonMarshal(p)
	if err != nil {
		// Only a time outside years 0-9999 can fail here.
		return nil, fmt.Errorf("encode webhook body: %w", err)
	}
	return body, nil
}

// webhookSignature is "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>"
// (package signature).
func webhookSignature(key []byte, timestamp string, body []byte) string {
	return signature.Sign(key, timestamp, body)
}

// VerifyWebhookSignature checks a webhook delivery the way a receiver should: the
// X-Klaxon-Signature header (sig) must be the HMAC-SHA256 under key of the
// X-Klaxon-Timestamp header (timestamp), a dot and the raw body, and the timestamp
// must be within window of now, so a captured request cannot be replayed later.
// A window of zero or less means DefaultWebhookSignatureWindow. Every error wraps
// ErrInvalidWebhookSignature; the comparison takes constant time.
func VerifyWebhookSignature(key []byte, timestamp, sig string, body []byte, now time.Time, window time.Duration) error {
	if err := signature.Verify([][]byte{key}, timestamp, sig, body, now, window); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidWebhookSignature, err)
	}
	return nil
}

// headerValue makes s safe as an HTTP header value: Go's client refuses a request
// whose header holds a control character, and one odd key must not block a page.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
