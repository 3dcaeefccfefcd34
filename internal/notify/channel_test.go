package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// updateGolden rewrites testdata/<channel>_*.json from the current output:
//
//	go test ./internal/notify/ -run Golden -update-golden
//
// Review the diff against the service's documentation before committing it.
var updateGolden = flag.Bool("update-golden", false, "rewrite the channels' golden payloads in testdata/")

// channelTestNow is the clock of every channel test.
var channelTestNow = time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)

func channelTestOptions() Options {
	return Options{Now: func() time.Time { return channelTestNow }}
}

// testDelivery is a page to a responder about an escalated SEV1 with every field set.
func testDelivery() Delivery {
	return Delivery{
		Message: Message{
			Event: klaxonv1.EventEscalated,
			Incident: IncidentSummary{
				Namespace:   "shop",
				Name:        "checkout-5xx",
				Title:       "Checkout returns 500s",
				Severity:    klaxonv1.SEV1,
				State:       klaxonv1.StateTriggered,
				Stage:       klaxonv1.StageTriage,
				Category:    "availability",
				Service:     "checkout",
				Customer:    "acme",
				Assignee:    "alice",
				TriggeredAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
				ReopenCount: 0,
				Level:       2,
				Cycle:       0,
			},
			Subject: "[SEV1] Checkout returns 500s",
			Text:    "Error rate on *checkout* is 37% & rising.\nCustomers cannot pay.",
			HTML:    "",
			Links: Links{
				Acknowledge: "https://klaxon.example.com/api/v1/respond/ack-token",
				Resolve:     "https://klaxon.example.com/api/v1/respond/resolve-token",
				Incident:    "https://klaxon.example.com/incidents/shop/checkout-5xx",
				Runbooks: []Link{
					{Title: "Checkout 5xx", URL: "https://runbooks.example.com/checkout-5xx"},
				},
			},
		},
		Address:  "oncall@example.com",
		Key:      "r0/Escalated/l2/c0/Responder/shop/alice/shop/oncall-email#5d41402a",
		DedupKey: "klaxon/shop/checkout-5xx/0",
	}
}

// longDelivery is testDelivery with every text far over any service's limit.
func longDelivery() Delivery {
	d := testDelivery()
	long := strings.Repeat("Very long incident title with <tags> & ampersands. ", 400)
	d.Message.Subject = long
	d.Message.Incident.Title = long
	d.Message.Incident.Service = strings.Repeat("svc", 2000)
	d.Message.Incident.Customer = strings.Repeat("ü", 5000)
	d.Message.Text = strings.Repeat("A line of the incident text, with a <link> & more.\n", 4000)
	for i := range 200 {
		d.Message.Links.Runbooks = append(d.Message.Links.Runbooks,
			Link{Title: strings.Repeat("runbook ", 50), URL: "https://runbooks.example.com/" + strings.Repeat("x", i)})
	}
	return d
}

// checkGolden compares JSON against testdata/name, ignoring formatting.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update-golden to create it): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the golden file\n--- got:\n%s\n--- want:\n%s", name, pretty.Bytes(), want)
	}
}

// asSendError fails the test unless err is a *SendError.
func asSendError(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return se
}

// refusedURL is an http URL on which nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

func TestNewBuildsEachChannelType(t *testing.T) {
	ref := &klaxonv1.SecretReference{Name: "creds"}
	cases := []struct {
		name   string
		spec   klaxonv1.NotificationChannelSpec
		secret map[string][]byte
		want   any
	}{
		{"webhook with url in spec", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook,
			Webhook: &klaxonv1.WebhookChannel{URL: "https://hooks.example.com/in"}}, nil, &webhookNotifier{}},
		{"webhook with url in secret", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook, SecretRef: ref},
			map[string][]byte{"url": []byte("https://hooks.example.com/in"), "signingKey": []byte("k")}, &webhookNotifier{}},
		{"slack incoming webhook", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref},
			map[string][]byte{"url": []byte("https://hooks.slack.com/services/T0/B0/secret")}, &slackNotifier{}},
		{"slack api", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref,
			Slack: &klaxonv1.SlackChannel{Mode: klaxonv1.SlackAPI, Channel: "C1"}},
			map[string][]byte{"token": []byte("xoxb-1")}, &slackNotifier{}},
		{"msteams", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelMSTeams, SecretRef: ref},
			map[string][]byte{"url": []byte("https://example.webhook.office.com/webhookb2/x")}, &teamsNotifier{}},
		{"email without auth", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail,
			Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "klaxon@example.com"}}, nil, &emailNotifier{}},
		{"email with auth", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail, SecretRef: ref,
			Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "klaxon@example.com"}},
			map[string][]byte{"username": []byte("u"), "password": []byte("p")}, &emailNotifier{}},
		{"pagerduty", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: ref},
			map[string][]byte{"routingKey": []byte("R0UT1NG")}, &pagerDutyNotifier{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(tc.spec, tc.secret, Options{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got, want := notifierKind(n), notifierKind(tc.want); got != want {
				t.Errorf("New returned %s, want %s", got, want)
			}
		})
	}
}

// notifierKind names the channel a Notifier implements.
func notifierKind(v any) string {
	switch v.(type) {
	case *webhookNotifier:
		return "webhook"
	case *slackNotifier:
		return "slack"
	case *teamsNotifier:
		return "msteams"
	case *emailNotifier:
		return "email"
	case *pagerDutyNotifier:
		return "pagerduty"
	}
	return "unknown"
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	ref := &klaxonv1.SecretReference{Name: "creds"}
	const secretValue = "https://hooks.slack.com/services/T0/B0/very-secret-part"
	cases := []struct {
		name    string
		spec    klaxonv1.NotificationChannelSpec
		secret  map[string][]byte
		wantMsg string
	}{
		{"unknown type", klaxonv1.NotificationChannelSpec{Type: "carrier-pigeon"}, nil, "unsupported channel type"},
		{"slack without url", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref},
			map[string][]byte{"token": []byte("xoxb")}, `"url"`},
		{"slack api without token", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref,
			Slack: &klaxonv1.SlackChannel{Mode: klaxonv1.SlackAPI}}, map[string][]byte{"url": []byte(secretValue)}, `"token"`},
		{"slack api with a bad api url", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref,
			Slack: &klaxonv1.SlackChannel{Mode: klaxonv1.SlackAPI, APIURL: "ftp://x"}}, map[string][]byte{"token": []byte("t")}, "apiURL"},
		{"msteams url not http", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelMSTeams, SecretRef: ref},
			map[string][]byte{"url": []byte("javascript:" + secretValue)}, "not an http(s) URL"},
		{"pagerduty without routing key", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: ref},
			map[string][]byte{}, `"routingKey"`},
		{"pagerduty bad url", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: ref,
			PagerDuty: &klaxonv1.PagerDutyChannel{URL: "not a url"}}, map[string][]byte{"routingKey": []byte("r")}, "spec.pagerduty.url"},
		{"webhook without any url", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook}, nil, `"url"`},
		{"webhook bad spec url", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook,
			Webhook: &klaxonv1.WebhookChannel{URL: "mailto:x@example.com"}}, nil, "spec.webhook.url"},
		{"email without settings", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail}, nil, "spec.email"},
		{"email bad from", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail,
			Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "not an address"}}, nil, "spec.email.from"},
		{"email bad tls mode", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail,
			Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "a@example.com", TLS: "SSLv2"}}, nil, "spec.email.tls"},
		{"email secret without password", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail, SecretRef: ref,
			Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "a@example.com"}},
			map[string][]byte{"username": []byte("u")}, `"password"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(tc.spec, tc.secret, Options{})
			if err == nil {
				t.Fatalf("New succeeded with %T, want an error", n)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "very-secret-part") {
				t.Errorf("error %q leaks a secret value", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: &klaxonv1.SecretReference{Name: "s"}},
		map[string][]byte{"routingKey": []byte("r")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pd := n.(*pagerDutyNotifier)
	if pd.url != PagerDutyEventsURL {
		t.Errorf("url = %q, want %q", pd.url, PagerDutyEventsURL)
	}
	if pd.env.timeout != DefaultAttemptTimeout || pd.env.client.Timeout != DefaultAttemptTimeout {
		t.Errorf("timeout = %s, client timeout = %s, want %s", pd.env.timeout, pd.env.client.Timeout, DefaultAttemptTimeout)
	}
	if pd.env.now == nil {
		t.Error("no clock")
	}

	mine := &http.Client{Timeout: time.Minute}
	n, err = New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: &klaxonv1.SecretReference{Name: "s"},
		Timeout: metav1.Duration{Duration: 3 * time.Second}},
		map[string][]byte{"routingKey": []byte("r")}, Options{HTTPClient: mine})
	if err != nil {
		t.Fatal(err)
	}
	pd = n.(*pagerDutyNotifier)
	if pd.env.client == mine || mine.CheckRedirect != nil {
		t.Error("New changed the caller's HTTP client instead of a copy")
	}
	if pd.env.timeout != 3*time.Second {
		t.Errorf("attempt timeout = %s, want 3s", pd.env.timeout)
	}
}

// TestAttemptTimeout: an attempt that outlives spec.timeout is a temporary failure.
func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook,
		Webhook: &klaxonv1.WebhookChannel{URL: srv.URL}, Timeout: metav1.Duration{Duration: 100 * time.Millisecond}}, nil, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = n.Send(context.Background(), testDelivery())
	if se := asSendError(t, err); se.Permanent {
		t.Errorf("timeout is permanent: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say the deadline passed", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("attempt took %s despite a 100ms timeout", d)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var gets int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets++
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook,
		Webhook: &klaxonv1.WebhookChannel{URL: srv.URL}}, nil, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	se := asSendError(t, n.Send(context.Background(), testDelivery()))
	if !se.Permanent || se.StatusCode != http.StatusFound {
		t.Errorf("redirect gave %+v, want a permanent failure with status 302", se)
	}
	if gets != 0 {
		t.Errorf("the client followed the redirect with %d GET(s)", gets)
	}
}

func TestClassifyHTTP(t *testing.T) {
	now := channelTestNow
	cases := []struct {
		status     int
		retryAfter string
		permanent  bool
		wantAfter  time.Duration
	}{
		{http.StatusTooManyRequests, "30", false, 30 * time.Second},
		{http.StatusTooManyRequests, now.Add(90 * time.Second).Format(http.TimeFormat), false, 90 * time.Second},
		{http.StatusTooManyRequests, "", false, 0},
		{http.StatusTooManyRequests, "soon", false, 0},
		{http.StatusTooManyRequests, "-5", false, 0},
		{http.StatusTooManyRequests, "99999999999999999", false, maxRetryAfter},
		{http.StatusServiceUnavailable, "7", false, 7 * time.Second},
		{http.StatusServiceUnavailable, now.Add(-time.Hour).Format(http.TimeFormat), false, 0},
		{http.StatusInternalServerError, "", false, 0},
		{http.StatusBadGateway, "", false, 0},
		{http.StatusGatewayTimeout, "", false, 0},
		{http.StatusRequestTimeout, "", false, 0},
		{http.StatusBadRequest, "30", true, 0},
		{http.StatusUnauthorized, "", true, 0},
		{http.StatusForbidden, "", true, 0},
		{http.StatusNotFound, "", true, 0},
		{http.StatusGone, "", true, 0},
		{http.StatusRequestEntityTooLarge, "", true, 0},
		{http.StatusMovedPermanently, "", true, 0},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		se := classifyHTTP(httpResponse{Status: tc.status, Header: h, Body: []byte("nope\n\tnope")}, now, "test target", "")
		if se.Permanent != tc.permanent || se.RetryAfter != tc.wantAfter || se.StatusCode != tc.status {
			t.Errorf("%d Retry-After %q: got permanent=%v retryAfter=%s status=%d, want permanent=%v retryAfter=%s",
				tc.status, tc.retryAfter, se.Permanent, se.RetryAfter, se.StatusCode, tc.permanent, tc.wantAfter)
		}
		if !strings.Contains(se.Error(), "test target answered") || !strings.Contains(se.Error(), "nope nope") {
			t.Errorf("%d: message %q lacks the target or the body", tc.status, se.Error())
		}
	}
}

func TestTruncateRunes(t *testing.T) {
	cases := []struct {
		in    string
		limit int
		want  string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello!", 5, "hell…"},
		{"héllo wörld", 4, "hél…"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
		{"a\xffb", 3, "a\uFFFDb"},
	}
	for _, tc := range cases {
		if got := truncateRunes(tc.in, tc.limit); got != tc.want {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

// secretLeakCase is one channel whose errors must never carry its credentials.
type secretLeakCase struct {
	name    string
	spec    func(srvURL string) klaxonv1.NotificationChannelSpec
	secret  func(srvURL string) map[string][]byte
	secrets []string
}

// TestErrorsNeverContainSecrets sends through every HTTP channel to a receiver that
// echoes the request (headers, URL and body) in its error answer, and to an address
// that refuses connections: no error may contain a URL, token, routing key or key.
func TestErrorsNeverContainSecrets(t *testing.T) {
	const (
		hookPath   = "/services/T000/B000/XXXXSECRETXXXXXXXX"
		teamsQuery = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TEAMSSIGSECRET123"
		token      = "xoxb-123-456-TOKENSECRET"
		routingKey = "R0UTINGKEYSECRET0000000000000000"
		signingKey = "SIGNINGKEYSECRET"
	)
	ref := &klaxonv1.SecretReference{Name: "creds"}
	cases := []secretLeakCase{
		{"webhook", func(string) klaxonv1.NotificationChannelSpec {
			return klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook, SecretRef: ref}
		}, func(u string) map[string][]byte {
			return map[string][]byte{"url": []byte(u + hookPath), "signingKey": []byte(signingKey)}
		}, []string{hookPath, "XXXXSECRETXXXXXXXX", signingKey}},
		{"slack webhook", func(string) klaxonv1.NotificationChannelSpec {
			return klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref}
		}, func(u string) map[string][]byte {
			return map[string][]byte{"url": []byte(u + hookPath)}
		}, []string{hookPath, "XXXXSECRETXXXXXXXX"}},
		{"slack api", func(u string) klaxonv1.NotificationChannelSpec {
			return klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: ref,
				Slack: &klaxonv1.SlackChannel{Mode: klaxonv1.SlackAPI, Channel: "C1", APIURL: u + "/api/"}}
		}, func(string) map[string][]byte {
			return map[string][]byte{"token": []byte(token)}
		}, []string{token, "TOKENSECRET"}},
		{"msteams", func(string) klaxonv1.NotificationChannelSpec {
			return klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelMSTeams, SecretRef: ref}
		}, func(u string) map[string][]byte {
			return map[string][]byte{"url": []byte(u + "/workflows/abc/triggers/manual/paths/invoke?" + teamsQuery)}
		}, []string{"TEAMSSIGSECRET123", "/workflows/abc/triggers"}},
		{"pagerduty", func(u string) klaxonv1.NotificationChannelSpec {
			return klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty, SecretRef: ref,
				PagerDuty: &klaxonv1.PagerDutyChannel{URL: u + "/v2/enqueue"}}
		}, func(string) map[string][]byte {
			return map[string][]byte{"routingKey": []byte(routingKey)}
		}, []string{routingKey}},
	}
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			b.WriteString(r.URL.String() + " ")
			_ = r.Header.Write(&b)
			_, _ = b.ReadFrom(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			// A JSON error shape for Slack and PagerDuty, echoing everything.
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": b.String(),
				"status": "invalid event", "message": b.String(), "errors": []string{b.String()}})
		}
	}
	for _, tc := range cases {
		for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError, http.StatusOK} {
			t.Run(tc.name+"/"+http.StatusText(status), func(t *testing.T) {
				srv := httptest.NewServer(echo(status))
				defer srv.Close()
				n, err := New(tc.spec(srv.URL), tc.secret(srv.URL), channelTestOptions())
				if err != nil {
					t.Fatal(err)
				}
				err = n.Send(context.Background(), testDelivery())
				if err == nil {
					if status == http.StatusOK {
						return // a 200 is success for most channels; nothing to leak
					}
					t.Fatal("Send succeeded against an error answer")
				}
				asSendError(t, err)
				for _, s := range tc.secrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error leaks %q: %s", s, err)
					}
				}
			})
		}
		t.Run(tc.name+"/refused", func(t *testing.T) {
			u := refusedURL(t)
			n, err := New(tc.spec(u), tc.secret(u), channelTestOptions())
			if err != nil {
				t.Fatal(err)
			}
			err = n.Send(context.Background(), testDelivery())
			if se := asSendError(t, err); se.Permanent {
				t.Errorf("refused connection is permanent: %v", err)
			}
			for _, s := range tc.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error leaks %q: %s", s, err)
				}
			}
		})
	}
}

// TestNewReturnsUntypedNilOnError: a failed New must return a nil interface, not a
// typed nil pointer that compares unequal to nil.
func TestNewReturnsUntypedNilOnError(t *testing.T) {
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail}, nil, Options{})
	if err == nil || n != nil {
		t.Errorf("New = %#v, %v; want nil and an error", n, err)
	}
}
