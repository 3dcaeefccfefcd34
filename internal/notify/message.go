package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Message is what one notification says, rendered for one audience and channel type.
type Message struct {
	// Event announced.
	Event klaxonv1.IncidentEvent
	// Incident is the incident as of the event.
	Incident IncidentSummary
	// Subject is a one-line headline: the e-mail subject, the chat header, the
	// PagerDuty summary.
	Subject string
	// Text is the body: Markdown for chat channels, plain text for e-mail.
	Text string
	// HTML is the HTML part of e-mail; empty for other channels.
	HTML string
	// Links to act on the incident and to read more.
	Links Links
}

// IncidentSummary is the part of an incident a message reports.
type IncidentSummary struct {
	Namespace   string
	Name        string
	Title       string
	Severity    klaxonv1.Severity
	State       klaxonv1.IncidentState
	Stage       klaxonv1.IncidentStage
	Category    string
	Service     string
	Customer    string
	Assignee    string
	TriggeredAt time.Time
	ReopenCount int32
	// Level and Cycle of the escalation the message belongs to (0 outside escalation).
	Level int32
	Cycle int32
}

// Links are URLs a message carries.
type Links struct {
	// Acknowledge and Resolve are signed, expiring links for the paged responder.
	Acknowledge string
	Resolve     string
	// Incident is the incident's page on the dashboard.
	Incident string
	// Runbooks attached to the incident.
	Runbooks []Link
}

// Link is a titled URL.
type Link struct {
	Title string
	URL   string
}

// Delivery is one message to one recipient through one channel.
type Delivery struct {
	Message Message
	// Address of the recipient on the channel: a contact method's or a group
	// channel's address (an e-mail address, a Slack channel ID); may be empty.
	Address string
	// Key identifies the delivery across incidents (DeliveryKey: the incident's UID
	// and the key in its notification log); webhook receivers get it as the
	// Idempotency-Key header.
	Key string
	// DedupKey is one key per incident and reopen, so PagerDuty's trigger,
	// acknowledge and resolve reach the same alert.
	DedupKey string
}

// Notifier delivers messages through one NotificationChannel.
type Notifier interface {
	// Send makes one attempt. Its error is a *SendError when the attempt says whether
	// to retry.
	Send(ctx context.Context, d Delivery) error
}

// SendError says how a failed attempt may be retried.
type SendError struct {
	// Err is what went wrong; it never contains a secret URL or token.
	Err error
	// Permanent failures (most 4xx, a rejected address) are not retried; the next
	// contact method is tried instead.
	Permanent bool
	// RetryAfter is how long the receiver asked to wait (429 or 503 Retry-After).
	RetryAfter time.Duration
	// StatusCode of the HTTP response, when there was one.
	StatusCode int
}

func (e *SendError) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s failure (HTTP %d): %v", kind, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("%s failure: %v", kind, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// IsPermanent reports whether err says not to retry.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// fact is one labelled detail of an incident in a chat message.
type fact struct{ Title, Value string }

// incidentFacts are the details chat cards show (Slack fields, Teams facts), in
// order, each on one line; empty ones are left out.
func incidentFacts(m Message) []fact {
	inc := m.Incident
	var facts []fact
	add := func(title, value string) {
		if value = strings.TrimSpace(oneLine(value)); value != "" {
			facts = append(facts, fact{Title: title, Value: value})
		}
	}
	add("Severity", string(inc.Severity))
	add("State", string(inc.State))
	add("Stage", string(inc.Stage))
	add("Event", string(m.Event))
	add("Service", inc.Service)
	add("Customer", inc.Customer)
	add("Category", inc.Category)
	add("Assignee", inc.Assignee)
	if inc.Level > 0 {
		add("Escalation", fmt.Sprintf("level %d, cycle %d", inc.Level, inc.Cycle))
	}
	return facts
}
