package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// slackOK is chat.postMessage's documented success answer.
const slackOK = `{"ok":true,"channel":"C0123456789","ts":"1503435956.000247","message":{"text":"x","type":"message","ts":"1503435956.000247"}}`

func newSlackAPIForTest(t *testing.T, srvURL, channel string) Notifier {
	t.Helper()
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: &klaxonv1.SecretReference{Name: "slack"},
		Slack: &klaxonv1.SlackChannel{Mode: klaxonv1.SlackAPI, Channel: channel, APIURL: srvURL + "/"}},
		map[string][]byte{"token": []byte("xoxb-test-token")}, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newSlackWebhookForTest(t *testing.T, hookURL string) Notifier {
	t.Helper()
	n, err := New(klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack, SecretRef: &klaxonv1.SecretReference{Name: "slack"}},
		map[string][]byte{"url": []byte(hookURL)}, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSlackAPIGolden checks the request chat.postMessage documents, as slack-go
// sends it: POST <base>/chat.postMessage, the token as a bearer token, a form body
// with channel, text, blocks (JSON) and unfurling off.
func TestSlackAPIGolden(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusOK, slackOK, http.Header{"Content-Type": {"application/json"}})
	n := newSlackAPIForTest(t, srv.URL, "C-default")
	d := testDelivery()
	d.Address = "C0123456789"
	if err := n.Send(context.Background(), d); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := receive(t, reqs)
	if r.Method != http.MethodPost || r.Path != "/chat.postMessage" {
		t.Errorf("request %s %s, want POST /chat.postMessage", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer xoxb-test-token" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, ","); got != "blocks,channel,text,unfurl_links,unfurl_media" {
		t.Errorf("form fields %s, want blocks,channel,text,unfurl_links,unfurl_media (and never token)", got)
	}
	if err := checkSlackBlocks([]byte(form.Get("blocks"))); err != nil {
		t.Error(err)
	}
	golden := map[string]any{
		"channel":      form.Get("channel"),
		"text":         form.Get("text"),
		"unfurl_links": form.Get("unfurl_links"),
		"unfurl_media": form.Get("unfurl_media"),
		"blocks":       json.RawMessage(form.Get("blocks")),
	}
	b, _ := json.Marshal(golden)
	checkGolden(t, "slack_api_request.json", b)
}

func TestSlackAPIChannel(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusOK, slackOK, nil)

	n := newSlackAPIForTest(t, srv.URL, "C-default")
	d := testDelivery()
	d.Address = ""
	if err := n.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	form, _ := url.ParseQuery(string(receive(t, reqs).Body))
	if got := form.Get("channel"); got != "C-default" {
		t.Errorf("channel = %q, want spec.slack.channel C-default", got)
	}

	n = newSlackAPIForTest(t, srv.URL, "")
	se := asSendError(t, n.Send(context.Background(), d))
	if !se.Permanent {
		t.Errorf("no channel at all: %+v, want permanent", se)
	}
}

func TestSlackWebhookGolden(t *testing.T) {
	srv, reqs := captureServer(t, http.StatusOK, "ok", nil)
	n := newSlackWebhookForTest(t, srv.URL+"/services/T000/B000/XXXX")
	if err := n.Send(context.Background(), testDelivery()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := receive(t, reqs)
	if r.Method != http.MethodPost || r.Path != "/services/T000/B000/XXXX" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	var body struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if err := checkSlackBlocks(body.Blocks); err != nil {
		t.Error(err)
	}
	checkGolden(t, "slack_webhook.json", r.Body)
}

func TestSlackAPIFailures(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		permanent  bool
		retryAfter time.Duration
	}{
		{"channel_not_found", 200, nil, `{"ok":false,"error":"channel_not_found"}`, true, 0},
		{"not_in_channel", 200, nil, `{"ok":false,"error":"not_in_channel"}`, true, 0},
		{"invalid_auth", 200, nil, `{"ok":false,"error":"invalid_auth"}`, true, 0},
		{"token_revoked", 200, nil, `{"ok":false,"error":"token_revoked"}`, true, 0},
		{"invalid_blocks", 200, nil, `{"ok":false,"error":"invalid_blocks"}`, true, 0},
		{"internal_error", 200, nil, `{"ok":false,"error":"internal_error"}`, false, 0},
		{"ratelimited in body", 200, http.Header{"Retry-After": {"3"}}, `{"ok":false,"error":"ratelimited"}`, false, 3 * time.Second},
		{"429 seconds", 429, http.Header{"Retry-After": {"30"}}, `{"ok":false,"error":"ratelimited"}`, false, 30 * time.Second},
		{"429 http date", 429, http.Header{"Retry-After": {channelTestNow.Add(45 * time.Second).Format(http.TimeFormat)}}, ``, false, 45 * time.Second},
		{"500", 500, nil, `<html>oops</html>`, false, 0},
		{"503", 503, http.Header{"Retry-After": {"5"}}, ``, false, 5 * time.Second},
		{"404", 404, nil, `not found`, true, 0},
		{"unreadable 200", 200, nil, `<html>`, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := captureServer(t, tc.status, tc.body, tc.header)
			n := newSlackAPIForTest(t, srv.URL, "C1")
			se := asSendError(t, n.Send(context.Background(), testDelivery()))
			if se.Permanent != tc.permanent || se.RetryAfter != tc.retryAfter {
				t.Errorf("got %v (permanent=%v retryAfter=%s), want permanent=%v retryAfter=%s",
					se, se.Permanent, se.RetryAfter, tc.permanent, tc.retryAfter)
			}
		})
	}
}

func TestSlackWebhookFailures(t *testing.T) {
	cases := []struct {
		status     int
		body       string
		header     http.Header
		permanent  bool
		retryAfter time.Duration
	}{
		{400, "invalid_payload", nil, true, 0},
		{403, "action_prohibited", nil, true, 0},
		{404, "channel_not_found", nil, true, 0},
		{410, "channel_is_archived", nil, true, 0},
		{429, "rate_limited", http.Header{"Retry-After": {"1"}}, false, time.Second},
		{500, "rollup_error", nil, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			srv, _ := captureServer(t, tc.status, tc.body, tc.header)
			n := newSlackWebhookForTest(t, srv.URL+"/services/T/B/secret")
			err := n.Send(context.Background(), testDelivery())
			se := asSendError(t, err)
			if se.Permanent != tc.permanent || se.RetryAfter != tc.retryAfter || se.StatusCode != tc.status {
				t.Errorf("got %+v, want permanent=%v retryAfter=%s", se, tc.permanent, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.body) {
				t.Errorf("error %q does not quote Slack's code %q", err, tc.body)
			}
		})
	}
}

func TestSlackLongIncidentStaysWithinLimits(t *testing.T) {
	m := longDelivery().Message
	blocks, err := json.Marshal(slackBlocks(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSlackBlocks(blocks); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(blocks), "…") {
		t.Error("a long incident was not visibly truncated")
	}
	var parsed []map[string]any
	_ = json.Unmarshal(blocks, &parsed)
	sections := 0
	for _, b := range parsed {
		if txt, ok := b["text"].(map[string]any); ok && b["type"] == "section" && strings.HasPrefix(txt["text"].(string), "A line") {
			sections++
		}
	}
	if sections != slackMaxTextSections {
		t.Errorf("text filled %d sections, want %d", sections, slackMaxTextSections)
	}
	if fb := slackFallbackText(m); utf8.RuneCountInString(fb) > slackMaxFallbackText {
		t.Errorf("fallback text has %d characters", utf8.RuneCountInString(fb))
	}
}

func TestSlackEscapesWhatSlackParses(t *testing.T) {
	m := testDelivery().Message
	m.Subject = "<!channel> outage & <https://evil.example|click>"
	m.Incident.Service = "<@U123>"
	fb := slackFallbackText(m)
	if strings.ContainsAny(fb, "<>") || !strings.Contains(fb, "&lt;!channel&gt; outage &amp;") {
		t.Errorf("fallback text %q is not escaped", fb)
	}
	b, _ := json.Marshal(slackBlocks(m))
	if strings.Contains(string(b), "<@U123>") {
		t.Errorf("a field carries a raw mention: %s", b)
	}
	// An entity is never cut in half.
	if got := slackTruncateEscaped(slackEscape("abc&def"), 5); got != "abc…" {
		t.Errorf("slackTruncateEscaped = %q, want %q", got, "abc…")
	}
}

func TestSlackLeavesOutBadLinks(t *testing.T) {
	m := testDelivery().Message
	m.Links.Acknowledge = "javascript:alert(1)"
	m.Links.Resolve = "https://x.example.com/" + strings.Repeat("a", slackMaxButtonURL)
	m.Links.Runbooks = []Link{{Title: "bad", URL: "not a url"}, {Title: "a|b>c", URL: "https://r.example.com/x|y>z"}}
	b, _ := jsonMarshal(slackBlocks(m))
	s := string(b)
	if strings.Contains(s, "javascript:") || strings.Contains(s, "klaxon_resolve") || strings.Contains(s, "not a url") {
		t.Errorf("bad links were kept: %s", s)
	}
	if !strings.Contains(s, "https://r.example.com/x%7Cy%3Ez|a|b&gt;c") {
		t.Errorf("runbook link not made safe: %s", s)
	}
	if err := checkSlackBlocks(b); err != nil {
		t.Error(err)
	}
}

func TestSplitText(t *testing.T) {
	cases := []struct {
		text     string
		size     int
		maxParts int
		want     []string
	}{
		{"", 10, 3, nil},
		{"  \n ", 10, 3, nil},
		{"short", 10, 3, []string{"short"}},
		{"line one\nline two", 10, 3, []string{"line one", "line two"}},
		{"word word word", 10, 3, []string{"word word", "word"}},
		{"abcdefghijklmnop", 5, 3, []string{"abcde", "fghij", "klmn…"}},
		{"aaaa bbbb cccc dddd", 5, 2, []string{"aaaa", "bbbb…"}},
	}
	for _, tc := range cases {
		got := splitText(tc.text, tc.size, tc.maxParts)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("splitText(%q, %d, %d) = %q, want %q", tc.text, tc.size, tc.maxParts, got, tc.want)
		}
	}
}

// FuzzSlackBlocks: any incident gives blocks Slack accepts: valid JSON within every
// documented limit.
func FuzzSlackBlocks(f *testing.F) {
	f.Add("Checkout returns 500s", "[SEV1] Checkout", "text *bold*", "runbook", "https://r.example.com/x", "svc")
	f.Add("", "", "", "", "", "")
	f.Add(strings.Repeat("&", 160), strings.Repeat("<!here>", 30), strings.Repeat("x\n", 1600), "|>", "https://x/|>", "\xff")
	f.Fuzz(func(t *testing.T, title, subject, text, rbTitle, rbURL, service string) {
		m := testDelivery().Message
		m.Incident.Title = title
		m.Subject = subject
		m.Text = text
		m.Incident.Service = service
		m.Incident.Assignee = title
		m.Links.Runbooks = []Link{{Title: rbTitle, URL: rbURL}, {Title: title, URL: rbURL}}
		m.Links.Acknowledge = rbURL
		body, err := slackWebhookPayload(m)
		if err != nil {
			t.Fatalf("payload: %v", err)
		}
		var p struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("invalid JSON: %v", err)
		}
		if err := checkSlackBlocks(p.Blocks); err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(p.Text); n == 0 || n > slackMaxFallbackText {
			t.Errorf("fallback text has %d characters", n)
		}
	})
}

// checkSlackBlocks validates blocks against Slack's documented Block Kit limits.
func checkSlackBlocks(raw []byte) error {
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return fmt.Errorf("blocks are not a JSON array: %w", err)
	}
	if len(blocks) == 0 || len(blocks) > slackMaxBlocks {
		return fmt.Errorf("%d blocks, want 1..%d", len(blocks), slackMaxBlocks)
	}
	textOf := func(v any) (string, string, error) {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", "", fmt.Errorf("text object %v is not an object", v)
		}
		typ, _ := obj["type"].(string)
		text, _ := obj["text"].(string)
		if typ != "plain_text" && typ != "mrkdwn" {
			return "", "", fmt.Errorf("text object type %q", typ)
		}
		if strings.TrimSpace(text) == "" {
			return "", "", fmt.Errorf("empty %s text", typ)
		}
		return typ, text, nil
	}
	within := func(what, s string, limit int) error {
		if n := utf8.RuneCountInString(s); n > limit {
			return fmt.Errorf("%s has %d characters, limit %d", what, n, limit)
		}
		return nil
	}
	for i, b := range blocks {
		switch b["type"] {
		case "header":
			typ, text, err := textOf(b["text"])
			if err != nil {
				return fmt.Errorf("block %d: %w", i, err)
			}
			if typ != "plain_text" {
				return fmt.Errorf("block %d: header text is %s", i, typ)
			}
			if err := within("header", text, slackMaxHeaderText); err != nil {
				return err
			}
		case "section":
			fields, _ := b["fields"].([]any)
			if b["text"] == nil && len(fields) == 0 {
				return fmt.Errorf("block %d: section without text or fields", i)
			}
			if b["text"] != nil {
				_, text, err := textOf(b["text"])
				if err != nil {
					return fmt.Errorf("block %d: %w", i, err)
				}
				if err := within("section text", text, slackMaxSectionText); err != nil {
					return err
				}
			}
			if len(fields) > slackMaxFields {
				return fmt.Errorf("block %d: %d fields", i, len(fields))
			}
			for _, fv := range fields {
				_, text, err := textOf(fv)
				if err != nil {
					return fmt.Errorf("block %d field: %w", i, err)
				}
				if err := within("field", text, slackMaxFieldText); err != nil {
					return err
				}
			}
		case "actions":
			elems, _ := b["elements"].([]any)
			if len(elems) == 0 || len(elems) > 25 {
				return fmt.Errorf("block %d: %d action elements", i, len(elems))
			}
			for _, ev := range elems {
				e := ev.(map[string]any)
				_, text, err := textOf(e["text"])
				if err != nil {
					return fmt.Errorf("block %d button: %w", i, err)
				}
				if err := within("button text", text, slackMaxButtonText); err != nil {
					return err
				}
				u, _ := e["url"].(string)
				if err := within("button url", u, slackMaxButtonURL); err != nil {
					return err
				}
				if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
					return fmt.Errorf("block %d: button url %q", i, u)
				}
				if id, _ := e["action_id"].(string); id == "" || len(id) > 255 {
					return fmt.Errorf("block %d: action_id %q", i, id)
				}
			}
		case "context":
			elems, _ := b["elements"].([]any)
			if len(elems) == 0 || len(elems) > 10 {
				return fmt.Errorf("block %d: %d context elements", i, len(elems))
			}
			for _, ev := range elems {
				_, text, err := textOf(ev)
				if err != nil {
					return fmt.Errorf("block %d context: %w", i, err)
				}
				if err := within("context text", text, slackMaxContextText); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("block %d: unexpected type %v", i, b["type"])
		}
	}
	return nil
}
