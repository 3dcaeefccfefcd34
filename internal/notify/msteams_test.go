package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func newTeamsForTest(t *testing.T, hookURL string) Notifier {
	t.Helper()
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelMSTeams, SecretRef: &klaxonv1.SecretReference{Name: "teams"}},
		map[string][]byte{"url": []byte(hookURL)}, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTeamsGolden checks the message Microsoft documents for incoming webhooks and
// the Workflows webhook trigger: a "message" with one Adaptive Card attachment.
func TestTeamsGolden(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusAccepted, "", nil)
	n := newTeamsForTest(t, srv.URL+"/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s")
	if err := n.Send(context.Background(), testDelivery()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := receive(t, reqs)
	if r.Method != http.MethodPost || r.Path != "/workflows/abc/triggers/manual/paths/invoke" || !strings.Contains(r.Query, "sig=s") {
		t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if err := checkTeamsCard(r.Body); err != nil {
		t.Error(err)
	}
	checkGolden(t, "msteams_escalated.json", r.Body)
}

func TestTeamsLongIncidentFits(t *testing.T) {
	for name, d := range map[string]Delivery{"long": longDelivery(), "huge links": hugeLinksDelivery()} {
		t.Run(name, func(t *testing.T) {
			body, err := teamsPayload(d.Message)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > teamsMaxPayloadBytes {
				t.Errorf("card has %d bytes, limit %d", len(body), teamsMaxPayloadBytes)
			}
			// The text fills most of the budget, not a sliver of it.
			if name == "long" && len(body) < teamsMaxPayloadBytes-1024 {
				t.Errorf("card has only %d bytes: the text was cut more than needed", len(body))
			}
			if err := checkTeamsCard(body); err != nil {
				t.Error(err)
			}
			if !strings.Contains(string(body), "…") {
				t.Error("a long incident was not visibly truncated")
			}
		})
	}
}

// hugeLinksDelivery has links so long that even the card without text is too big
// until the runbooks go.
func hugeLinksDelivery() Delivery {
	d := longDelivery()
	d.Message.Links.Runbooks = nil
	for i := range 30 {
		d.Message.Links.Runbooks = append(d.Message.Links.Runbooks,
			Link{Title: strings.Repeat("\"", 300), URL: fmt.Sprintf("https://r.example.com/%d/%s", i, strings.Repeat("y", 2000))})
	}
	return d
}

func TestTeamsFailures(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		body       string
		header     http.Header
		wantErr    bool
		permanent  bool
		retryAfter time.Duration
	}{
		{"connector success", 200, "1", nil, false, false, 0},
		{"workflows accepted", 202, "", nil, false, false, 0},
		{"connector 429 inside 200", 200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0", nil, true, false, 0},
		{"connector 413 inside 200", 200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tcid=0", nil, true, true, 0},
		{"connector unreachable inside 200", 200, "Webhook message delivery failed with error: Error contacting Microsoft Teams endpoint", nil, true, false, 0},
		{"429", 429, "", http.Header{"Retry-After": {"10"}}, true, false, 10 * time.Second},
		{"400", 400, "Bad payload", nil, true, true, 0},
		{"404 workflow deleted", 404, "", nil, true, true, 0},
		{"502", 502, "", nil, true, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := captureServer(t, tc.status, tc.body, tc.header)
			n := newTeamsForTest(t, srv.URL+"/webhookb2/secret")
			err := n.Send(context.Background(), testDelivery())
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			se := asSendError(t, err)
			if se.Permanent != tc.permanent || se.RetryAfter != tc.retryAfter {
				t.Errorf("got %v (permanent=%v retryAfter=%s), want permanent=%v retryAfter=%s",
					se, se.Permanent, se.RetryAfter, tc.permanent, tc.retryAfter)
			}
		})
	}
}

// FuzzTeamsCard: any incident gives a valid card within 28 KB.
func FuzzTeamsCard(f *testing.F) {
	f.Add("Checkout returns 500s", "[SEV1] Checkout", "text **bold**", "runbook", "https://r.example.com/x", "svc")
	f.Add("", "", "", "", "", "")
	f.Add(strings.Repeat("\"", 300), strings.Repeat("\x01", 300), strings.Repeat("\\", 500), "[x](y)", "https://x/(a)", "\xff")
	f.Fuzz(func(t *testing.T, title, subject, text, rbTitle, rbURL, service string) {
		m := testDelivery().Message
		m.Incident.Title = title
		m.Subject = subject
		m.Text = text
		m.Incident.Service = service
		m.Links.Runbooks = []Link{{Title: rbTitle, URL: rbURL}}
		m.Links.Resolve = rbURL
		if enc, _ := jsonMarshal(text); jsonStringLen(text) < len(enc)-2 {
			t.Errorf("jsonStringLen(%q) = %d, encoded %d bytes", text, jsonStringLen(text), len(enc)-2)
		}
		body, err := teamsPayload(m)
		if err != nil {
			t.Fatalf("teamsPayload: %v", err)
		}
		if len(body) > teamsMaxPayloadBytes {
			t.Fatalf("card has %d bytes", len(body))
		}
		if err := checkTeamsCard(body); err != nil {
			t.Fatal(err)
		}
	})
}

// checkTeamsCard validates the message envelope and the Adaptive Card 1.4 shape.
func checkTeamsCard(body []byte) error {
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Schema  string           `json:"$schema"`
				Type    string           `json:"type"`
				Version string           `json:"version"`
				Body    []map[string]any `json:"body"`
				Actions []map[string]any `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return fmt.Errorf("card is not JSON: %w", err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 {
		return fmt.Errorf("envelope type %q with %d attachments", msg.Type, len(msg.Attachments))
	}
	a := msg.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" {
		return fmt.Errorf("contentType %q", a.ContentType)
	}
	c := a.Content
	if c.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" || c.Type != "AdaptiveCard" || c.Version != "1.4" {
		return fmt.Errorf("card header %q %q %q", c.Schema, c.Type, c.Version)
	}
	if len(c.Body) == 0 {
		return fmt.Errorf("card has no body")
	}
	for i, el := range c.Body {
		switch el["type"] {
		case "TextBlock":
			if s, _ := el["text"].(string); strings.TrimSpace(s) == "" {
				return fmt.Errorf("body[%d]: empty TextBlock", i)
			}
		case "FactSet":
			facts, _ := el["facts"].([]any)
			if len(facts) == 0 {
				return fmt.Errorf("body[%d]: empty FactSet", i)
			}
		default:
			return fmt.Errorf("body[%d]: unexpected element %v", i, el["type"])
		}
	}
	for i, act := range c.Actions {
		u, _ := act["url"].(string)
		pu, err := url.Parse(u)
		if act["type"] != "Action.OpenUrl" || err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
			return fmt.Errorf("actions[%d]: %v", i, act)
		}
		if title, _ := act["title"].(string); title == "" {
			return fmt.Errorf("actions[%d]: no title", i)
		}
	}
	return nil
}
