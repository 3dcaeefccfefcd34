package webhook

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

func TestIncidentPolicyAdmission(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tests := []struct {
		name    string
		modules map[string]string
		tests   map[string]string
		wantErr []string
	}{
		{"good policy with passing tests", map[string]string{"triage.rego": `package klaxon.triage

severity := "SEV1" if input.incident.spec.service == "payments"
`}, map[string]string{"triage_test.rego": `package klaxon.triage_test

import data.klaxon.triage

test_payments_is_sev1 if triage.severity == "SEV1" with input as {"incident": {"spec": {"service": "payments"}}}
`}, nil},
		{"syntax error", map[string]string{"triage.rego": "package klaxon.triage\n\nseverity := \n"}, nil,
			[]string{"triage.rego:4", "unexpected eof"}},
		{"network access", map[string]string{"triage.rego": `package klaxon.triage

severity := http.send({"method": "GET", "url": "https://example.com"}).body.severity
`}, nil, []string{"triage.rego:3:", "http.send"}},
		{"the clock", map[string]string{"triage.rego": `package klaxon.triage

severity := "SEV1" if time.now_ns() > 0
`}, nil, []string{"time.now_ns"}},
		{"failing test", map[string]string{"triage.rego": `package klaxon.triage

severity := "SEV2" if input.incident.spec.service == "payments"
`}, map[string]string{"triage_test.rego": `package klaxon.triage_test

import data.klaxon.triage

test_payments_is_sev1 if triage.severity == "SEV1" with input as {"incident": {"spec": {"service": "payments"}}}
`}, []string{"test_payments_is_sev1"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &klaxonv1.IncidentPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p" + string(rune('a'+i)), Namespace: ns},
				Spec: klaxonv1.IncidentPolicySpec{Modules: tc.modules, Tests: tc.tests}}
			err := as("alice").Create(ctx, p)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestProviderAdmissionPolicy is DESIGN.md's example, in Rego: the provider forbids a
// SEV1 escalation policy with fewer than two levels, in every tenant.
func TestProviderAdmissionPolicy(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	_, problems := engine.Upsert(ctx, policy.Source{Namespace: systemNamespace, Name: "guardrails", Modules: map[string]string{
		"admission.rego": `package klaxon.admission

deny contains msg if {
	input.kind == "EscalationPolicy"
	input.object.metadata.labels["klaxon.dev/severity"] == "SEV1"
	count(input.object.spec.levels) < 2
	msg := sprintf("%s: a SEV1 escalation policy needs at least two levels", [input.object.metadata.name])
}
`}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	t.Cleanup(func() { engine.Delete(systemNamespace, "guardrails") })

	one := []klaxonv1.EscalationLevel{{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "a"}}}}
	ep := &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "critical", Namespace: ns,
		Labels: map[string]string{"klaxon.dev/severity": "SEV1"}}, Spec: klaxonv1.EscalationPolicySpec{Levels: one}}
	err := as("alice").Create(ctx, ep)
	if err == nil || !strings.Contains(err.Error(), "critical: a SEV1 escalation policy needs at least two levels") {
		t.Fatalf("want the provider's message, got %v", err)
	}
	ep.Spec.Levels = append(one, klaxonv1.EscalationLevel{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "b"}}})
	if err := as("alice").Create(ctx, ep); err != nil {
		t.Fatalf("two levels refused: %v", err)
	}
	// Unlabelled policies are not the rule's business.
	plain := &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns}, Spec: klaxonv1.EscalationPolicySpec{Levels: one}}
	if err := as("alice").Create(ctx, plain); err != nil {
		t.Fatalf("unlabelled policy refused: %v", err)
	}
}
