package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

const (
	// teamsMaxPayloadBytes keeps a message under Teams' 28 KB limit however "KB" is
	// read (28,000 or 28,672 bytes). Over the limit Teams refuses the message (413).
	teamsMaxPayloadBytes = 27 << 10
	// teamsMaxFieldRunes bounds the headline and each fact, so Message.Text gets most
	// of the budget.
	teamsMaxFieldRunes = 200
	// teamsMaxRunbooks bounds the runbook list.
	teamsMaxRunbooks = 20
	// teamsMaxURL bounds one link; a longer one is left out rather than cut.
	teamsMaxURL = 2048
)

// teamsDeliveryFailure matches the legacy connector's habit of answering 200 with
// "Webhook message delivery failed with error: Microsoft Teams endpoint returned
// HTTP error 429 ..." in the body (MicrosoftDocs/msteams-docs#1810, #7425).
var teamsDeliveryFailure = regexp.MustCompile(`HTTP error (\d{3})`)

// teamsNotifier posts an Adaptive Card to a Teams incoming webhook or a Workflows
// "When a Teams webhook request is received" trigger.
type teamsNotifier struct {
	url     string
	env     channelEnv
	secrets []string
}

func newTeamsNotifier(secret map[string][]byte, env channelEnv) (Notifier, error) {
	u := secretString(secret, klaxonv1.SecretKeyURL)
	return &teamsNotifier{url: u, env: env, secrets: urlSecrets(u)}, nil
}

// Send posts the delivery's card. Any 2xx is success (the legacy connector answers
// 200 "1", Workflows 202), except a 200 whose body reports a failed delivery.
func (n *teamsNotifier) Send(ctx context.Context, d Delivery) error {
	ctx, cancel := n.env.attempt(ctx)
	defer cancel()
	return finishSend(n.send(ctx, d), n.secrets)
}

func (n *teamsNotifier) send(ctx context.Context, d Delivery) error {
	body, err := teamsPayload(d.Message)
	if err != nil {
		return &SendError{Err: err, Permanent: true}
	}
	h := http.Header{}
	// Without the charset the connector counts the body as UTF-16, halving the limit.
	h.Set("Content-Type", "application/json; charset=utf-8")
	res, err := postOnce(ctx, n.env.client, n.url, h, body)
	if err != nil {
		return err
	}
	what := "msteams webhook " + redactURL(n.url)
	if res.Status < 200 || res.Status >= 300 {
		return classifyHTTP(res, n.env.now(), what, "")
	}
	if !strings.Contains(string(res.Body), "delivery failed") {
		return nil
	}
	inner := http.StatusBadGateway // "Error contacting Microsoft Teams endpoint": try again
	if m := teamsDeliveryFailure.FindSubmatch(res.Body); m != nil {
		inner, _ = strconv.Atoi(string(m[1]))
	}
	res.Status = inner
	return classifyHTTP(res, n.env.now(), what+" (inside a 200 answer)", "")
}

// teamsMessageBody is the message Teams takes: one Adaptive Card attachment.
type teamsMessageBody struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string `json:"contentType"`
	// ContentURL is always null, as in Microsoft's examples.
	ContentURL *string   `json:"contentUrl"`
	Content    teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	MSTeams teamsWidth    `json:"msteams"`
	Body    []any         `json:"body"`
	Actions []teamsAction `json:"actions,omitempty"`
}

// teamsWidth asks Teams to use the full width of the channel for the card.
type teamsWidth struct {
	Width string `json:"width"`
}

type teamsTextBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
}

type teamsFactSet struct {
	Type  string      `json:"type"`
	Facts []teamsFact `json:"facts"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// teamsPayload renders a message as an Adaptive Card 1.4 message of at most
// teamsMaxPayloadBytes: Message.Text is cut to what fits, and the runbook list goes
// if even the rest does not fit.
func teamsPayload(m Message) ([]byte, error) {
	text := strings.TrimSpace(strings.ToValidUTF8(m.Text, "\uFFFD"))
	for _, withRunbooks := range []bool{true, false} {
		body, err := jsonMarshal(teamsMessage(m, text, withRunbooks))
		if err != nil {
			return nil, fmt.Errorf("encode teams card: %w", err)
		}
		if len(body) <= teamsMaxPayloadBytes {
			return body, nil
		}
		if text == "" {
			continue
		}
		// The card with a one-byte text, less that byte, is what the text may add to.
		base, err := jsonMarshal(teamsMessage(m, "x", withRunbooks))
		if err != nil {
			return nil, fmt.Errorf("encode teams card: %w", err)
		}
		fitted := fitJSONText(text, teamsMaxPayloadBytes-(len(base)-1))
		if fitted == "" {
			continue
		}
		body, err = jsonMarshal(teamsMessage(m, fitted, withRunbooks))
		if err != nil {
			return nil, fmt.Errorf("encode teams card: %w", err)
		}
		if len(body) <= teamsMaxPayloadBytes {
			return body, nil
		}
	}
	return nil, errors.New("teams card does not fit in 28 KB even without its text")
}

func teamsMessage(m Message, text string, withRunbooks bool) teamsMessageBody {
	inc := m.Incident
	body := []any{teamsTextBlock{Type: "TextBlock", Text: truncateRunes(severityHeadline(m, " · "), teamsMaxFieldRunes),
		Wrap: true, Size: "Large", Weight: "Bolder", Color: teamsColor(m)}}
	if facts := teamsFacts(m); len(facts) > 0 {
		body = append(body, teamsFactSet{Type: "FactSet", Facts: facts})
	}
	if text != "" {
		body = append(body, teamsTextBlock{Type: "TextBlock", Text: text, Wrap: true})
	}
	if rb := teamsRunbooks(m.Links.Runbooks); rb != "" && withRunbooks {
		body = append(body, teamsTextBlock{Type: "TextBlock", Text: rb, Wrap: true})
	}
	ctxText := "Klaxon"
	if inc.Namespace != "" || inc.Name != "" {
		ctxText += " · " + truncateRunes(oneLine(inc.Namespace+"/"+inc.Name), teamsMaxFieldRunes)
	}
	if !inc.TriggeredAt.IsZero() {
		ctxText += " · triggered " + inc.TriggeredAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	if inc.ReopenCount > 0 {
		ctxText += fmt.Sprintf(" · reopened %d×", inc.ReopenCount)
	}
	body = append(body, teamsTextBlock{Type: "TextBlock", Text: ctxText, Wrap: true, Size: "Small", IsSubtle: true})

	var actions []teamsAction
	for _, a := range []struct{ title, url string }{
		{"Acknowledge", m.Links.Acknowledge},
		{"Resolve", m.Links.Resolve},
		{"Open incident", m.Links.Incident},
	} {
		if u := webURL(a.url, teamsMaxURL); u != "" {
			actions = append(actions, teamsAction{Type: "Action.OpenUrl", Title: a.title, URL: u})
		}
	}
	return teamsMessageBody{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: teamsCard{
				Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
				Type:    "AdaptiveCard",
				Version: "1.4",
				MSTeams: teamsWidth{Width: "Full"},
				Body:    body,
				Actions: actions,
			},
		}},
	}
}

// teamsColor colours the headline: red for SEV1 and SEV2, amber for SEV3, green
// once resolved.
func teamsColor(m Message) string {
	switch {
	case m.Event == klaxonv1.EventResolved || m.Incident.State == klaxonv1.StateResolved:
		return "Good"
	case m.Incident.Severity == klaxonv1.SEV1 || m.Incident.Severity == klaxonv1.SEV2:
		return "Attention"
	case m.Incident.Severity == klaxonv1.SEV3:
		return "Warning"
	}
	return ""
}

func teamsFacts(m Message) []teamsFact {
	var facts []teamsFact
	for _, f := range incidentFacts(m) {
		facts = append(facts, teamsFact{Title: f.Title, Value: truncateRunes(f.Value, teamsMaxFieldRunes)})
	}
	return facts
}

// teamsRunbooks lists runbook links as a Markdown list; Adaptive Cards separate list
// items with "\r".
func teamsRunbooks(links []Link) string {
	var items []string
	for _, l := range links {
		if len(items) == teamsMaxRunbooks {
			break
		}
		u := webURL(l.URL, teamsMaxURL)
		if u == "" {
			continue
		}
		// A parenthesis would end the Markdown link target early.
		u = strings.NewReplacer("(", "%28", ")", "%29").Replace(u)
		label := strings.TrimSpace(oneLine(l.Title))
		if label == "" {
			label = u
		}
		// Brackets would end the link label early.
		label = strings.NewReplacer("[", "(", "]", ")").Replace(truncateRunes(label, teamsMaxFieldRunes))
		items = append(items, "- ["+label+"]("+u+")")
	}
	if len(items) == 0 {
		return ""
	}
	return "**Runbooks**\r" + strings.Join(items, "\r")
}
