package runbook

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestMatch(t *testing.T) {
	rb := func(name string, sel klaxonv1.RunbookSelector) klaxonv1.Runbook {
		return klaxonv1.Runbook{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: name}, Spec: klaxonv1.RunbookSpec{Selector: sel}}
	}
	inc := func(mut func(*klaxonv1.Incident)) *klaxonv1.Incident {
		i := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "i"}}
		i.Spec.Source = &klaxonv1.IncidentSource{Labels: map[string]string{"alertname": "DBDown", "team": "payments"}}
		i.Status.Severity, i.Status.Category, i.Status.Service = klaxonv1.SEV2, "availability", "checkout"
		if mut != nil {
			mut(i)
		}
		return i
	}
	tests := []struct {
		name string
		sel  klaxonv1.RunbookSelector
		inc  *klaxonv1.Incident
		want bool
	}{
		{"empty selector matches everything", klaxonv1.RunbookSelector{}, inc(nil), true},
		{"service matches", klaxonv1.RunbookSelector{Services: []string{"search", "checkout"}}, inc(nil), true},
		{"service differs", klaxonv1.RunbookSelector{Services: []string{"search"}}, inc(nil), false},
		{"category matches", klaxonv1.RunbookSelector{Categories: []string{"availability"}}, inc(nil), true},
		{"category differs", klaxonv1.RunbookSelector{Categories: []string{"security"}}, inc(nil), false},
		{"severity matches", klaxonv1.RunbookSelector{Severities: []klaxonv1.Severity{klaxonv1.SEV1, klaxonv1.SEV2}}, inc(nil), true},
		{"severity differs", klaxonv1.RunbookSelector{Severities: []klaxonv1.Severity{klaxonv1.SEV1}}, inc(nil), false},
		{"labels all match", klaxonv1.RunbookSelector{MatchLabels: map[string]string{"alertname": "DBDown", "team": "payments"}}, inc(nil), true},
		{"one label differs", klaxonv1.RunbookSelector{MatchLabels: map[string]string{"alertname": "DBDown", "team": "search"}}, inc(nil), false},
		{"label missing", klaxonv1.RunbookSelector{MatchLabels: map[string]string{"cluster": "eu1"}}, inc(nil), false},
		{"label wanted empty but absent", klaxonv1.RunbookSelector{MatchLabels: map[string]string{"cluster": ""}}, inc(nil), false},
		{"labels without a source", klaxonv1.RunbookSelector{MatchLabels: map[string]string{"team": "payments"}},
			inc(func(i *klaxonv1.Incident) { i.Spec.Source = nil }), false},
		{"every set field must match", klaxonv1.RunbookSelector{Services: []string{"checkout"}, Severities: []klaxonv1.Severity{klaxonv1.SEV1}}, inc(nil), false},
		{"all fields match", klaxonv1.RunbookSelector{Services: []string{"checkout"}, Categories: []string{"availability"},
			Severities: []klaxonv1.Severity{klaxonv1.SEV2}, MatchLabels: map[string]string{"team": "payments"}}, inc(nil), true},
		{"status wins over spec", klaxonv1.RunbookSelector{Severities: []klaxonv1.Severity{klaxonv1.SEV1}},
			inc(func(i *klaxonv1.Incident) { i.Spec.Severity = klaxonv1.SEV1 }), false},
		{"spec before triage", klaxonv1.RunbookSelector{Services: []string{"payments"}, Severities: []klaxonv1.Severity{klaxonv1.SEV1}},
			inc(func(i *klaxonv1.Incident) {
				i.Status = klaxonv1.IncidentStatus{}
				i.Spec.Service, i.Spec.Severity = "payments", klaxonv1.SEV1
			}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Match([]klaxonv1.Runbook{rb("r", tc.sel)}, tc.inc)
			if (len(got) == 1) != tc.want {
				t.Fatalf("Match = %v, want match %v", got, tc.want)
			}
			if tc.want && got[0] != "acme/r" {
				t.Fatalf("Match = %v, want [acme/r]", got)
			}
		})
	}
}

func TestMatchKeepsOrderAndAttachUnions(t *testing.T) {
	rbs := []klaxonv1.Runbook{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "b"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "skip"}, Spec: klaxonv1.RunbookSpec{Selector: klaxonv1.RunbookSelector{Services: []string{"x"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "klaxon-system", Name: "a"}},
	}
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "i"}}
	got := Match(rbs, inc)
	if !slices.Equal(got, []string{"acme/b", "klaxon-system/a"}) {
		t.Fatalf("Match = %v", got)
	}
	if all := Attach([]string{"acme/policy-named", "acme/b"}, got, 32); !slices.Equal(all, []string{"acme/policy-named", "acme/b", "klaxon-system/a"}) {
		t.Fatalf("Attach = %v", all)
	}
	if capped := Attach([]string{"acme/policy-named"}, got, 2); !slices.Equal(capped, []string{"acme/policy-named", "acme/b"}) {
		t.Fatalf("Attach capped = %v", capped)
	}
}
