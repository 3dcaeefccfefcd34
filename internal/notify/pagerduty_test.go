package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// pagerDutyAccepted is the Events API v2 success answer.
const pagerDutyAccepted = `{"status":"success","message":"Event processed","dedup_key":"klaxon/shop/checkout-5xx/0"}`

const testRoutingKey = "R0123456789abcdef0123456789abcde"

func newPagerDutyForTest(t *testing.T, srvURL string) Notifier {
	t.Helper()
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: &klaxonv1.SecretReference{Name: "pd"},
		PagerDuty: &klaxonv1.PagerDutyChannel{URL: srvURL + "/v2/enqueue"}},
		map[string][]byte{"routingKey": []byte(testRoutingKey)}, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPagerDutyGolden checks the requests PagerDuty's Events API v2 documents for
// each Klaxon event: a full trigger, and acknowledge and resolve events that carry
// only routing_key, event_action and dedup_key, all with one dedup_key.
func TestPagerDutyGolden(t *testing.T) {
	cases := []struct {
		event  klaxonv1.IncidentEvent
		golden string
		keys   string
	}{
		{klaxonv1.EventTriggered, "pagerduty_trigger.json", "client,client_url,dedup_key,event_action,links,payload,routing_key"},
		{klaxonv1.EventAcknowledged, "pagerduty_acknowledge.json", "dedup_key,event_action,routing_key"},
		{klaxonv1.EventResolved, "pagerduty_resolve.json", "dedup_key,event_action,routing_key"},
	}
	for _, tc := range cases {
		t.Run(string(tc.event), func(t *testing.T) {
			srv, reqs := captureServer(t, http.StatusAccepted, pagerDutyAccepted, http.Header{"Content-Type": {"application/json"}})
			n := newPagerDutyForTest(t, srv.URL)
			d := testDelivery()
			d.Message.Event = tc.event
			if err := n.Send(context.Background(), d); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := receive(t, reqs)
			if r.Method != http.MethodPost || r.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request %s %s (%s)", r.Method, r.Path, r.Header.Get("Content-Type"))
			}
			var ev map[string]any
			if err := json.Unmarshal(r.Body, &ev); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range ev {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if got := strings.Join(keys, ","); got != tc.keys {
				t.Errorf("keys %s, want %s", got, tc.keys)
			}
			if ev["dedup_key"] != d.DedupKey || ev["routing_key"] != testRoutingKey {
				t.Errorf("dedup_key %v routing_key %v", ev["dedup_key"], ev["routing_key"])
			}
			checkGolden(t, tc.golden, r.Body)
		})
	}
}

func TestPagerDutyEventMapping(t *testing.T) {
	cases := map[klaxonv1.IncidentEvent]string{
		klaxonv1.EventTriggered:           "trigger",
		klaxonv1.EventEscalated:           "trigger",
		klaxonv1.EventStageChanged:        "trigger",
		klaxonv1.EventAcknowledged:        "acknowledge",
		klaxonv1.EventResolved:            "resolve",
		klaxonv1.EventPostmortemPublished: "",
	}
	for event, want := range cases {
		srv, reqs := captureServer(t, http.StatusAccepted, pagerDutyAccepted, nil)
		n := newPagerDutyForTest(t, srv.URL)
		d := testDelivery()
		d.Message.Event = event
		if err := n.Send(context.Background(), d); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		if want == "" {
			select {
			case r := <-reqs:
				t.Errorf("%s sent %s", event, r.Body)
			default:
			}
			continue
		}
		var ev pagerDutyEvent
		_ = json.Unmarshal(receive(t, reqs).Body, &ev)
		if ev.EventAction != want {
			t.Errorf("%s -> %q, want %q", event, ev.EventAction, want)
		}
	}
}

func TestPagerDutySeverity(t *testing.T) {
	cases := map[klaxonv1.Severity]string{
		klaxonv1.SEV1: "critical", klaxonv1.SEV2: "error", klaxonv1.SEV3: "warning",
		klaxonv1.SEV4: "info", klaxonv1.SEV5: "info", "": "error",
	}
	for sev, want := range cases {
		if got := pagerDutySeverity(sev); got != want {
			t.Errorf("%q -> %q, want %q", sev, got, want)
		}
	}
}

func TestPagerDutyLimits(t *testing.T) {
	d := longDelivery()
	body, ok, err := pagerDutyBody(testRoutingKey, d)
	if err != nil || !ok {
		t.Fatalf("pagerDutyBody: ok=%v err=%v", ok, err)
	}
	var ev pagerDutyEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(ev.Payload.Summary); n > pagerDutyMaxSummary || !strings.HasSuffix(ev.Payload.Summary, "…") {
		t.Errorf("summary has %d characters (limit %d), truncated=%v", n, pagerDutyMaxSummary, strings.HasSuffix(ev.Payload.Summary, "…"))
	}
	if len(body) > 512<<10 {
		t.Errorf("event has %d bytes, over PagerDuty's 512 KB", len(body))
	}

	// A dedup key over 255 characters becomes its hash, the same for every action.
	d.DedupKey = strings.Repeat("k", 300)
	keys := map[string]bool{}
	for _, e := range []klaxonv1.IncidentEvent{klaxonv1.EventTriggered, klaxonv1.EventAcknowledged, klaxonv1.EventResolved} {
		d.Message.Event = e
		body, _, _ := pagerDutyBody(testRoutingKey, d)
		var ev pagerDutyEvent
		_ = json.Unmarshal(body, &ev)
		if len(ev.DedupKey) > pagerDutyMaxDedupKey {
			t.Errorf("dedup_key has %d characters", len(ev.DedupKey))
		}
		keys[ev.DedupKey] = true
	}
	if len(keys) != 1 {
		t.Errorf("trigger, acknowledge and resolve used %d dedup keys", len(keys))
	}

	// Without a DedupKey, one is derived from the incident and its reopen count.
	d = testDelivery()
	d.DedupKey = ""
	d.Message.Incident.ReopenCount = 2
	if got := pagerDutyDedupKey(d); got != "klaxon/shop/checkout-5xx/2" {
		t.Errorf("derived dedup key %q", got)
	}
}

func TestPagerDutyFailures(t *testing.T) {
	cases := []struct {
		status     int
		body       string
		header     http.Header
		permanent  bool
		retryAfter time.Duration
		quote      string
	}{
		{400, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`, nil, true, 0, "Event object is invalid"},
		{429, ``, nil, false, 0, ""},
		{429, ``, http.Header{"Retry-After": {"20"}}, false, 20 * time.Second, ""},
		{500, ``, nil, false, 0, ""},
		{503, ``, nil, false, 0, ""},
		{404, `not found`, nil, true, 0, ""},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv, _ := captureServer(t, tc.status, tc.body, tc.header)
			err := newPagerDutyForTest(t, srv.URL).Send(context.Background(), testDelivery())
			se := asSendError(t, err)
			if se.Permanent != tc.permanent || se.RetryAfter != tc.retryAfter || se.StatusCode != tc.status {
				t.Errorf("got %+v, want permanent=%v retryAfter=%s", se, tc.permanent, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.quote) {
				t.Errorf("error %q does not quote %q", err, tc.quote)
			}
		})
	}
}

// FuzzPagerDutyEvent: any incident gives a valid event within PagerDuty's limits.
func FuzzPagerDutyEvent(f *testing.F) {
	f.Add("Checkout returns 500s", "[SEV1] Checkout", "text", "https://r.example.com/x", "dedup", "Triggered")
	f.Add("", "", "", "", "", "")
	f.Add(strings.Repeat("é", 1100), "\x00\n", "\xff", "javascript:x", strings.Repeat("k", 300), "Resolved")
	f.Fuzz(func(t *testing.T, title, subject, text, link, dedup, event string) {
		d := testDelivery()
		d.Message.Incident.Title = title
		d.Message.Subject = subject
		d.Message.Text = text
		d.Message.Links.Runbooks = []Link{{Title: title, URL: link}}
		d.DedupKey = dedup
		d.Message.Event = klaxonv1.IncidentEvent(event)
		body, ok, err := pagerDutyBody(testRoutingKey, d)
		if err != nil {
			t.Fatalf("pagerDutyBody: %v", err)
		}
		if !ok {
			return
		}
		var ev pagerDutyEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("invalid JSON: %v", err)
		}
		if ev.DedupKey == "" || utf8.RuneCountInString(ev.DedupKey) > pagerDutyMaxDedupKey {
			t.Errorf("dedup_key %q", ev.DedupKey)
		}
		if ev.EventAction == "trigger" {
			p := ev.Payload
			if p == nil || p.Summary == "" || p.Source == "" || utf8.RuneCountInString(p.Summary) > pagerDutyMaxSummary {
				t.Fatalf("payload %+v", p)
			}
			for _, l := range ev.Links {
				if !strings.HasPrefix(l.Href, "http") {
					t.Errorf("link %q", l.Href)
				}
			}
		} else if ev.Payload != nil || ev.Links != nil {
			t.Errorf("%s event carries more than routing_key, event_action and dedup_key", ev.EventAction)
		}
	})
}

// TestPagerDutyTrimsRoutingKey: a Secret made from a file ends in a newline.
func TestPagerDutyTrimsRoutingKey(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusAccepted, pagerDutyAccepted, nil)
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: &klaxonv1.SecretReference{Name: "pd"},
		PagerDuty: &klaxonv1.PagerDutyChannel{URL: srv.URL}},
		map[string][]byte{"routingKey": []byte(testRoutingKey + "\n")}, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), testDelivery()); err != nil {
		t.Fatal(err)
	}
	var ev pagerDutyEvent
	_ = json.Unmarshal(receive(t, reqs).Body, &ev)
	if ev.RoutingKey != testRoutingKey {
		t.Errorf("routing_key %q", ev.RoutingKey)
	}
}
