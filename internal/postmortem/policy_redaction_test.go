package postmortem

import (
	"slices"
	"strings"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestPolicyRedactionMasksIncidentPaths: the fields a redact policy names as paths into
// the Incident vanish from the whole record, front matter, body and decision inputs,
// while the rest stays readable.
func TestPolicyRedactionMasksIncidentPaths(t *testing.T) {
	rec := fixtureRecord(t)
	extra := PolicyRedaction([]string{`GmbH`}, []string{"spec.customer", "spec.source.labels.team", "spec.rootCause"})
	r, err := NewRedactor(v1alpha1.Redaction{}, extra)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(rec, r)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, gone := range []string{"ACME Retail", "debug log line", "GmbH"} {
		if strings.Contains(text, gone) {
			t.Errorf("%q is still in the record:\n%s", gone, text)
		}
	}
	for _, kept := range []string{"CredentialLeak", "checkout", "Rotated the password"} {
		if !strings.Contains(text, kept) {
			t.Errorf("%q was masked too", kept)
		}
	}
	parsed, err := ParseRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Customer != FieldMask || parsed.Source.Labels["team"] != FieldMask || parsed.Source.Labels["alertname"] != "CredentialLeak" {
		t.Errorf("customer %q, labels %v", parsed.Customer, parsed.Source.Labels)
	}
}

func TestPolicyRedactionPaths(t *testing.T) {
	got := PolicyRedaction(nil, []string{"spec.source.labels.user_email", "status.severity", "metadata.annotations.owner", " ", "spec.customer."})
	want := []string{
		"customer",
		"decisions.input.incident.metadata.annotations.owner",
		"decisions.input.incident.spec.customer",
		"decisions.input.incident.spec.source.labels.user_email",
		"decisions.input.incident.status.severity",
		"severity",
		"source.labels.user_email",
	}
	if !slices.Equal(got.Fields, want) {
		t.Errorf("fields\n got %q\nwant %q", got.Fields, want)
	}
}
