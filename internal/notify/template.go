package notify

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	htemplate "html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"
	ttemplate "text/template"
	"time"
	_ "time/tzdata" // recipients' zones must resolve on images without a tz database

	"github.com/Masterminds/sprig/v3"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

//go:embed templates
var builtinFS embed.FS

// Rendering bounds.
const (
	maxRendered = 64 << 10
	maxSubject  = 1024
	// maxRange bounds the counts tenants' templates may ask sprig for.
	maxRange = 10000
)

// TemplateData is what a message template sees, as {{ .Field }}.
type TemplateData struct {
	// Audience the message is for.
	Audience klaxonv1.Audience
	// Event announced.
	Event klaxonv1.IncidentEvent
	// ChannelType the message goes through.
	ChannelType klaxonv1.ChannelType
	// Incident as of the event.
	Incident IncidentSummary
	// Description of the incident.
	Description string
	// Resolution: what fixed it, once known.
	Resolution string
	// Actor who caused the event (who acknowledged or resolved), when known.
	Actor string
	// Reason the message is sent: first, escalated, repeat, resolved, ...
	Reason string
	// Recipient's display name, when the message goes to a person.
	Recipient string
	// Affected apps, servers and networks.
	Affected klaxonv1.AffectedResources
	// Labels of the alert that opened the incident.
	Labels map[string]string
	// Links to act and read more; the respond links are the recipient's own.
	Links Links
	// Timeline is an excerpt, oldest first (see TimelineExcerpt).
	Timeline []TimelineNote
	// Deadlines policy set, e.g. a regulator's notification deadline.
	Deadlines []Deadline
	// NextUpdateAt is when the audience hears next; zero when not promised.
	NextUpdateAt time.Time
	// ExpectedResolutionAt is the expected resolution; zero when unknown.
	ExpectedResolutionAt time.Time
	// TimeZone (IANA) times are shown in; UTC when empty or unknown.
	TimeZone string
	// Now is the time of rendering.
	Now time.Time
}

// Deadline is a time limit shown in messages.
type Deadline struct {
	Name        string
	At          time.Time
	Description string
}

// TimelineNote is a timeline entry as templates see it.
type TimelineNote struct {
	Time    time.Time
	Type    string
	Actor   string
	Message string
}

// TimelineExcerpt returns the newest n entries, oldest first.
func TimelineExcerpt(entries []klaxonv1.TimelineEntry, n int) []TimelineNote {
	entries = entries[max(len(entries)-max(n, 0), 0):]
	out := make([]TimelineNote, 0, len(entries))
	for _, e := range entries {
		out = append(out, TimelineNote{Time: e.Time.Time, Type: e.Type, Actor: e.Actor, Message: e.Message})
	}
	return out
}

var locations sync.Map // IANA name -> *time.Location

// Local formats t in the data's time zone, e.g. "2026-03-02 11:00 CET".
func (d TemplateData) Local(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	loc := time.UTC
	if d.TimeZone != "" && d.TimeZone != "Local" {
		if l, ok := locations.Load(d.TimeZone); ok {
			loc = l.(*time.Location)
		} else if l, err := time.LoadLocation(d.TimeZone); err == nil {
			locations.Store(d.TimeZone, l)
			loc = l
		}
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// Elapsed is the time since the incident was triggered, e.g. "2h 5m".
func (d TemplateData) Elapsed() string {
	e := d.Now.Sub(d.Incident.TriggeredAt)
	if d.Now.IsZero() || d.Incident.TriggeredAt.IsZero() || e < time.Minute {
		return "less than a minute"
	}
	days, hours, mins := int(e/(24*time.Hour)), int(e/time.Hour)%24, int(e/time.Minute)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	}
	return fmt.Sprintf("%dm", mins)
}

// format is the markup a text part is written in.
type format int

const (
	// formatText: plain text, for e-mail, webhooks and PagerDuty.
	formatText format = iota
	// formatSlack: Slack mrkdwn, which the Slack channel puts in its sections as is.
	formatSlack
	// formatTeams: the Markdown subset of Adaptive Card text blocks.
	formatTeams
	numFormats
)

var formats = []format{formatText, formatSlack, formatTeams}

func formatFor(t klaxonv1.ChannelType) format {
	switch t {
	case klaxonv1.ChannelSlack:
		return formatSlack
	case klaxonv1.ChannelMSTeams:
		return formatTeams
	}
	return formatText
}

func formatName(name string, f format) string {
	return name + "." + [...]string{"text", "slack", "teams"}[f]
}

// Chat is true for chat channels (Slack, Teams). Their cards already show the
// subject, the incident's fields (severity, state, stage, service, ...), the runbooks
// and buttons for the links, so the built-in bodies leave those out there.
func (d TemplateData) Chat() bool {
	return d.ChannelType == klaxonv1.ChannelSlack || d.ChannelType == klaxonv1.ChannelMSTeams
}

// voice names the built-in templates an audience gets.
func voice(a klaxonv1.Audience) string {
	switch a {
	case klaxonv1.AudienceResponders, klaxonv1.AudienceEngineering, klaxonv1.AudienceSecurity:
		return "responders"
	case klaxonv1.AudienceManagement, klaxonv1.AudienceExecutives, klaxonv1.AudienceCustomerService,
		klaxonv1.AudienceLegal, klaxonv1.AudienceRegulators:
		return "management"
	}
	// Customers, partners, and audiences this version does not know: say least.
	return "customers"
}

// textSet is a text/template set parsed for one format.
type textSet = *ttemplate.Template

// voiceSet is one voice's built-in templates.
type voiceSet struct {
	text [numFormats]textSet // by format; "subject" and "body"
	html *htemplate.Template
}

// Renderer renders a Message for one audience, event and channel type. A stakeholder
// group's templates override the built-in ones (most specific first); the built-in
// ones, embedded from templates/, speak in one of three voices picked by the audience
// (see templates/README.md). Slack gets Slack mrkdwn, Teams the Markdown of Adaptive
// Cards, e-mail plain text and HTML, webhooks and PagerDuty plain text.
//
// Templates come from tenants, so the function set is sprig's without what reaches
// outside the controller (env, expandenv, getHostByName), what only burns CPU
// (bcrypt, htpasswd, derivePassword, key and certificate generation) or is random,
// and with sizes bounded (repeat, indent, until, seq, ...); each part renders to at
// most 64 KiB.
//
// It is safe for concurrent use; overrides are parsed once and cached.
type Renderer struct {
	voices map[string]*voiceSet

	mu    sync.Mutex
	cache map[[sha256.Size]byte]*parsedOverride
}

// parsedOverride is a group's template parsed once per format (the formats' sets
// differ in their functions).
type parsedOverride struct {
	subject, body [numFormats]textSet // by format; subject[f] nil when the template has none
	html          *htemplate.Template
	err           error
}

// maxCached bounds the override cache; it is emptied when full.
const maxCached = 512

// NewRenderer parses the built-in templates. An error means the binary is broken.
func NewRenderer() (*Renderer, error) {
	r := &Renderer{voices: map[string]*voiceSet{}, cache: map[[sha256.Size]byte]*parsedOverride{}}
	for _, v := range []string{"responders", "management", "customers"} {
		files := map[string]string{}
		for _, name := range []string{"common", "subject", "body", "html"} {
			raw, err := fs.ReadFile(builtinFS, path.Join("templates", v, name+".tmpl"))
			if err != nil {
				return nil, fmt.Errorf("built-in templates %s: %w", v, err)
			}
			files[name] = string(raw)
		}
		vs := &voiceSet{}
		for _, f := range formats {
			t, err := parseText(v, f, files["common"], files["subject"], files["body"])
			if err != nil {
				return nil, fmt.Errorf("built-in templates %s: %w", v, err)
			}
			vs.text[f] = t
		}
		h, err := parseHTML(v, files["common"], files["html"])
		if err != nil {
			return nil, fmt.Errorf("built-in templates %s: %w", v, err)
		}
		vs.html = h
		r.voices[v] = vs
	}
	return r, nil
}

// Render renders the message for d.Audience, d.Event and d.ChannelType: with the most
// specific of overrides that applies (see Select), else the audience's built-in
// templates. It always returns a usable Message. A non-nil warning says an override
// failed to render and the built-in one was used instead; the caller raises it as a
// Warning event.
func (r *Renderer) Render(overrides []klaxonv1.MessageTemplate, d TemplateData) (msg Message, warning error) {
	if o := Select(overrides, d.Event, d.ChannelType); o != nil {
		m, err := r.renderOverride(*o, d)
		if err == nil {
			return m, nil
		}
		warning = fmt.Errorf("template for event %q, channel type %q failed, used the built-in one: %w",
			o.Event, o.ChannelType, err)
	}
	m, err := r.renderBuiltin(d)
	if err != nil {
		// Unreachable with tested built-ins; still say something, and nothing internal.
		m = r.message(d, "Incident update", "There is an update on an incident.", "")
		warning = errors.Join(warning, fmt.Errorf("built-in template failed: %w", err))
	}
	return m, warning
}

// Select returns the template of overrides for event and channel type: one naming
// both wins over one naming the event, which wins over one naming the channel type,
// which wins over one naming neither; among equals the first listed. Nil when none
// applies.
func Select(overrides []klaxonv1.MessageTemplate, event klaxonv1.IncidentEvent, ct klaxonv1.ChannelType) *klaxonv1.MessageTemplate {
	best, bestScore := -1, -1
	for i, o := range overrides {
		if (o.Event != "" && o.Event != event) || (o.ChannelType != "" && o.ChannelType != ct) {
			continue
		}
		score := 0
		if o.Event != "" {
			score += 2
		}
		if o.ChannelType != "" {
			score++
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return nil
	}
	return &overrides[best]
}

// Validate parses a stakeholder group's template and renders it with sample data in
// every format, for admission: a template that does not parse, or fails with data
// that has every field set, is rejected with the error.
func Validate(t klaxonv1.MessageTemplate) error {
	if strings.TrimSpace(t.Body) == "" {
		return errors.New("body: must not be empty")
	}
	p := parseOverride(t)
	if p.err != nil {
		return p.err
	}
	r := &Renderer{}
	for _, ct := range []klaxonv1.ChannelType{klaxonv1.ChannelSlack, klaxonv1.ChannelMSTeams, klaxonv1.ChannelEmail} {
		d := sampleData()
		d.ChannelType = ct
		if _, err := r.executeOverride(p, d); err != nil {
			return err
		}
	}
	return nil
}

func (r *Renderer) renderBuiltin(d TemplateData) (Message, error) {
	vs := r.voices[voice(d.Audience)]
	if vs == nil {
		return Message{}, errors.New("renderer has no built-in templates; use NewRenderer")
	}
	f := formatFor(d.ChannelType)
	subject, err := execute(vs.text[f], "subject", d)
	if err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	body, err := execute(vs.text[f], "body", d)
	if err != nil {
		return Message{}, fmt.Errorf("body: %w", err)
	}
	var html string
	if d.ChannelType == klaxonv1.ChannelEmail {
		if html, err = execute(vs.html, "html", d); err != nil {
			return Message{}, fmt.Errorf("html: %w", err)
		}
	}
	return r.message(d, subject, body, html), nil
}

func (r *Renderer) renderOverride(o klaxonv1.MessageTemplate, d TemplateData) (Message, error) {
	key := sha256.Sum256([]byte(o.Subject + "\x00" + o.Body + "\x00" + o.HTMLBody))
	r.mu.Lock()
	p, ok := r.cache[key]
	if !ok {
		p = parseOverride(o)
		if len(r.cache) >= maxCached {
			clear(r.cache)
		}
		r.cache[key] = p
	}
	r.mu.Unlock()
	if p.err != nil {
		return Message{}, p.err
	}
	return r.executeOverride(p, d)
}

func (r *Renderer) executeOverride(p *parsedOverride, d TemplateData) (Message, error) {
	f := formatFor(d.ChannelType)
	var subject string
	if p.subject[f] != nil {
		var err error
		if subject, err = execute(p.subject[f], "", d); err != nil {
			return Message{}, fmt.Errorf("subject: %w", err)
		}
	} else if r.voices != nil {
		var err error
		if subject, err = execute(r.voices[voice(d.Audience)].text[f], "subject", d); err != nil {
			return Message{}, fmt.Errorf("subject: %w", err)
		}
	}
	body, err := execute(p.body[f], "", d)
	if err != nil {
		return Message{}, fmt.Errorf("body: %w", err)
	}
	var html string
	if d.ChannelType == klaxonv1.ChannelEmail {
		if p.html != nil {
			if html, err = execute(p.html, "", d); err != nil {
				return Message{}, fmt.Errorf("htmlBody: %w", err)
			}
		} else {
			html = textToHTML(cleanText(body))
		}
	}
	return r.message(d, subject, body, html), nil
}

// message assembles the result. The channels build headers, fields and buttons from
// Message, so it carries only what the audience may see: customers get no title,
// incident name, severity, category, assignee, escalation level or links to internal
// tools, and management no runbooks.
func (r *Renderer) message(d TemplateData, subject, body, html string) Message {
	m := Message{
		Event:    d.Event,
		Incident: d.Incident,
		Subject:  cleanSubject(subject),
		Text:     cleanText(body),
		HTML:     strings.TrimSpace(html),
		Links:    d.Links,
	}
	switch voice(d.Audience) {
	case "management":
		m.Links.Runbooks = nil
	case "customers":
		inc := d.Incident
		m.Incident = IncidentSummary{Title: m.Subject, State: inc.State, Stage: inc.Stage, Service: inc.Service,
			Customer: inc.Customer, TriggeredAt: inc.TriggeredAt, ReopenCount: inc.ReopenCount}
		m.Links = Links{}
	}
	return m
}

// parseOverride parses each part of a group's template for every format.
func parseOverride(o klaxonv1.MessageTemplate) *parsedOverride {
	p := &parsedOverride{}
	var err error
	if strings.TrimSpace(o.Subject) != "" {
		if p.subject, err = parseOverrideText("subject", o.Subject); err != nil {
			p.err = fmt.Errorf("subject: %w", err)
			return p
		}
	}
	if p.body, err = parseOverrideText("body", o.Body); err != nil {
		p.err = fmt.Errorf("body: %w", err)
		return p
	}
	if strings.TrimSpace(o.HTMLBody) != "" {
		if p.html, err = parseHTML("htmlBody", o.HTMLBody); err != nil {
			p.err = fmt.Errorf("htmlBody: %w", err)
		}
	}
	return p
}

// parseOverrideText parses src once per format.
func parseOverrideText(name, src string) ([numFormats]textSet, error) {
	var out [numFormats]textSet
	for _, f := range formats {
		t, err := parseText(formatName(name, f), f, src)
		if err != nil {
			return out, err
		}
		out[f] = t
	}
	return out, nil
}

// parseText parses sources into one text/template set with f's functions.
func parseText(name string, f format, sources ...string) (textSet, error) {
	var t textSet
	include := func(name string, data any) (string, error) {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&limited{w: &b}, name, data); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	t = ttemplate.New(name).Option("missingkey=zero").Funcs(textFuncs(f, include))
	for _, src := range sources {
		if _, err := t.Parse(src); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// parseHTML parses sources into one html/template set.
func parseHTML(name string, sources ...string) (*htemplate.Template, error) {
	var t *htemplate.Template
	include := func(name string, data any) (htemplate.HTML, error) {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&limited{w: &b}, name, data); err != nil {
			return "", err
		}
		return htemplate.HTML(b.String()), nil //nolint:gosec // output of an html/template is safe HTML
	}
	t = htemplate.New(name).Option("missingkey=zero").Funcs(htmlFuncs(include))
	for _, src := range sources {
		if _, err := t.Parse(src); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// executor is what text and html templates have in common.
type executor interface {
	Execute(w io.Writer, data any) error
	ExecuteTemplate(w io.Writer, name string, data any) error
}

// execute runs the named template of t (t itself when name is empty) with at most
// maxRendered bytes of output.
func execute(t executor, name string, data any) (string, error) {
	var b bytes.Buffer
	w := &limited{w: &b}
	var err error
	if name == "" {
		err = t.Execute(w, data)
	} else {
		err = t.ExecuteTemplate(w, name, data)
	}
	return b.String(), err
}

var errTooLarge = fmt.Errorf("rendered message exceeds %d bytes", maxRendered)

// limited stops a template whose output grows past maxRendered.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n+len(p) > maxRendered {
		return 0, errTooLarge
	}
	l.n += len(p)
	return l.w.Write(p)
}

// cleanSubject makes one line of at most maxSubject bytes.
func cleanSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxSubject {
		cut := maxSubject - len("…")
		for cut > 0 && (s[cut]&0xC0) == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// cleanText trims the blank lines templates leave behind.
func cleanText(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if l == "" {
			if blank++; blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// textToHTML is the HTML part of an override without htmlBody: its text, escaped, in
// paragraphs.
func textToHTML(s string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body>\n")
	for _, para := range strings.Split(s, "\n\n") {
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(htemplate.HTMLEscapeString(para), "\n", "<br>\n"))
		b.WriteString("</p>\n")
	}
	b.WriteString("</body></html>")
	return b.String()
}

// Function sets.

// removed are sprig functions tenants' templates do not get: they read the
// controller's environment, reach the network, only burn CPU, or are random.
var removed = []string{
	"env", "expandenv", "getHostByName",
	"bcrypt", "htpasswd", "derivePassword", "genPrivateKey", "buildCustomCert", "genCA", "genCAWithKey",
	"genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
	"randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle",
}

// safeSprig is sprig's function map without removed, with sizes bounded.
func safeSprig() map[string]any {
	m := sprig.GenericFuncMap()
	for _, n := range removed {
		delete(m, n)
	}
	orig := sprig.GenericFuncMap()
	seq := orig["seq"].(func(...int) string)
	untilStep := orig["untilStep"].(func(int, int, int) []int)
	indent := orig["indent"].(func(int, string) string)
	bounded := func(ns ...int) error {
		for _, n := range ns {
			if n > maxRange || n < -maxRange {
				return fmt.Errorf("%d is out of range [-%d, %d]", n, maxRange, maxRange)
			}
		}
		return nil
	}
	m["repeat"] = func(count int, s string) (string, error) {
		if count < 0 || count*max(len(s), 1) > maxRendered {
			return "", fmt.Errorf("repeat: %d copies of %d bytes is too much", count, len(s))
		}
		return strings.Repeat(s, count), nil
	}
	m["indent"] = func(n int, s string) (string, error) {
		if n < 0 || n > 256 {
			return "", fmt.Errorf("indent: %d is out of range [0, 256]", n)
		}
		return indent(n, s), nil
	}
	m["nindent"] = func(n int, s string) (string, error) {
		if n < 0 || n > 256 {
			return "", fmt.Errorf("nindent: %d is out of range [0, 256]", n)
		}
		return "\n" + indent(n, s), nil
	}
	m["until"] = func(n int) ([]int, error) {
		if err := bounded(n); err != nil {
			return nil, fmt.Errorf("until: %w", err)
		}
		step := 1
		if n < 0 {
			step = -1
		}
		return untilStep(0, n, step), nil
	}
	m["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := bounded(start, stop); err != nil {
			return nil, fmt.Errorf("untilStep: %w", err)
		}
		return untilStep(start, stop, step), nil
	}
	m["seq"] = func(ns ...int) (string, error) {
		if err := bounded(ns...); err != nil {
			return "", fmt.Errorf("seq: %w", err)
		}
		return seq(ns...), nil
	}
	for name, fn := range domainFuncs {
		m[name] = fn
	}
	return m
}

// domainFuncs put incident terms into words.
var domainFuncs = map[string]any{
	// severityText: "SEV1 (critical)".
	"severityText": func(s klaxonv1.Severity) string {
		switch s {
		case klaxonv1.SEV1:
			return "SEV1 (critical)"
		case klaxonv1.SEV2:
			return "SEV2 (major)"
		case klaxonv1.SEV3:
			return "SEV3 (moderate)"
		case klaxonv1.SEV4:
			return "SEV4 (minor)"
		case klaxonv1.SEV5:
			return "SEV5 (low)"
		}
		return "not yet rated"
	},
	// stageText: what the team is doing, for management.
	"stageText": func(s klaxonv1.IncidentStage) string {
		switch s {
		case klaxonv1.StageContain:
			return "containing the impact"
		case klaxonv1.StageInvestigate:
			return "investigating the cause"
		case klaxonv1.StageRemediate:
			return "fixing the cause"
		case klaxonv1.StageRestore:
			return "restoring service"
		case klaxonv1.StageVerify:
			return "verifying the fix"
		case klaxonv1.StageMonitor:
			return "monitoring after the fix"
		}
		return "assessing the impact"
	},
	// publicProgress: the start of a sentence for customers, to be followed by the
	// service's name.
	"publicProgress": func(s klaxonv1.IncidentStage) string {
		switch s {
		case klaxonv1.StageContain, klaxonv1.StageRemediate, klaxonv1.StageRestore:
			return "We have identified the cause and are working on a fix for an issue affecting"
		case klaxonv1.StageVerify, klaxonv1.StageMonitor:
			return "A fix has been applied and we are monitoring the results for an issue affecting"
		}
		return "We are investigating an issue affecting"
	},
}

// textFuncs is the text/template function set for f: bold, esc and link write f's
// markup, so one template serves every format.
func textFuncs(f format, include func(string, any) (string, error)) ttemplate.FuncMap {
	m := ttemplate.FuncMap(safeSprig())
	m["include"] = include
	switch f {
	case formatSlack:
		m["esc"] = escapeSlack
		m["bold"] = func(s string) string { return "*" + escapeSlack(s) + "*" }
		m["link"] = func(text, u string) string {
			if !safeURL(u) {
				return escapeSlack(text)
			}
			return "<" + slackURL(u) + "|" + escapeSlack(text) + ">"
		}
	case formatTeams:
		m["esc"] = escapeTeams
		m["bold"] = func(s string) string { return "**" + escapeTeams(s) + "**" }
		m["link"] = func(text, u string) string {
			if !safeURL(u) {
				return escapeTeams(text)
			}
			return "[" + escapeTeams(text) + "](" + teamsURL(u) + ")"
		}
	default:
		m["esc"] = func(s string) string { return s }
		m["bold"] = func(s string) string { return s }
		m["link"] = func(text, u string) string {
			if !safeURL(u) {
				return text
			}
			return text + ": " + u
		}
	}
	return m
}

// htmlFuncs is the html/template function set: bold, esc and link exist so that the
// same templates parse, and html/template does the escaping.
func htmlFuncs(include func(string, any) (htemplate.HTML, error)) htemplate.FuncMap {
	m := htemplate.FuncMap(safeSprig())
	m["include"] = include
	m["esc"] = func(s string) string { return s }
	m["bold"] = func(s string) htemplate.HTML {
		return htemplate.HTML("<b>" + htemplate.HTMLEscapeString(s) + "</b>") //nolint:gosec // escaped
	}
	m["link"] = func(text, u string) htemplate.HTML {
		if !safeURL(u) {
			return htemplate.HTML(htemplate.HTMLEscapeString(text)) //nolint:gosec // escaped
		}
		return htemplate.HTML(`<a href="` + htemplate.HTMLEscapeString(u) + `">` + htemplate.HTMLEscapeString(text) + "</a>") //nolint:gosec // escaped, scheme checked
	}
	return m
}

// safeURL accepts the link schemes messages may carry.
func safeURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http" || p.Scheme == "mailto")
}

// escapeSlack escapes the three characters Slack asks for. It keeps incident text
// from forming links or mentions (<!channel>); mrkdwn has no escape for *, _ or ~.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackURL escapes what would end a Slack link.
func slackURL(u string) string {
	return strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20").Replace(u)
}

// escapeTeams keeps incident text from forming Markdown links in an Adaptive Card,
// which has no escape character: "[text](url)" becomes "[text] (url)".
func escapeTeams(s string) string { return strings.ReplaceAll(s, "](", "] (") }

// teamsURL escapes what would end a Markdown link target.
func teamsURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29").Replace(u)
}

// sampleData has every field set, for Validate.
func sampleData() TemplateData {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return TemplateData{
		Audience: klaxonv1.AudienceResponders, Event: klaxonv1.EventTriggered,
		Incident: IncidentSummary{Namespace: "team-a", Name: "checkout-errors", Title: "Checkout errors",
			Severity: klaxonv1.SEV2, State: klaxonv1.StateTriggered, Stage: klaxonv1.StageTriage,
			Category: "availability", Service: "checkout", Customer: "acme", Assignee: "alice",
			TriggeredAt: t, ReopenCount: 1, Level: 1},
		Description: "Error rate above 5%.", Resolution: "Rolled back.", Actor: "alice", Reason: ReasonFirst,
		Recipient: "Alice", Affected: klaxonv1.AffectedResources{Apps: []string{"checkout"},
			Servers: []string{"web-1"}, Networks: []string{"10.0.0.0/24"}},
		Labels: map[string]string{"alertname": "HighErrorRate"},
		Links: Links{Acknowledge: "https://klaxon.example/ack", Resolve: "https://klaxon.example/resolve",
			Incident: "https://klaxon.example/i", Runbooks: []Link{{Title: "Checkout", URL: "https://runbooks.example/checkout"}}},
		Timeline:     []TimelineNote{{Time: t, Type: "Triggered", Actor: "alertmanager", Message: "opened"}},
		Deadlines:    []Deadline{{Name: "regulator", At: t.Add(72 * time.Hour), Description: "report"}},
		NextUpdateAt: t.Add(time.Hour), ExpectedResolutionAt: t.Add(2 * time.Hour),
		TimeZone: "Europe/Berlin", Now: t.Add(10 * time.Minute),
	}
}
