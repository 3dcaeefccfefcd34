package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// capturedRequest is what a test receiver saw.
type capturedRequest struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// captureServer answers every request with status and body and records it.
func captureServer(t *testing.T, status int, body string, header http.Header) (*httptest.Server, <-chan capturedRequest) {
	t.Helper()
	ch := make(chan capturedRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- capturedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: b}
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func receive(t *testing.T, ch <-chan capturedRequest) capturedRequest {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the receiver got no request")
	}
	return capturedRequest{}
}

func newWebhookForTest(t *testing.T, url string, signingKey string) Notifier {
	t.Helper()
	secret := map[string][]byte{"url": []byte(url)}
	if signingKey != "" {
		secret["signingKey"] = []byte(signingKey)
	}
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook, SecretRef: &klaxonv1.SecretReference{Name: "hook"}},
		secret, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebhookGolden(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusNoContent, "", nil)
	n := newWebhookForTest(t, srv.URL+"/klaxon/in", "s3cr3t-signing-key")
	d := testDelivery()
	if err := n.Send(context.Background(), d); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := receive(t, reqs)
	if r.Method != http.MethodPost || r.Path != "/klaxon/in" {
		t.Errorf("request %s %s, want POST /klaxon/in", r.Method, r.Path)
	}
	wantHeaders := map[string]string{
		"Content-Type":       "application/json",
		"Idempotency-Key":    d.Key,
		"X-Klaxon-Event":     "Escalated",
		"X-Klaxon-Timestamp": strconv.FormatInt(channelTestNow.Unix(), 10),
		"User-Agent":         "Klaxon",
	}
	for k, v := range wantHeaders {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	sig := r.Header.Get(WebhookSignatureHeader)
	if err := VerifyWebhookSignature([]byte("s3cr3t-signing-key"), r.Header.Get(WebhookTimestampHeader), sig, r.Body,
		channelTestNow.Add(time.Minute), 0); err != nil {
		t.Errorf("signature %q does not verify: %v", sig, err)
	}
	checkGolden(t, "webhook_escalated.json", r.Body)

	var p WebhookPayload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Key != d.Key || p.Incident.TriggeredAt == nil || !p.SentAt.Equal(channelTestNow) || len(p.Links.Runbooks) != 1 {
		t.Errorf("decoded payload %+v does not match the delivery", p)
	}
}

func TestWebhookWithoutSigningKeyOrOptionalFields(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusOK, "", nil)
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook,
		Webhook: &klaxonv1.WebhookChannel{URL: srv.URL}}, nil, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	d := Delivery{Message: Message{Event: klaxonv1.EventResolved}, Key: "k"}
	if err := n.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	r := receive(t, reqs)
	if sig := r.Header.Get(WebhookSignatureHeader); sig != "" {
		t.Errorf("unsigned channel sent %s: %q", WebhookSignatureHeader, sig)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatal(err)
	}
	inc := raw["incident"].(map[string]any)
	if v, ok := inc["triggeredAt"]; !ok || v != nil {
		t.Errorf("triggeredAt = %v (present %v), want null", v, ok)
	}
	links := raw["links"].(map[string]any)
	if rb, ok := links["runbooks"].([]any); !ok || len(rb) != 0 {
		t.Errorf("runbooks = %#v, want []", links["runbooks"])
	}
}

func TestWebhookFailures(t *testing.T) {
	cases := []struct {
		status     int
		header     http.Header
		permanent  bool
		retryAfter time.Duration
	}{
		{http.StatusInternalServerError, nil, false, 0},
		{http.StatusServiceUnavailable, http.Header{"Retry-After": {"12"}}, false, 12 * time.Second},
		{http.StatusTooManyRequests, http.Header{"Retry-After": {channelTestNow.Add(time.Minute).Format(http.TimeFormat)}}, false, time.Minute},
		{http.StatusBadRequest, nil, true, 0},
		{http.StatusUnauthorized, nil, true, 0},
		{http.StatusNotFound, nil, true, 0},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv, _ := captureServer(t, tc.status, "receiver says no", tc.header)
			n := newWebhookForTest(t, srv.URL, "")
			se := asSendError(t, n.Send(context.Background(), testDelivery()))
			if se.Permanent != tc.permanent || se.RetryAfter != tc.retryAfter || se.StatusCode != tc.status {
				t.Errorf("got %+v, want permanent=%v retryAfter=%s status=%d", se, tc.permanent, tc.retryAfter, tc.status)
			}
		})
	}
}

func TestVerifyWebhookSignature(t *testing.T) {
	key := []byte("key")
	body := []byte(`{"event":"Triggered"}`)
	now := channelTestNow
	ts := strconv.FormatInt(now.Unix(), 10)
	good := webhookSignature(key, ts, body)
	cases := []struct {
		name      string
		key       []byte
		ts, sig   string
		body      []byte
		now       time.Time
		window    time.Duration
		wantValid bool
	}{
		{"valid", key, ts, good, body, now, time.Minute, true},
		{"valid within the default window", key, ts, good, body, now.Add(4 * time.Minute), 0, true},
		{"receiver clock behind", key, ts, good, body, now.Add(-30 * time.Second), time.Minute, true},
		{"wrong key", []byte("other"), ts, good, body, now, time.Minute, false},
		{"tampered body", key, ts, good, []byte(`{"event":"Resolved"}`), now, time.Minute, false},
		{"tampered timestamp", key, strconv.FormatInt(now.Unix()+1, 10), good, body, now, time.Minute, false},
		{"replayed too late", key, ts, good, body, now.Add(2 * time.Minute), time.Minute, false},
		{"from the future", key, ts, good, body, now.Add(-2 * time.Minute), time.Minute, false},
		{"outside the default window", key, ts, good, body, now.Add(6 * time.Minute), 0, false},
		{"timestamp not a number", key, "yesterday", good, body, now, time.Minute, false},
		{"no sha256= prefix", key, ts, good[len("sha256="):], body, now, time.Minute, false},
		{"not hex", key, ts, "sha256=zz", body, now, time.Minute, false},
		{"empty signature", key, ts, "", body, now, time.Minute, false},
		{"no key", nil, ts, good, body, now, time.Minute, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyWebhookSignature(tc.key, tc.ts, tc.sig, tc.body, tc.now, tc.window)
			if tc.wantValid && err != nil {
				t.Errorf("valid signature refused: %v", err)
			}
			if !tc.wantValid && !errors.Is(err, ErrInvalidWebhookSignature) {
				t.Errorf("got %v, want ErrInvalidWebhookSignature", err)
			}
		})
	}
}

// FuzzWebhookBody: any text gives valid JSON that decodes back to the same strings.
func FuzzWebhookBody(f *testing.F) {
	f.Add("Checkout returns 500s", "subject", "text\nwith lines", "https://runbooks.example.com/x", "key")
	f.Add("\xff\xfe", "<script>", "\x00\x1f\u2028", "javascript:alert(1)", "a\r\nInjected: yes")
	f.Fuzz(func(t *testing.T, title, subject, text, link, key string) {
		d := testDelivery()
		d.Message.Incident.Title = title
		d.Message.Subject = subject
		d.Message.Text = text
		d.Message.Links.Runbooks = []Link{{Title: title, URL: link}}
		d.Key = key
		body, err := webhookBody(d, channelTestNow)
		if err != nil {
			t.Fatalf("webhookBody: %v", err)
		}
		var p WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, body)
		}
		if utf8.ValidString(title) && p.Incident.Title != title {
			t.Errorf("title %q came back as %q", title, p.Incident.Title)
		}
		if utf8.ValidString(text) && p.Text != text {
			t.Errorf("text %q came back as %q", text, p.Text)
		}
		if err := VerifyWebhookSignature([]byte("k"), "1", webhookSignature([]byte("k"), "1", body), body, time.Unix(1, 0), time.Second); err != nil {
			t.Errorf("own signature does not verify: %v", err)
		}
		if v := headerValue(key); !validHeaderValue(v) {
			t.Errorf("header value %q is not sendable", v)
		}
	})
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
