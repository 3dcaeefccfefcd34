package notify

import (
	"errors"
	"strings"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var (
	allEvents = []klaxonv1.IncidentEvent{klaxonv1.EventTriggered, klaxonv1.EventAcknowledged, klaxonv1.EventEscalated,
		klaxonv1.EventStageChanged, klaxonv1.EventResolved, klaxonv1.EventPostmortemPublished}
	allChannelTypes = []klaxonv1.ChannelType{klaxonv1.ChannelWebhook, klaxonv1.ChannelSlack, klaxonv1.ChannelMSTeams,
		klaxonv1.ChannelEmail, klaxonv1.ChannelPagerDuty}
	allAudiences = []klaxonv1.Audience{klaxonv1.AudienceResponders, klaxonv1.AudienceEngineering, klaxonv1.AudienceSecurity,
		klaxonv1.AudienceManagement, klaxonv1.AudienceExecutives, klaxonv1.AudienceCustomerService, klaxonv1.AudienceCustomers,
		klaxonv1.AudienceLegal, klaxonv1.AudienceRegulators, klaxonv1.AudiencePartners}
	allStages = []klaxonv1.IncidentStage{klaxonv1.StageTriage, klaxonv1.StageContain, klaxonv1.StageInvestigate,
		klaxonv1.StageRemediate, klaxonv1.StageRestore, klaxonv1.StageVerify, klaxonv1.StageMonitor}
)

func renderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// internalData is an incident full of internals a customer must never see.
func internalData() TemplateData {
	d := sampleData()
	d.Incident.Namespace, d.Incident.Name = "team-secret", "inc-db7-disk"
	d.Incident.Title = "Disk full on db-7.prod.internal"
	d.Incident.Severity = klaxonv1.SEV1
	d.Incident.Category = "data-breach"
	d.Incident.Assignee = "oncall-alice"
	d.Incident.Level = 2
	d.Description = "node db-7.prod.internal (10.1.2.3) out of inodes"
	d.Resolution = "purged /var/lib/pgsql/wal"
	d.Affected = klaxonv1.AffectedResources{Apps: []string{"pgbouncer-main"}, Servers: []string{"db-7.prod.internal"},
		Networks: []string{"10.1.0.0/16"}}
	d.Labels = map[string]string{"kubernetes_pod": "checkout-7f9c", "instance": "10.1.2.3:9100"}
	d.Links = Links{Acknowledge: "https://klaxon.internal/ack/tok", Resolve: "https://klaxon.internal/res/tok",
		Incident: "https://klaxon.internal/i/inc-db7-disk", Runbooks: []Link{{Title: "Postgres WAL runbook", URL: "https://runbooks.internal/pg"}}}
	d.Timeline = []TimelineNote{{Time: d.Now, Type: "Notified", Actor: "controller", Message: "paged oncall-alice"}}
	d.Deadlines = []Deadline{{Name: "gdpr-art33", At: d.Now.Add(72 * time.Hour), Description: "notify the DPA"}}
	d.Actor = "oncall-alice"
	d.Incident.Service = "Checkout"
	return d
}

var internals = []string{"db-7", "prod.internal", "10.1.", "SEV", "critical", "kubernetes_pod", "checkout-7f9c",
	"runbook", "Runbook", "klaxon.internal", "team-secret", "inc-db7", "pgbouncer", "pgsql", "inodes", "oncall-alice",
	"data-breach", "gdpr", "level", "Disk full"}

func TestBuiltinsRenderEverywhere(t *testing.T) {
	r := renderer(t)
	for _, a := range append(allAudiences, "aliens") {
		for _, ev := range allEvents {
			for _, ct := range allChannelTypes {
				for _, st := range allStages {
					d := internalData()
					d.Audience, d.Event, d.ChannelType, d.Incident.Stage = a, ev, ct, st
					m, warn := r.Render(nil, d)
					if warn != nil {
						t.Fatalf("%s/%s/%s: %v", a, ev, ct, warn)
					}
					if m.Subject == "" || m.Text == "" || strings.Contains(m.Subject, "\n") {
						t.Fatalf("%s/%s/%s: subject %q text %q", a, ev, ct, m.Subject, m.Text)
					}
					if (m.HTML != "") != (ct == klaxonv1.ChannelEmail) {
						t.Fatalf("%s/%s/%s: HTML %q", a, ev, ct, m.HTML)
					}
					if strings.Contains(m.Text+m.HTML, "<no value>") {
						t.Fatalf("%s/%s/%s: a field is missing:\n%s", a, ev, ct, m.Text)
					}
				}
			}
		}
	}
}

func TestCustomersSeeNoInternals(t *testing.T) {
	r := renderer(t)
	for _, a := range []klaxonv1.Audience{klaxonv1.AudienceCustomers, klaxonv1.AudiencePartners, "a-new-audience"} {
		for _, ev := range allEvents {
			for _, ct := range allChannelTypes {
				for _, st := range allStages {
					d := internalData()
					d.Audience, d.Event, d.ChannelType, d.Incident.Stage = a, ev, ct, st
					m, _ := r.Render(nil, d)
					all := strings.Join([]string{m.Subject, m.Text, m.HTML, m.Incident.Title, string(m.Incident.Severity),
						m.Incident.Namespace, m.Incident.Name,
						m.Incident.Category, m.Incident.Assignee, m.Links.Acknowledge, m.Links.Resolve, m.Links.Incident}, "\n")
					for _, s := range internals {
						if strings.Contains(all, s) {
							t.Errorf("%s/%s/%s/%s: leaks %q:\n%s", a, ev, ct, st, s, all)
						}
					}
					if len(m.Links.Runbooks) != 0 || m.Incident.Level != 0 {
						t.Errorf("%s/%s/%s: message keeps internal fields: %+v", a, ev, ct, m)
					}
					if ev != klaxonv1.EventPostmortemPublished && !strings.Contains(m.Text, "Checkout") {
						t.Errorf("%s/%s/%s: does not name the service:\n%s", a, ev, ct, m.Text)
					}
				}
			}
		}
	}
	d := internalData()
	d.Audience, d.Event, d.ChannelType = klaxonv1.AudienceCustomers, klaxonv1.EventTriggered, klaxonv1.ChannelEmail
	m, _ := r.Render(nil, d)
	if want := "We are investigating an issue affecting Checkout."; !strings.HasPrefix(m.Text, want) {
		t.Errorf("customers' message = %q, want it to start %q", m.Text, want)
	}
	d.Incident.Service = ""
	if m, _ := r.Render(nil, d); !strings.Contains(m.Text, "affecting our service") {
		t.Errorf("without a service: %q", m.Text)
	}
}

func TestManagementGetsImpactAndNextUpdate(t *testing.T) {
	r := renderer(t)
	d := internalData()
	d.Audience, d.Event, d.ChannelType = klaxonv1.AudienceExecutives, klaxonv1.EventTriggered, klaxonv1.ChannelEmail
	m, _ := r.Render(nil, d)
	for _, want := range []string{"[SEV1]", "Disk full", "Impact: Checkout for acme", "Severity: SEV1 (critical)",
		"Next update: by 2026-01-02 05:04 CET", "Expected resolution: 2026-01-02 06:04 CET", "gdpr-art33",
		"Follow the incident: https://klaxon.internal/i/inc-db7-disk"} {
		if !strings.Contains(m.Subject+"\n"+m.Text, want) {
			t.Errorf("management message lacks %q:\n%s\n%s", want, m.Subject, m.Text)
		}
	}
	for _, not := range []string{"kubernetes_pod", "runbooks.internal", "/ack/", "10.1.2.3"} {
		if strings.Contains(m.Text+m.HTML, not) {
			t.Errorf("management message shows %q:\n%s", not, m.Text)
		}
	}
	d.ExpectedResolutionAt, d.NextUpdateAt = time.Time{}, time.Time{}
	if m, _ := r.Render(nil, d); !strings.Contains(m.Text, "Expected resolution: not yet known") ||
		!strings.Contains(m.Text, "Next update: when the situation changes") {
		t.Errorf("without promises:\n%s", m.Text)
	}
}

func TestRespondersGetEveryDetail(t *testing.T) {
	r := renderer(t)
	d := internalData()
	d.Audience, d.Event, d.ChannelType = klaxonv1.AudienceResponders, klaxonv1.EventEscalated, klaxonv1.ChannelEmail
	m, _ := r.Render(nil, d)
	for _, want := range []string{"Acknowledge: https://klaxon.internal/ack/tok", "Resolve: https://klaxon.internal/res/tok",
		"Postgres WAL runbook: https://runbooks.internal/pg", "kubernetes_pod=checkout-7f9c", "servers: db-7.prod.internal",
		"Severity: SEV1", "Escalation: level 2", "gdpr-art33", "paged oncall-alice", "Incident: team-secret/inc-db7-disk",
		`<a href="https://klaxon.internal/ack/tok">Acknowledge</a>`, `<a href="https://runbooks.internal/pg">Postgres WAL runbook</a>`} {
		if !strings.Contains(m.Text+m.HTML, want) {
			t.Errorf("responders' e-mail lacks %q:\n%s\n%s", want, m.Text, m.HTML)
		}
	}
	if m.Subject != "[SEV1] Escalated, unacknowledged: Disk full on db-7.prod.internal (Checkout) - level 2" {
		t.Errorf("subject = %q", m.Subject)
	}

	// Chat cards show the fields, runbooks and link buttons; the text adds the rest.
	for _, ct := range []klaxonv1.ChannelType{klaxonv1.ChannelSlack, klaxonv1.ChannelMSTeams} {
		d.ChannelType = ct
		m, _ = r.Render(nil, d)
		for _, want := range []string{"kubernetes_pod=checkout-7f9c", "servers: db-7.prod.internal", "gdpr-art33",
			"paged oncall-alice", "out of inodes", "Started 2026-01-02 04:04 CET, 10m ago."} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("responders' %s message lacks %q:\n%s", ct, want, m.Text)
			}
		}
		for _, not := range []string{"Severity:", "klaxon.internal", "runbooks.internal"} {
			if strings.Contains(m.Text, not) {
				t.Errorf("responders' %s text repeats what the card shows (%q):\n%s", ct, not, m.Text)
			}
		}
		if m.Links.Acknowledge != d.Links.Acknowledge || len(m.Links.Runbooks) != 1 || m.Incident.Severity != klaxonv1.SEV1 {
			t.Errorf("responders' %s message lost links or fields: %+v", ct, m)
		}
	}
	d.ChannelType = klaxonv1.ChannelSlack
	if m, _ := r.Render(nil, d); !strings.Contains(m.Text, "*Labels*") {
		t.Errorf("Slack bold is not mrkdwn:\n%s", m.Text)
	}
	d.ChannelType = klaxonv1.ChannelMSTeams
	if m, _ := r.Render(nil, d); !strings.Contains(m.Text, "**Labels**") {
		t.Errorf("Teams bold is not Markdown:\n%s", m.Text)
	}
}

func TestIncidentTextCannotInjectMarkup(t *testing.T) {
	r := renderer(t)
	d := internalData()
	d.Audience, d.Event = klaxonv1.AudienceResponders, klaxonv1.EventTriggered
	evil := "*pwn* <!channel> [click](https://evil.example) <script>alert(1)</script> & co"
	d.Incident.Title, d.Description = evil, evil
	d.Links.Runbooks = []Link{{Title: "js", URL: "javascript:alert(1)"}}

	d.ChannelType = klaxonv1.ChannelSlack
	m, _ := r.Render(nil, d)
	if !strings.Contains(m.Text, "*pwn* &lt;!channel&gt; [click](https://evil.example) &lt;script&gt;alert(1)&lt;/script&gt; &amp; co") {
		t.Errorf("Slack text is not escaped:\n%s", m.Text)
	}
	d.ChannelType = klaxonv1.ChannelMSTeams
	m, _ = r.Render(nil, d)
	if !strings.Contains(m.Text, "[click] (https://evil.example)") {
		t.Errorf("Teams text forms a link:\n%s", m.Text)
	}
	d.ChannelType = klaxonv1.ChannelEmail
	m, _ = r.Render(nil, d)
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML is not escaped:\n%s", m.HTML)
	}
	if strings.Contains(m.HTML, `href="javascript:`) || strings.Contains(m.Text, "javascript:") {
		t.Errorf("a javascript: link is rendered:\n%s\n%s", m.Text, m.HTML)
	}
}

func TestLinkFunctions(t *testing.T) {
	r := renderer(t)
	body := `{{ link "a|b>c" "https://x.example/p?q=1|2>3 (4)" }} {{ link "bad" "javascript:x" }} {{ bold "b<" }}`
	cases := map[klaxonv1.ChannelType]string{
		klaxonv1.ChannelSlack:   "<https://x.example/p?q=1%7C2%3E3%20(4)|a|b&gt;c> bad *b&lt;*",
		klaxonv1.ChannelMSTeams: "[a|b>c](https://x.example/p?q=1|2>3%20%284%29) bad **b<**",
		klaxonv1.ChannelWebhook: "a|b>c: https://x.example/p?q=1|2>3 (4) bad b<",
	}
	for ct, want := range cases {
		d := sampleData()
		d.ChannelType = ct
		m, warn := r.Render([]klaxonv1.MessageTemplate{{Body: body}}, d)
		if warn != nil || m.Text != want {
			t.Errorf("%s: %q (%v), want %q", ct, m.Text, warn, want)
		}
	}
	d := sampleData()
	d.ChannelType = klaxonv1.ChannelEmail
	m, _ := r.Render([]klaxonv1.MessageTemplate{{Body: "x", HTMLBody: body}}, d)
	if want := `<a href="https://x.example/p?q=1|2&gt;3 (4)">a|b&gt;c</a> bad <b>b&lt;</b>`; m.HTML != want {
		t.Errorf("HTML links: %q, want %q", m.HTML, want)
	}
}

func TestSelect(t *testing.T) {
	tmpl := func(ev klaxonv1.IncidentEvent, ct klaxonv1.ChannelType, body string) klaxonv1.MessageTemplate {
		return klaxonv1.MessageTemplate{Event: ev, ChannelType: ct, Body: body}
	}
	overrides := []klaxonv1.MessageTemplate{
		tmpl("", "", "generic"),
		tmpl("", klaxonv1.ChannelSlack, "slack"),
		tmpl(klaxonv1.EventResolved, "", "resolved"),
		tmpl(klaxonv1.EventResolved, klaxonv1.ChannelSlack, "resolved-slack"),
		tmpl(klaxonv1.EventResolved, klaxonv1.ChannelSlack, "resolved-slack-second"),
		tmpl("", "", "generic-second"),
	}
	cases := []struct {
		ev   klaxonv1.IncidentEvent
		ct   klaxonv1.ChannelType
		want string
	}{
		{klaxonv1.EventResolved, klaxonv1.ChannelSlack, "resolved-slack"},
		{klaxonv1.EventResolved, klaxonv1.ChannelEmail, "resolved"},
		{klaxonv1.EventTriggered, klaxonv1.ChannelSlack, "slack"},
		{klaxonv1.EventTriggered, klaxonv1.ChannelEmail, "generic"},
	}
	for _, c := range cases {
		if got := Select(overrides, c.ev, c.ct); got == nil || got.Body != c.want {
			t.Errorf("Select(%s, %s) = %v, want %s", c.ev, c.ct, got, c.want)
		}
	}
	if got := Select(overrides[2:5], klaxonv1.EventTriggered, klaxonv1.ChannelEmail); got != nil {
		t.Errorf("Select with nothing applicable = %v", got)
	}
}

func TestOverrides(t *testing.T) {
	r := renderer(t)
	overrides := []klaxonv1.MessageTemplate{{
		Event:   klaxonv1.EventResolved,
		Subject: "All clear: {{ .Incident.Service | upper }}",
		Body:    "{{ bold \"Fixed\" }} {{ esc .Incident.Title }} after {{ .Elapsed }}.\n\nSee {{ link \"status\" \"https://status.example\" }}",
	}, {
		Event:    klaxonv1.EventTriggered,
		Body:     "Heads up: {{ .Incident.Title }}",
		HTMLBody: `<p>Heads up: <i>{{ .Incident.Title }}</i></p>`,
	}}
	d := internalData()
	d.Audience, d.Event, d.ChannelType = klaxonv1.AudienceCustomers, klaxonv1.EventResolved, klaxonv1.ChannelSlack
	d.Incident.Title = "a_b"
	m, warn := r.Render(overrides, d)
	if warn != nil {
		t.Fatal(warn)
	}
	if m.Subject != "All clear: CHECKOUT" || m.Text != "*Fixed* a_b after 10m.\n\nSee <https://status.example|status>" {
		t.Errorf("Slack override = %q / %q", m.Subject, m.Text)
	}

	d.ChannelType = klaxonv1.ChannelEmail
	m, _ = r.Render(overrides, d)
	if m.Text != "Fixed a_b after 10m.\n\nSee status: https://status.example" ||
		!strings.Contains(m.HTML, "<p>Fixed a_b after 10m.</p>") {
		t.Errorf("e-mail override = %q / %q", m.Text, m.HTML)
	}

	// No subject in the override: the built-in one; htmlBody used as written.
	d.Event = klaxonv1.EventTriggered
	d.Incident.Title = "<b>x</b>"
	m, _ = r.Render(overrides, d)
	if m.Subject != "Service disruption: Checkout" || m.HTML != "<p>Heads up: <i>&lt;b&gt;x&lt;/b&gt;</i></p>" {
		t.Errorf("override without subject = %q / %q", m.Subject, m.HTML)
	}
}

func TestOverrideFailingAtRenderFallsBack(t *testing.T) {
	r := renderer(t)
	d := internalData()
	d.Audience, d.Event, d.ChannelType = klaxonv1.AudienceManagement, klaxonv1.EventTriggered, klaxonv1.ChannelEmail
	builtin, _ := r.Render(nil, d)
	for _, body := range []string{
		"{{ .Incident.NoSuchField }}",
		`{{ fail "boom" }}`,
		`{{ repeat 100000000 "x" }}`,
		`{{ range until 100000000 }}{{ end }}`,
		`{{ range until 10000 }}{{ repeat 100 "x" }}{{ end }}`,
		`{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}`,
		`{{ env "HOME" }}`,
		`{{ .Incident.Title`,
	} {
		m, warn := r.Render([]klaxonv1.MessageTemplate{{Body: body}}, d)
		if warn == nil {
			t.Errorf("%s: no warning", body)
		}
		if m.Subject != builtin.Subject || m.Text != builtin.Text || m.HTML != builtin.HTML {
			t.Errorf("%s: did not fall back to the built-in message", body)
		}
	}
	_, warn := r.Render([]klaxonv1.MessageTemplate{{Body: `{{ range until 10000 }}{{ repeat 100 "x" }}{{ end }}`}}, d)
	if !errors.Is(warn, errTooLarge) {
		t.Errorf("oversized output: %v", warn)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		tmpl klaxonv1.MessageTemplate
		want string // substring of the error; empty for none
	}{
		{klaxonv1.MessageTemplate{Subject: "{{ .Incident.Title }}", Body: "{{ bold .Incident.Title }} {{ link \"x\" .Links.Incident }}",
			HTMLBody: "<p>{{ .Incident.Title }} {{ include \"x\" . }}</p>{{ define \"x\" }}y{{ end }}"}, ""},
		{klaxonv1.MessageTemplate{Body: "{{ range .Links.Runbooks }}{{ .Title }}{{ end }} {{ .Local .Now }} {{ severityText .Incident.Severity }}"}, ""},
		{klaxonv1.MessageTemplate{Body: "{{ .Incident.Title"}, "body: template: body.text:1: unclosed action"},
		{klaxonv1.MessageTemplate{Subject: "{{ end }}", Body: "x"}, "subject: template: subject.text:1: unexpected {{end}}"},
		{klaxonv1.MessageTemplate{Body: "x", HTMLBody: "<p>{{ if }}</p>"}, "htmlBody: template: htmlBody:1: missing value for if"},
		{klaxonv1.MessageTemplate{Body: `{{ env "HOME" }}`}, `function "env" not defined`},
		{klaxonv1.MessageTemplate{Body: `{{ getHostByName "example.com" }}`}, `function "getHostByName" not defined`},
		{klaxonv1.MessageTemplate{Body: "{{ .Incident.Titel }}"}, "can't evaluate field Titel"},
		{klaxonv1.MessageTemplate{Body: "  "}, "body: must not be empty"},
	}
	for _, c := range cases {
		err := Validate(c.tmpl)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", c.tmpl, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%+v) = %v, want %q", c.tmpl, err, c.want)
		}
	}
}

func TestTimelineExcerpt(t *testing.T) {
	var entries []klaxonv1.TimelineEntry
	for _, typ := range []string{"a", "b", "c"} {
		entries = append(entries, klaxonv1.TimelineEntry{Type: typ})
	}
	got := TimelineExcerpt(entries, 2)
	if len(got) != 2 || got[0].Type != "b" || got[1].Type != "c" {
		t.Errorf("TimelineExcerpt(3, 2) = %+v", got)
	}
	if got := TimelineExcerpt(entries, 10); len(got) != 3 {
		t.Errorf("TimelineExcerpt(3, 10) = %+v", got)
	}
	if got := TimelineExcerpt(entries, -1); len(got) != 0 {
		t.Errorf("TimelineExcerpt(3, -1) = %+v", got)
	}
}

func TestLocalAndElapsed(t *testing.T) {
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		zone string
		want string
	}{{"", "2026-07-01 12:00 UTC"}, {"Europe/Berlin", "2026-07-01 14:00 CEST"}, {"Nowhere/Else", "2026-07-01 12:00 UTC"}, {"Local", "2026-07-01 12:00 UTC"}}
	for _, c := range cases {
		if got := (TemplateData{TimeZone: c.zone}).Local(at); got != c.want {
			t.Errorf("Local in %q = %q, want %q", c.zone, got, c.want)
		}
	}
	if got := (TemplateData{}).Local(time.Time{}); got != "unknown" {
		t.Errorf("Local(zero) = %q", got)
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{30 * time.Second, "less than a minute"}, {5 * time.Minute, "5m"}, {125 * time.Minute, "2h 5m"}, {50 * time.Hour, "2d 2h"}} {
		d := TemplateData{Now: at.Add(c.d), Incident: IncidentSummary{TriggeredAt: at}}
		if got := d.Elapsed(); got != c.want {
			t.Errorf("Elapsed(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

// FuzzRender renders arbitrary incident text with every voice: it never fails, never
// leaks marked internals to customers, and never lets markup through to HTML.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"", "plain", "*_`[]()<>!@#|~\\", "<script>alert(1)</script>", "{{ .Links }}",
		"\xff\xfe", strings.Repeat("long ", 2000), "line\n\nbreaks\r\n"} {
		f.Add(s, s)
	}
	r := renderer(f)
	f.Fuzz(func(t *testing.T, text, service string) {
		d := sampleData()
		d.Incident.Title = "QQTITLEQQ" + text
		d.Description = "QQDESCQQ" + text
		d.Resolution = "QQRESQQ" + text
		d.Labels = map[string]string{"QQLABELQQ" + text: text}
		d.Affected.Servers = []string{"QQHOSTQQ" + text}
		d.Incident.Service = service
		d.Actor = text
		for _, a := range []klaxonv1.Audience{klaxonv1.AudienceResponders, klaxonv1.AudienceManagement, klaxonv1.AudienceCustomers} {
			for _, ct := range []klaxonv1.ChannelType{klaxonv1.ChannelSlack, klaxonv1.ChannelEmail} {
				for _, ev := range allEvents {
					d.Audience, d.ChannelType, d.Event = a, ct, ev
					m, warn := r.Render(nil, d)
					if warn != nil {
						t.Fatalf("%s/%s/%s: %v", a, ct, ev, warn)
					}
					if strings.Contains(m.HTML, "<script") {
						t.Fatalf("%s/%s/%s: raw markup in HTML:\n%s", a, ct, ev, m.HTML)
					}
					if a != klaxonv1.AudienceCustomers {
						continue
					}
					for _, marker := range []string{"QQTITLEQQ", "QQDESCQQ", "QQRESQQ", "QQLABELQQ", "QQHOSTQQ"} {
						if strings.Contains(m.Subject+m.Text+m.HTML+m.Incident.Title, marker) && !strings.Contains(service, marker) {
							t.Fatalf("%s/%s: customers see %s:\n%s\n%s", ct, ev, marker, m.Subject, m.Text)
						}
					}
				}
			}
		}
	})
}

// FuzzValidate: any template text is accepted or refused, never a panic or a hang.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"{{ .Incident.Title }}", "{{", "{{ range until 5 }}{{ . }}{{ end }}", `{{ repeat -1 "x" }}`,
		`{{ indent 99999 "x" }}`, `{{ seq 1 2 99999 }}`, `{{ chunk 0 (list 1) }}`, `{{ template "x" }}`, "<p>{{ . }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_ = Validate(klaxonv1.MessageTemplate{Subject: src, Body: src, HTMLBody: src})
	})
}
