package policy

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

const sys = v1alpha1.DefaultSystemNamespace

// TestTriagePrecedence checks the layering: a provider value replaces the
// built-in one, a tenant value replaces both, unless the provider enforces
// the field; policies of a layer apply in name order.
func TestTriagePrecedence(t *testing.T) {
	tests := []struct {
		name       string
		policies   []Source
		labels     map[string]string
		want       TriageDecision
		decidedBy  map[string]string
		wantErrors bool
	}{{
		name:      "built-in alone",
		labels:    map[string]string{"severity": "critical", "service": "payments"},
		want:      TriageDecision{Severity: "SEV1", Service: "payments"},
		decidedBy: map[string]string{"severity": BuiltinName, "service": BuiltinName},
	}, {
		name:      "tenant replaces the built-in value",
		policies:  []Source{policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV4\"\n")},
		labels:    map[string]string{"severity": "critical"},
		want:      TriageDecision{Severity: "SEV4"},
		decidedBy: map[string]string{"severity": "acme/routing"},
	}, {
		name:     "provider replaces the built-in value",
		policies: []Source{policy(sys, "guardrails", "package klaxon.triage\ncategory := \"availability\"\n")},
		labels:   map[string]string{"severity": "critical"},
		want:     TriageDecision{Severity: "SEV1", Category: "availability"},
	}, {
		name: "tenant replaces an unenforced provider value",
		policies: []Source{
			policy(sys, "guardrails", "package klaxon.triage\nseverity := \"SEV2\"\n"),
			policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV5\"\n"),
		},
		want:      TriageDecision{Severity: "SEV5"},
		decidedBy: map[string]string{"severity": "acme/routing"},
	}, {
		name: "provider's enforced value wins over the tenant's",
		policies: []Source{
			policy(sys, "guardrails", "package klaxon.triage\nseverity := \"SEV2\"\nenforced contains \"severity\"\n"),
			policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV5\"\ncategory := \"performance\"\n"),
		},
		want:      TriageDecision{Severity: "SEV2", Category: "performance", Enforced: []string{FieldSeverity}},
		decidedBy: map[string]string{"severity": "klaxon-system/guardrails", "category": "acme/routing"},
	}, {
		name: "enforcing a field the provider does not set keeps the built-in value",
		policies: []Source{
			policy(sys, "guardrails", "package klaxon.triage\nenforced contains \"severity\"\n"),
			policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV5\"\n"),
		},
		labels: map[string]string{"severity": "high"},
		want:   TriageDecision{Severity: "SEV2", Enforced: []string{FieldSeverity}},
	}, {
		name: "a tenant cannot enforce",
		policies: []Source{
			policy("acme", "a", "package klaxon.triage\nseverity := \"SEV4\"\nenforced contains \"severity\"\n"),
			policy("acme", "b", "package klaxon.triage\nseverity := \"SEV5\"\n"),
		},
		want: TriageDecision{Severity: "SEV5"},
	}, {
		name: "within a layer, later names win",
		policies: []Source{
			policy("acme", "b-second", "package klaxon.triage\nseverity := \"SEV5\"\n"),
			policy("acme", "a-first", "package klaxon.triage\nseverity := \"SEV4\"\nservice := \"web\"\n"),
		},
		want: TriageDecision{Severity: "SEV5", Service: "web"},
	}, {
		name: "a layer extends a list through input.decision",
		policies: []Source{policy("acme", "routing", `package klaxon.triage
stakeholder_groups := input.decision.stakeholder_groups | {"acme-management"}
`)},
		labels: map[string]string{"severity": "critical", "category": "security"},
		want:   TriageDecision{Severity: "SEV1", Category: "security", StakeholderGroups: []string{"acme-management", "legal", "security"}},
	}, {
		name: "an empty list is no opinion",
		policies: []Source{policy("acme", "routing", `package klaxon.triage
stakeholder_groups contains "never" if false
`)},
		labels: map[string]string{"category": "security"},
		want:   TriageDecision{Severity: "SEV3", Category: "security", StakeholderGroups: []string{"legal", "security"}},
	}, {
		name: "provider's reference into its own namespace is allowed",
		policies: []Source{policy(sys, "guardrails", `package klaxon.triage
escalation_policy := "klaxon-system/major-incident"
`)},
		want: TriageDecision{Severity: "SEV3", EscalationPolicy: "klaxon-system/major-incident"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t)
			for _, p := range tc.policies {
				upsert(t, e, p)
			}
			d, rec := triage(t, e, incident("acme", "Something happened", tc.labels))
			if !equalTriage(d, tc.want) {
				t.Errorf("decision = %+v, want %+v", d, tc.want)
			}
			for field, by := range tc.decidedBy {
				if rec.DecidedBy[field] != by {
					t.Errorf("DecidedBy[%s] = %q, want %q", field, rec.DecidedBy[field], by)
				}
			}
			if rec.Fallback || len(rec.Errors) > 0 {
				t.Errorf("unexpected fallback: %v", rec.Errors)
			}
		})
	}
}

func equalTriage(a, b TriageDecision) bool {
	return a.Severity == b.Severity && a.Category == b.Category && a.Service == b.Service &&
		a.EscalationPolicy == b.EscalationPolicy && slices.Equal(a.StakeholderGroups, b.StakeholderGroups) &&
		slices.Equal(a.Runbooks, b.Runbooks) && slices.Equal(a.Enforced, b.Enforced)
}

// TestAdmissionUnion checks that deny and warn messages of every layer add up.
func TestAdmissionUnion(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy(sys, "guardrails", `package klaxon.admission
deny contains "provider says no" if input.kind == "EscalationPolicy"
warn contains "provider warns"
`))
	upsert(t, e, policy("acme", "rules", `package klaxon.admission
deny contains "tenant says no"
`))
	upsert(t, e, policy("globex", "rules", `package klaxon.admission
deny contains "another tenant's rule"
`))
	obj := []byte(`{"apiVersion":"klaxon.dev/v1alpha1","kind":"EscalationPolicy","metadata":{"name":"ep","namespace":"acme"},"spec":{"levels":[{"delay":"2h","targets":[{"kind":"Responder","name":"ann"}]}]}}`)
	d, rec, err := e.AdmissionDeny(context.Background(), AdmissionInput{
		Input: Input{Tenant: "acme", Now: testNow}, Operation: "CREATE", Kind: "EscalationPolicy", Object: obj,
		User: UserInfo{Username: "ann"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"provider says no", "tenant says no"}; !slices.Equal(d.Deny, want) {
		t.Errorf("deny = %q, want %q", d.Deny, want)
	}
	if len(d.Warnings) != 2 || d.Warnings[0] != "provider warns" || !strings.Contains(d.Warnings[1], "first escalation level waits 2h") {
		t.Errorf("warnings = %q", d.Warnings)
	}
	if !strings.Contains(rec.Summary, "deny=2") {
		t.Errorf("summary = %q", rec.Summary)
	}
}

// TestAdmissionObjectWithAMemberTwice checks that a policy reading a part
// of the admitted object sees what decoding the object gives: the last of
// two members of the same name, as the API server would keep.
func TestAdmissionObjectWithAMemberTwice(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "rules", `package klaxon.admission
deny contains "two" if input.object.spec.levels == 2
deny contains "one" if input.object.spec.levels == 1
`))
	obj := []byte(`{"kind":"EscalationPolicy","spec":{"levels":1,"levels":2}}`)
	d, _, err := e.AdmissionDeny(context.Background(), AdmissionInput{
		Input: Input{Tenant: "acme", Now: testNow}, Operation: "CREATE", Kind: "EscalationPolicy", Object: obj,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"two"}; !slices.Equal(d.Deny, want) {
		t.Errorf("deny = %q, want %q", d.Deny, want)
	}
}

// TestActionsGate checks the built-in denial of kubernetes actions and how providers
// and tenants lift or pin it.
func TestActionsGate(t *testing.T) {
	replicas := func(n int32) *int32 { return &n }
	scaleToZero := Action{Runbook: "acme/db", Step: "stop", Type: v1alpha1.ActionKubernetes,
		Kubernetes: &v1alpha1.KubernetesAction{Operation: v1alpha1.OperationScale, APIVersion: "apps/v1", Kind: "Deployment", Name: "batch", Replicas: replicas(0)}}
	label := Action{Runbook: "acme/db", Step: "mark", Type: v1alpha1.ActionKubernetes,
		Kubernetes: &v1alpha1.KubernetesAction{Operation: v1alpha1.OperationLabel, APIVersion: "apps/v1", Kind: "Deployment", Name: "batch", Labels: map[string]string{"a": "b"}}}
	tenantAllows := policy("acme", "automation", `package klaxon.actions
allow if input.action.kubernetes.name == "batch"
`)
	providerPins := policy(sys, "guardrails", `package klaxon.actions
allow := false if input.action.kubernetes.replicas == 0
enforced contains "allow" if input.action.kubernetes.replicas == 0
reasons contains "the provider forbids scaling to zero" if input.action.kubernetes.replicas == 0
`)
	tests := []struct {
		name     string
		policies []Source
		action   Action
		allow    bool
		reason   string
	}{
		{name: "label is denied without a policy", action: label, allow: false, reason: "not allowed by any policy"},
		{name: "scale to zero is denied", action: scaleToZero, allow: false, reason: "not allowed by any policy"},
		{name: "tenant allows it", policies: []Source{tenantAllows}, action: scaleToZero, allow: true},
		{name: "tenant allows the label too", policies: []Source{tenantAllows}, action: label, allow: true},
		{name: "provider pins the denial", policies: []Source{providerPins, tenantAllows}, action: scaleToZero, allow: false, reason: "provider forbids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t)
			for _, p := range tc.policies {
				upsert(t, e, p)
			}
			d, rec, err := e.ActionsAllow(context.Background(), ActionInput{Input: Input{Incident: incident("acme", "x", nil), Tenant: "acme", Now: testNow}, Action: tc.action})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tc.allow {
				t.Errorf("allow = %v, want %v (%v)", d.Allow, tc.allow, d.Reasons)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(d.Reasons, ";"), tc.reason) {
				t.Errorf("reasons = %q, want one containing %q", d.Reasons, tc.reason)
			}
			if !strings.HasPrefix(rec.Summary, map[bool]string{true: "allow", false: "deny"}[tc.allow]) {
				t.Errorf("summary = %q", rec.Summary)
			}
		})
	}
}

// TestEscalationDeadlines checks the regulator's deadline and that deadlines
// merge by name.
func TestEscalationDeadlines(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy(sys, "sla", `package klaxon.escalation
deadlines["customer-update"] := {"at": "2026-03-02T11:00:00Z", "description": "first customer update"}
start_level := 2 if input.incident.status.severity == "SEV1"
`))
	inc := incident("acme", "Customer records exposed", nil)
	inc.Spec.Category = "data-breach"
	inc.Status.Severity = v1alpha1.SEV1
	d, rec, err := e.Escalation(context.Background(), EscalationInput{Input: Input{Incident: inc, Tenant: "acme", Now: testNow}})
	if err != nil {
		t.Fatal(err)
	}
	if d.StartLevel != 2 {
		t.Errorf("start level = %d, want 2", d.StartLevel)
	}
	if len(d.Deadlines) != 2 || d.Deadlines[0].Name != "customer-update" || d.Deadlines[1].Name != "regulator-notification" {
		t.Fatalf("deadlines = %+v", d.Deadlines)
	}
	if want := inc.Status.TriggeredAt.Add(72 * 3600e9); !d.Deadlines[1].At.Equal(want) {
		t.Errorf("regulator deadline at %v, want %v", d.Deadlines[1].At, want)
	}
	if !strings.Contains(rec.Summary, "regulator-notification@") {
		t.Errorf("summary = %q", rec.Summary)
	}
}

// TestNotifyPerGroup checks the built-in audience rules and that a tenant
// decides for one group while the others keep the built-in decision.
func TestNotifyPerGroup(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "comms", `package klaxon.notify
groups["acme/oncall"] := {"notify": true, "template": "oncall-terse", "reason": "on-call hears everything"}
`))
	groups := []NotifyGroup{
		{Namespace: "acme", Name: "customers", Audience: v1alpha1.AudienceCustomers, NotifyOn: []v1alpha1.IncidentEvent{"Triggered"}},
		{Namespace: sys, Name: "executives", Audience: v1alpha1.AudienceExecutives},
		{Namespace: "acme", Name: "oncall", Audience: v1alpha1.AudienceResponders, NotifyOn: []v1alpha1.IncidentEvent{"Resolved"}},
	}
	inc := incident("acme", "Checkout down", nil)
	inc.Spec.Customer = "globex"
	inc.Status.Severity = v1alpha1.SEV2
	d, _, err := e.Notify(context.Background(), NotifyInput{Input: Input{Incident: inc, Tenant: "acme", Now: testNow}, Event: v1alpha1.EventTriggered, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"acme/customers": true, "klaxon-system/executives": false, "acme/oncall": true}
	if len(d.Groups) != 3 {
		t.Fatalf("groups = %+v", d.Groups)
	}
	for _, g := range d.Groups {
		if g.Notify != want[g.Group] {
			t.Errorf("%s: notify = %v, want %v (%s)", g.Group, g.Notify, want[g.Group], g.Reason)
		}
	}
	if g, _ := d.For("acme/oncall"); g.Template != "oncall-terse" {
		t.Errorf("oncall template = %q", g.Template)
	}
}

// TestRedactUnion checks that masks add up and bad patterns are refused.
func TestRedactUnion(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy(sys, "privacy", `package klaxon.redact
patterns contains `+"`[0-9]{16}`"+`
fields contains "spec.source.labels.user_email"
`))
	upsert(t, e, policy("acme", "privacy", `package klaxon.redact
patterns contains `+"`ACME-[0-9]+`"+`
`))
	d, _, err := e.Redact(context.Background(), RedactInput{Input{Incident: incident("acme", "x", nil), Tenant: "acme", Now: testNow}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ACME-[0-9]+", "[0-9]{16}"}; !slices.Equal(d.Patterns, want) {
		t.Errorf("patterns = %q, want %q", d.Patterns, want)
	}
	if want := []string{"spec.source.labels.user_email"}; !slices.Equal(d.Fields, want) {
		t.Errorf("fields = %q, want %q", d.Fields, want)
	}

	upsert(t, e, policy("acme", "privacy", "package klaxon.redact\npatterns contains `([a-z`\n"))
	_, rec, err := e.Redact(context.Background(), RedactInput{Input{Tenant: "acme", Now: testNow}})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Fallback || !strings.Contains(strings.Join(rec.Errors, ";"), "redact.patterns") {
		t.Errorf("a bad pattern should drop the tenant layer: %+v", rec)
	}
}
