package postmortem

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/record.golden.md")

func defaultRedactor(t testing.TB) *Redactor {
	t.Helper()
	r, err := NewRedactor(v1alpha1.Redaction{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRenderGolden pins the file format: a change here is a change of what every
// repository of records holds, so it shows up in review as a diff of the golden file.
func TestRenderGolden(t *testing.T) {
	got, err := Render(fixtureRecord(t), defaultRedactor(t))
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/record.golden.md"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRenderGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("render differs from %s (go test -run TestRenderGolden -update, then review the diff):\n%s", golden, got)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	rec := fixtureRecord(t)
	first, err := Render(rec, defaultRedactor(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		// Maps rebuilt in another order, times in another zone with nanoseconds:
		// nothing of that may show.
		again := fixtureRecord(t)
		labels := map[string]string{}
		for k, v := range again.Source.Labels {
			labels[k] = v
		}
		again.Source.Labels = labels
		zone := time.FixedZone("CET", 3600)
		tr := again.Times.Triggered.In(zone).Add(999 * time.Millisecond)
		again.Times.Triggered = &tr
		again.Timeline[0].Time = again.Timeline[0].Time.In(zone).Add(time.Nanosecond)
		got, err := Render(again, defaultRedactor(t))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, first) {
			t.Fatal("the same record rendered differently")
		}
	}
}

func TestParseRecordRoundTrip(t *testing.T) {
	rendered, err := Render(fixtureRecord(t), defaultRedactor(t))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ParseRecord(rendered)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Render(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, rendered) {
		t.Error("parse and render again changed the file")
	}
	if rec.Incident != (IncidentRef{Namespace: "acme", Name: "checkout-db-leak", UID: "6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d"}) {
		t.Errorf("incident %+v", rec.Incident)
	}
	if *rec.Times.MTTASeconds != 270 || *rec.Times.MTTR != 2*time.Hour+45*time.Minute {
		t.Errorf("times %+v", rec.Times)
	}
	// Replay evaluates the input the policy saw: numbers keep their literal, keys are
	// sorted, nothing else changes (the reporter's address was redacted before git).
	var input string
	for _, d := range rec.Decisions {
		if d.ID == "dec-7f3a9c" {
			input = string(d.Input)
		}
	}
	want := `{"alerts":[{"count":12345678901234567,"labels":{"alertname":"CredentialLeak","reporter":"[redacted:email]"},"value":1.5e3}],"incident":{"spec":{"category":"data-breach","customer":"ACME Retail GmbH","title":"Checkout database credentials exposed in logs"},"status":{"reopenCount":1}},"now":"2026-03-14T08:58:01Z","tenant":"acme"}`
	if input != want {
		t.Errorf("decision input\n got %s\nwant %s", input, want)
	}
	var v any
	if err := json.Unmarshal([]byte(input), &v); err != nil {
		t.Errorf("input is not JSON: %v", err)
	}
}

func TestParseRecordRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"no front matter": "# just markdown\n",
		"not closed":      "---\nschema: klaxon.dev/postmortem/v1\n",
		"bad yaml":        "---\nschema: [\n---\n",
		"other schema":    "---\nschema: klaxon.dev/postmortem/v9\nincident: {namespace: a, name: b}\n---\n",
		"input not JSON":  "---\nschema: klaxon.dev/postmortem/v1\ndecisions:\n  - id: d\n    input: {n: .inf}\n---\n",
	} {
		if _, err := ParseRecord([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	_, err := ParseRecord([]byte("---\nschema: klaxon.dev/postmortem/v9\n---\n"))
	if !errors.Is(err, ErrUnsupportedSchema) {
		t.Errorf("other schema: %v", err)
	}
}

func TestRenderBody(t *testing.T) {
	out, err := Render(fixtureRecord(t), defaultRedactor(t))
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(out[4:]), "\n---\n")
	for _, want := range []string{
		"# Post-mortem: Checkout database credentials exposed in logs",
		"## Summary", "## Impact", "## Timeline", "## Notifications", "## Decisions",
		"## Root cause", "## Resolution", "## Action items",
		"| 2026-03-14 11:43:00 UTC | Resolved | alice | Resolved \\| password rotated |",
		"| 2026-03-14 09:05:00 UTC | Triggered | acme/management | email | Failed | 3 |",
		"| 2026-03-14 08:58:01 UTC | triage | `dec-7f3a9c` | SEV1 data-breach: personal data, skip level 1 |",
		"- [x] Rotate database passwords every 30 days (owner: carol)",
		"| Time to acknowledge | 4m30s |",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	// An empty record still renders every section.
	empty, err := Render(Record{Incident: IncidentRef{Namespace: "a", Name: "b"}, Title: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(empty), "_None recorded._") < 7 {
		t.Errorf("empty record:\n%s", empty)
	}
}

func TestFromIncident(t *testing.T) {
	rec := fixtureRecord(t)
	// The archive and the live timeline overlap by one entry.
	if len(rec.Timeline) != 6 {
		t.Fatalf("%d timeline entries, want 6: %+v", len(rec.Timeline), rec.Timeline)
	}
	for i := 1; i < len(rec.Timeline); i++ {
		if rec.Timeline[i].Time.Before(rec.Timeline[i-1].Time) {
			t.Error("timeline not in time order")
		}
	}
	if len(rec.Decisions) != 3 || rec.Decisions[2].ID != "dec-0ld" || rec.Decisions[0].Input.IsZero() {
		t.Errorf("decisions %+v", rec.Decisions)
	}
	if len(rec.Notifications) != 2 || rec.Notifications[1].Result != "Failed" || rec.Notifications[1].Attempts != 3 {
		t.Errorf("notifications %+v", rec.Notifications)
	}
	if rec.Severity != "SEV1" || rec.Category != "data-breach" || rec.ReopenCount != 1 || rec.Escalation.Level != 2 {
		t.Errorf("record %+v", rec)
	}
}

func TestFromIncidentDerivesTimes(t *testing.T) {
	at := func(s string) *metav1.Time {
		tm, _ := time.Parse(time.RFC3339, s)
		return &metav1.Time{Time: tm}
	}
	inc := &v1alpha1.Incident{Status: v1alpha1.IncidentStatus{
		TriggeredAt:    at("2026-01-01T10:00:00Z"),
		ReopenedAt:     at("2026-01-01T10:30:00Z"),
		AcknowledgedAt: at("2026-01-01T10:35:00Z"),
		ResolvedAt:     at("2026-01-01T12:00:00Z"),
	}}
	rec := FromIncident(inc, nil, nil)
	rendered, err := Render(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRecord(rendered)
	if err != nil {
		t.Fatal(err)
	}
	// MTTA counts from the reopen, MTTR from the first trigger.
	if *back.Times.MTTASeconds != 300 || *back.Times.MTTRSeconds != 7200 {
		t.Errorf("times %+v", back.Times)
	}
}

// TestFromIncidentWithoutPages: an incident no escalation policy covered (status
// keeps an empty escalation to say it said so) has no escalation in its record, not
// a level 0 that reads as paged.
func TestFromIncidentWithoutPages(t *testing.T) {
	inc := &v1alpha1.Incident{Status: v1alpha1.IncidentStatus{Escalation: &v1alpha1.EscalationStatus{}}}
	rendered, err := Render(FromIncident(inc, nil, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rendered), "escalation:") {
		t.Errorf("record of an incident nobody was paged for has an escalation:\n%s", rendered)
	}
}
