package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// PagerDutyEventsURL is the Events API v2 endpoint; spec.pagerduty.url overrides it.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty's documented limits.
const (
	pagerDutyMaxSummary  = 1024 // payload.summary, characters
	pagerDutyMaxDedupKey = 255  // dedup_key, characters
	// pagerDutyMaxDetailText bounds the text in custom_details, far below the
	// 512 KB event limit.
	pagerDutyMaxDetailText = 8192
	pagerDutyMaxLinks      = 20
	pagerDutyMaxURL        = 2048
)

// pagerDutyNotifier sends Events API v2 events. Klaxon events map to actions so
// that one PagerDuty alert follows the incident through its dedup_key:
//
//	Triggered, Escalated, StageChanged -> trigger (PagerDuty folds repeated triggers
//	                                      with the same dedup_key into one alert)
//	Acknowledged                       -> acknowledge
//	Resolved                           -> resolve
//	PostmortemPublished                -> nothing is sent; Send succeeds
type pagerDutyNotifier struct {
	url        string
	routingKey string
	env        channelEnv
}

func newPagerDutyNotifier(spec klaxonv1.NotificationChannelSpec, secret map[string][]byte, env channelEnv) (Notifier, error) {
	n := &pagerDutyNotifier{url: PagerDutyEventsURL, routingKey: secretString(secret, klaxonv1.SecretKeyRoutingKey), env: env}
	if spec.PagerDuty != nil && spec.PagerDuty.URL != "" {
		n.url = spec.PagerDuty.URL
		if !isHTTPURL(n.url) {
			return nil, errors.New("spec.pagerduty.url is not an http(s) URL")
		}
	}
	return n, nil
}

// Send enqueues the delivery's event; PagerDuty answers 202 Accepted.
func (n *pagerDutyNotifier) Send(ctx context.Context, d Delivery) error {
	ctx, cancel := n.env.attempt(ctx)
	defer cancel()
	return finishSend(n.send(ctx, d), []string{n.routingKey})
}

func (n *pagerDutyNotifier) send(ctx context.Context, d Delivery) error {
	body, ok, err := pagerDutyBody(n.routingKey, d)
	if err != nil {
		return &SendError{Err: err, Permanent: true}
	}
	if !ok {
		return nil
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	res, err := postOnce(ctx, n.env.client, n.url, h, body)
	if err != nil {
		return err
	}
	if res.Status >= 200 && res.Status < 300 {
		return nil
	}
	return classifyHTTP(res, n.env.now(), "pagerduty events API "+redactURL(n.url), pagerDutyErrorDetail(res.Body))
}

// pagerDutyEvent is an Events API v2 alert event. Acknowledge and resolve events
// carry only routing_key, event_action and dedup_key, as PagerDuty documents.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
	Links       []pagerDutyLink   `json:"links,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// pagerDutyAction maps a Klaxon event to an event_action; ok is false for events
// PagerDuty has no use for.
func pagerDutyAction(e klaxonv1.IncidentEvent) (action string, ok bool) {
	switch e {
	case klaxonv1.EventTriggered, klaxonv1.EventEscalated, klaxonv1.EventStageChanged:
		return "trigger", true
	case klaxonv1.EventAcknowledged:
		return "acknowledge", true
	case klaxonv1.EventResolved:
		return "resolve", true
	}
	return "", false
}

// pagerDutySeverity maps SEV1..SEV5 to PagerDuty's four severities. An incident
// triage has not rated yet pages as "error": serious, short of the top.
func pagerDutySeverity(s klaxonv1.Severity) string {
	switch s {
	case klaxonv1.SEV1:
		return "critical"
	case klaxonv1.SEV2:
		return "error"
	case klaxonv1.SEV3:
		return "warning"
	case klaxonv1.SEV4, klaxonv1.SEV5:
		return "info"
	}
	return "error"
}

// pagerDutyDedupKey is the delivery's DedupKey, or one derived from the incident and
// its reopen count when the delivery has none (the same key DedupKey stands for).
// A key over PagerDuty's 255 characters is replaced by its SHA-256, which is as
// stable across the trigger, acknowledge and resolve of one incident.
func pagerDutyDedupKey(d Delivery) string {
	key := d.DedupKey
	if key == "" {
		inc := d.Message.Incident
		key = DedupKey(inc.Namespace, inc.Name, inc.ReopenCount)
	}
	key = strings.ToValidUTF8(key, "\uFFFD")
	if len([]rune(key)) > pagerDutyMaxDedupKey {
		sum := sha256.Sum256([]byte(key))
		key = "klaxon-sha256-" + hex.EncodeToString(sum[:])
	}
	return key
}

// pagerDutyBody renders the event for a delivery; ok is false when the event is not
// sent to PagerDuty at all.
func pagerDutyBody(routingKey string, d Delivery) (body []byte, ok bool, err error) {
	action, ok := pagerDutyAction(d.Message.Event)
	if !ok {
		return nil, false, nil
	}
	ev := pagerDutyEvent{RoutingKey: routingKey, EventAction: action, DedupKey: pagerDutyDedupKey(d)}
	if action == "trigger" {
		m := d.Message
		inc := m.Incident
		summary := severityHeadline(m, " · ")
		source := inc.Namespace + "/" + inc.Name
		if inc.Namespace == "" && inc.Name == "" {
			source = "klaxon"
		}
		group := inc.Customer
		if group == "" {
			group = inc.Namespace
		}
		ev.Payload = &pagerDutyPayload{
			Summary:       truncateRunes(summary, pagerDutyMaxSummary),
			Source:        truncateRunes(source, pagerDutyMaxSummary),
			Severity:      pagerDutySeverity(inc.Severity),
			Component:     truncateRunes(inc.Service, pagerDutyMaxSummary),
			Group:         truncateRunes(group, pagerDutyMaxSummary),
			Class:         truncateRunes(inc.Category, pagerDutyMaxSummary),
			CustomDetails: pagerDutyDetails(m),
		}
		if !inc.TriggeredAt.IsZero() {
			ev.Payload.Timestamp = inc.TriggeredAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		}
		ev.Links = pagerDutyLinks(m.Links)
		ev.Client = "Klaxon"
		ev.ClientURL = webURL(m.Links.Incident, pagerDutyMaxURL)
	}
	body, err = jsonMarshal(ev)
	if err != nil {
		return nil, false, fmt.Errorf("encode pagerduty event: %w", err)
	}
	return body, true, nil
}

// pagerDutyDetails is what PagerDuty shows under "Custom Details".
func pagerDutyDetails(m Message) map[string]any {
	inc := m.Incident
	details := map[string]any{
		"event":       string(m.Event),
		"incident":    inc.Namespace + "/" + inc.Name,
		"title":       truncateRunes(inc.Title, pagerDutyMaxSummary),
		"state":       string(inc.State),
		"stage":       string(inc.Stage),
		"reopenCount": inc.ReopenCount,
	}
	optional := map[string]string{
		"severity": string(inc.Severity), "service": inc.Service, "customer": inc.Customer,
		"category": inc.Category, "assignee": inc.Assignee,
		"text": m.Text,
	}
	for k, v := range optional {
		if v != "" {
			details[k] = truncateRunes(v, pagerDutyMaxDetailText)
		}
	}
	if inc.Level > 0 {
		details["escalationLevel"] = inc.Level
		details["escalationCycle"] = inc.Cycle
	}
	return details
}

func pagerDutyLinks(l Links) []pagerDutyLink {
	var out []pagerDutyLink
	add := func(href, text string) {
		if u := webURL(href, pagerDutyMaxURL); u != "" && len(out) < pagerDutyMaxLinks {
			out = append(out, pagerDutyLink{Href: u, Text: truncateRunes(oneLine(text), 256)})
		}
	}
	add(l.Incident, "Incident in Klaxon")
	add(l.Acknowledge, "Acknowledge in Klaxon")
	add(l.Resolve, "Resolve in Klaxon")
	for _, rb := range l.Runbooks {
		title := rb.Title
		if strings.TrimSpace(title) == "" {
			title = "Runbook"
		}
		add(rb.URL, "Runbook: "+title)
	}
	return out
}

// pagerDutyErrorDetail quotes PagerDuty's explanation of a refused event:
// {"status":"invalid event","message":"Event object is invalid","errors":["..."]}.
func pagerDutyErrorDetail(body []byte) string {
	var r struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(body, &r) != nil || (r.Message == "" && len(r.Errors) == 0) {
		return ""
	}
	detail := r.Message
	if len(r.Errors) > 0 {
		detail += " (" + strings.Join(r.Errors, "; ") + ")"
	}
	return bodySnippet([]byte(detail))
}
