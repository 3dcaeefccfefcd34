package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/slack-go/slack"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Slack's documented Block Kit and message limits, in characters. Slack rejects a
// message that breaks one (invalid_blocks, msg_too_long), which would lose the
// page, so every text is cut to fit with an ellipsis instead.
const (
	slackMaxBlocks      = 50   // blocks in one message
	slackMaxHeaderText  = 150  // header block text
	slackMaxSectionText = 3000 // section block text
	slackMaxFieldText   = 2000 // each section field
	slackMaxFields      = 10   // fields in one section
	slackMaxContextText = 3000 // a context element's text object
	slackMaxButtonText  = 75   // button label
	slackMaxButtonURL   = 3000 // button url
	// slackMaxFallbackText bounds the top-level text, which notifications and
	// screen readers use; Slack truncates it at 40,000 and advises under 4,000.
	slackMaxFallbackText = 3000
	// slackMaxTextSections is how many sections Message.Text may fill before it is
	// cut: a page is read on a phone, not scrolled through.
	slackMaxTextSections = 4
	// slackMaxLinkURL bounds a runbook link, so one long URL cannot crowd out the rest.
	slackMaxLinkURL = 1000
)

// slackTemporaryErrors are chat.postMessage error codes worth retrying; every other
// code (channel_not_found, not_in_channel, invalid_auth, token_revoked,
// invalid_blocks, msg_too_long, ...) needs a person to fix something first.
var slackTemporaryErrors = map[string]bool{
	"ratelimited":            true,
	"rate_limited":           true,
	"message_limit_exceeded": true,
	"internal_error":         true,
	"fatal_error":            true,
	"service_unavailable":    true,
	"request_timeout":        true, // Slack got the POST body truncated
	"team_added_to_org":      true, // a workspace migration in progress
}

// slackNotifier posts Block Kit messages, through an incoming webhook or through
// chat.postMessage with a bot token.
type slackNotifier struct {
	hookURL string        // IncomingWebhook mode
	api     *slack.Client // API mode
	channel string        // API mode: the default channel
	env     channelEnv
	secrets []string
}

func newSlackNotifier(spec klaxonv1.NotificationChannelSpec, secret map[string][]byte, env channelEnv) (Notifier, error) {
	n := &slackNotifier{env: env}
	if spec.Slack == nil || spec.Slack.Mode != klaxonv1.SlackAPI {
		n.hookURL = secretString(secret, klaxonv1.SecretKeyURL)
		n.secrets = urlSecrets(n.hookURL)
		return n, nil
	}
	token := secretString(secret, klaxonv1.SecretKeyToken)
	n.secrets = []string{token}
	n.channel = spec.Slack.Channel
	apiURL := spec.Slack.APIURL
	if apiURL == "" {
		apiURL = slack.APIURL
	}
	if !isHTTPURL(apiURL) {
		return nil, errors.New("spec.slack.apiURL is not an http(s) URL")
	}
	// slack-go appends the method name to the base URL.
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	// slack-go never sees the token: slackAPIDoer sends it in the Authorization
	// header, as Slack recommends, instead of the form body.
	n.api = slack.New("",
		slack.OptionHTTPClient(slackAPIDoer{client: env.client, token: token}),
		slack.OptionAPIURL(apiURL))
	return n, nil
}

// Send posts the delivery's message. In API mode the channel is the delivery's
// address or else spec.slack.channel; an incoming webhook posts where it was created.
func (n *slackNotifier) Send(ctx context.Context, d Delivery) error {
	ctx, cancel := n.env.attempt(ctx)
	defer cancel()
	var err error
	if n.api != nil {
		err = n.sendAPI(ctx, d)
	} else {
		err = n.sendWebhook(ctx, d)
	}
	return finishSend(err, n.secrets)
}

// slackWebhookBody is the JSON an incoming webhook takes.
type slackWebhookBody struct {
	Text        string        `json:"text"`
	Blocks      []slack.Block `json:"blocks"`
	UnfurlLinks bool          `json:"unfurl_links"`
	UnfurlMedia bool          `json:"unfurl_media"`
}

func (n *slackNotifier) sendWebhook(ctx context.Context, d Delivery) error {
	body, err := slackWebhookPayload(d.Message)
	if err != nil {
		return &SendError{Err: err, Permanent: true}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	res, err := postOnce(ctx, n.env.client, n.hookURL, h, body)
	if err != nil {
		return err
	}
	if res.Status == http.StatusOK {
		return nil
	}
	// Slack answers with a bare error code such as invalid_payload or
	// channel_is_archived; the status says whether it is worth retrying.
	return classifyHTTP(res, n.env.now(), "slack incoming webhook "+redactURL(n.hookURL), "")
}

// slackWebhookPayload renders the incoming-webhook body of a message. Unfurling is
// off: Slack's unfurler would fetch the acknowledge link.
func slackWebhookPayload(m Message) ([]byte, error) {
	return jsonMarshal(slackWebhookBody{Text: slackFallbackText(m), Blocks: slackBlocks(m)})
}

func (n *slackNotifier) sendAPI(ctx context.Context, d Delivery) error {
	channel := d.Address
	if channel == "" {
		channel = n.channel
	}
	if channel == "" {
		return &SendError{Err: errors.New("slack chat.postMessage: no channel: the recipient has no address and spec.slack.channel is empty"), Permanent: true}
	}
	capture := &slackResponseCapture{}
	ctx = context.WithValue(ctx, slackCaptureKey{}, capture)
	_, _, err := n.api.PostMessageContext(ctx, channel,
		slack.MsgOptionText(slackFallbackText(d.Message), false),
		slack.MsgOptionBlocks(slackBlocks(d.Message)...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	)
	if err == nil {
		return nil
	}
	return classifySlackAPIError(ctx, err, capture, channel, n.env.now())
}

// classifySlackAPIError turns a chat.postMessage failure into a *SendError: an
// ok:false answer by its error code, anything else by its HTTP status.
func classifySlackAPIError(ctx context.Context, err error, capture *slackResponseCapture, channel string, now time.Time) *SendError {
	what := fmt.Sprintf("slack chat.postMessage to channel %q", channel)
	var (
		apiErr  slack.SlackErrorResponse
		limited *slack.RateLimitedError
	)
	switch {
	case errors.As(err, &apiErr):
		se := &SendError{Err: fmt.Errorf("%s failed: %s", what, bodySnippet([]byte(apiErr.Err))), StatusCode: capture.status}
		if slackTemporaryErrors[apiErr.Err] {
			se.RetryAfter = retryAfterFromHeader(capture.header, now)
		} else {
			se.Permanent = true
		}
		return se
	case errors.As(err, &limited):
		return &SendError{Err: fmt.Errorf("%s: rate limited", what), StatusCode: http.StatusTooManyRequests,
			RetryAfter: min(max(limited.RetryAfter, 0), maxRetryAfter)}
	case capture.status != 0 && capture.status != http.StatusOK:
		return classifyHTTP(httpResponse{Status: capture.status, Header: capture.header}, now, what, "")
	case capture.status == http.StatusOK:
		// Slack took the request but its answer could not be read: the message may
		// be posted. A retry risks a repeat, which beats risking silence.
		return &SendError{Err: fmt.Errorf("%s: unreadable response: %w", what, err), StatusCode: capture.status}
	}
	return transportError(ctx, what, err)
}

// slackCaptureKey keys the per-request slackResponseCapture in a context.
type slackCaptureKey struct{}

// slackResponseCapture records the status and headers slack-go does not return, so
// Retry-After is honoured whatever its form.
type slackResponseCapture struct {
	status int
	header http.Header
}

// slackAPIDoer is the HTTP client slack-go uses: it authenticates each request with
// the bot token and records the response for classification.
type slackAPIDoer struct {
	client *http.Client
	token  string
}

// Do sends req with the token as a bearer token, removing the empty token field
// slack-go puts in form bodies.
func (d slackAPIDoer) Do(req *http.Request) (*http.Response, error) {
	if err := stripFormToken(req); err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.client.Do(req)
	if c, ok := req.Context().Value(slackCaptureKey{}).(*slackResponseCapture); ok && resp != nil {
		c.status = resp.StatusCode
		c.header = resp.Header.Clone()
	}
	return resp, err
}

func stripFormToken(req *http.Request) error {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" || req.Body == nil {
		return nil
	}
	raw, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return fmt.Errorf("read slack request body: %w", err)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return fmt.Errorf("parse slack request body: %w", err)
	}
	form.Del("token")
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	return nil
}

// slackBlocks renders a message as Block Kit: a header, a fields section (severity,
// state, stage, ...), the text in up to four sections, the runbooks, buttons for the
// links and a context line. Every text is escaped where Slack parses it and cut to
// Slack's limits.
func slackBlocks(m Message) []slack.Block {
	inc := m.Incident
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
			truncateRunes(slackHeadline(m), slackMaxHeaderText), true, false)),
	}
	if fields := slackFields(m); len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	for _, part := range splitText(m.Text, slackMaxSectionText, slackMaxTextSections) {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, part, false, false), nil, nil))
	}
	if rb := slackRunbooks(m.Links.Runbooks); rb != "" {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, rb, false, false), nil, nil))
	}
	if buttons := slackButtons(m.Links); len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("", buttons...))
	}
	ctxText := "Klaxon"
	if inc.Namespace != "" || inc.Name != "" {
		ctxText += " · " + slackEscape(inc.Namespace+"/"+inc.Name)
	}
	if !inc.TriggeredAt.IsZero() {
		// Slack shows the date in each reader's own time zone; the fallback is UTC.
		ctxText += fmt.Sprintf(" · triggered <!date^%d^{date_short_pretty} {time}|%s>",
			inc.TriggeredAt.Unix(), inc.TriggeredAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if inc.ReopenCount > 0 {
		ctxText += fmt.Sprintf(" · reopened %d×", inc.ReopenCount)
	}
	blocks = append(blocks, slack.NewContextBlock("",
		slack.NewTextBlockObject(slack.MarkdownType, truncateRunes(ctxText, slackMaxContextText), false, false)))
	return blocks[:min(len(blocks), slackMaxBlocks)]
}

// slackHeadline is the header text: an icon, the severity and the subject.
func slackHeadline(m Message) string {
	icon := ":large_blue_circle:"
	switch {
	case m.Event == klaxonv1.EventResolved || m.Incident.State == klaxonv1.StateResolved:
		icon = ":white_check_mark:"
	case m.Event == klaxonv1.EventAcknowledged:
		icon = ":eyes:"
	case m.Incident.Severity == klaxonv1.SEV1 || m.Incident.Severity == klaxonv1.SEV2:
		icon = ":red_circle:"
	case m.Incident.Severity == klaxonv1.SEV3:
		icon = ":large_orange_circle:"
	}
	return icon + " " + severityHeadline(m, " · ")
}

// slackFallbackText is the top-level text: one line with event, severity and subject.
func slackFallbackText(m Message) string {
	line := severityHeadline(m, " · ")
	if m.Event != "" {
		line = string(m.Event) + ": " + line
	}
	return slackTruncateEscaped(slackEscape(oneLine(line)), slackMaxFallbackText)
}

func slackFields(m Message) []*slack.TextBlockObject {
	var fields []*slack.TextBlockObject
	for _, f := range incidentFacts(m) {
		if len(fields) == slackMaxFields {
			break
		}
		prefix := "*" + f.Title + "*\n"
		text := prefix + slackTruncateEscaped(slackEscape(f.Value), slackMaxFieldText-len([]rune(prefix)))
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, text, false, false))
	}
	return fields
}

// slackRunbooks lists runbook links in one section, as many as fit.
func slackRunbooks(links []Link) string {
	const title = "*Runbooks*"
	out := title
	for _, l := range links {
		u := webURL(l.URL, slackMaxLinkURL)
		if u == "" {
			continue
		}
		// In <url|label>, a | or > in the URL would end it early.
		u = strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E").Replace(u)
		line := "\n• <" + u + ">"
		if label := oneLine(l.Title); strings.TrimSpace(label) != "" {
			line = "\n• <" + u + "|" + slackTruncateEscaped(slackEscape(label), 200) + ">"
		}
		if len([]rune(out))+len([]rune(line)) > slackMaxSectionText {
			break
		}
		out += line
	}
	if out == title {
		return ""
	}
	return out
}

func slackButtons(l Links) []slack.BlockElement {
	var out []slack.BlockElement
	add := func(actionID, label, link string, style slack.Style) {
		u := webURL(link, slackMaxButtonURL)
		if u == "" {
			return
		}
		b := slack.NewButtonBlockElement(actionID, "",
			slack.NewTextBlockObject(slack.PlainTextType, truncateRunes(label, slackMaxButtonText), true, false)).WithURL(u)
		if style != "" {
			b = b.WithStyle(style)
		}
		out = append(out, b)
	}
	add("klaxon_acknowledge", "Acknowledge", l.Acknowledge, slack.StylePrimary)
	add("klaxon_resolve", "Resolve", l.Resolve, "")
	add("klaxon_open", "Open incident", l.Incident, "")
	return out
}

// slackEscape escapes the three characters Slack parses in text (&, <, >), so an
// incident title like "<!channel>" cannot notify a whole channel.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackTruncateEscaped truncates escaped text without leaving half an entity.
func slackTruncateEscaped(s string, limit int) string {
	out := truncateRunes(s, limit)
	if out == s || !strings.HasSuffix(out, "…") {
		return out
	}
	body := strings.TrimSuffix(out, "…")
	if i := strings.LastIndexByte(body, '&'); i >= 0 && !strings.Contains(body[i:], ";") {
		body = body[:i]
	}
	return body + "…"
}

// splitText cuts text into at most maxParts non-empty parts of at most size
// characters, preferring line then word boundaries; the last part ends with an
// ellipsis when text did not fit.
func splitText(text string, size, maxParts int) []string {
	s := strings.TrimSpace(strings.ToValidUTF8(text, "\uFFFD"))
	var parts []string
	for s != "" && len(parts) < maxParts {
		prefix := runePrefix(s, size)
		if len(prefix) == len(s) {
			parts = append(parts, s)
			break
		}
		if len(parts) == maxParts-1 {
			parts = append(parts, runePrefix(s, size-1)+"…")
			break
		}
		cut := strings.LastIndexByte(prefix, '\n')
		if cut < len(prefix)/2 {
			cut = strings.LastIndexFunc(prefix, unicode.IsSpace)
		}
		if cut < len(prefix)/2 {
			cut = len(prefix)
		}
		parts = append(parts, strings.TrimRightFunc(s[:cut], unicode.IsSpace))
		s = strings.TrimSpace(s[cut:])
	}
	return parts
}

// oneLine replaces line breaks and other control characters with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
