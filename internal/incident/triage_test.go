package incident

import (
	"fmt"
	"slices"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestApplyTriage(t *testing.T) {
	decided := Triage{Severity: klaxonv1.SEV1, Category: "security", Service: "auth", EscalationPolicy: "security-oncall",
		StakeholderGroups: []string{"security", "klaxon-system/legal", "security"}, Runbooks: []string{"quarantine"}}
	tests := []struct {
		name     string
		spec     func(*klaxonv1.IncidentSpec)
		enforced []string
		wantSev  klaxonv1.Severity
		wantCat  string
		wantEP   string
	}{
		{"policy decides what people left empty", func(*klaxonv1.IncidentSpec) {}, nil, klaxonv1.SEV1, "security", "acme/security-oncall"},
		{"a person's values win", func(s *klaxonv1.IncidentSpec) {
			s.Severity, s.Category = klaxonv1.SEV3, "availability"
			s.EscalationPolicyRef = &klaxonv1.ObjectReference{Name: "default"}
		}, nil, klaxonv1.SEV3, "availability", "acme/default"},
		{"an enforced provider value wins over a person", func(s *klaxonv1.IncidentSpec) {
			s.Severity, s.Category = klaxonv1.SEV3, "availability"
		}, []string{"severity"}, klaxonv1.SEV1, "availability", "acme/security-oncall"},
		{"provider escalation policy reference", func(s *klaxonv1.IncidentSpec) {
			s.EscalationPolicyRef = &klaxonv1.ObjectReference{Name: "noc", Namespace: "klaxon-system"}
		}, nil, klaxonv1.SEV1, "security", "klaxon-system/noc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := newIncident()
			inc.Spec.Severity = ""
			tc.spec(&inc.Spec)
			d := decided
			d.Enforced = tc.enforced
			got := ApplyTriage(inc, d, t0)
			st := inc.Status
			if st.Severity != tc.wantSev || st.Category != tc.wantCat || st.EscalationPolicy != tc.wantEP {
				t.Fatalf("got %s %s %s", st.Severity, st.Category, st.EscalationPolicy)
			}
			if !slices.Equal(st.StakeholderGroups, []string{"acme/security", "klaxon-system/legal"}) {
				t.Errorf("groups %v", st.StakeholderGroups)
			}
			if len(got) != 1 || got[0].Reason != "Triaged" {
				t.Errorf("first triage transitions %+v", got)
			}
		})
	}
}

func TestApplyTriageSeverityChange(t *testing.T) {
	inc := newIncident()
	inc.Spec.Severity = ""
	ApplyTriage(inc, Triage{}, t0)
	if inc.Status.Severity != DefaultSeverity {
		t.Fatalf("unrated severity %q, want %q", inc.Status.Severity, DefaultSeverity)
	}
	inc.Spec.Source = &klaxonv1.IncidentSource{SuggestedSeverity: klaxonv1.SEV2}
	got := ApplyTriage(inc, Triage{}, t0.Add(time.Minute))
	if inc.Status.Severity != klaxonv1.SEV2 || len(got) != 1 || got[0].Message != "severity SEV3 -> SEV2" {
		t.Fatalf("alert's suggestion: %q %+v", inc.Status.Severity, got)
	}
	if got := ApplyTriage(inc, Triage{}, t0.Add(2*time.Minute)); len(got) != 0 {
		t.Errorf("the same decision again recorded %+v", got)
	}
}

func TestTriageHashIgnoresStateAndStage(t *testing.T) {
	inc := newIncident()
	h := TriageHash(inc)
	inc.Spec.State, inc.Spec.Stage, inc.Spec.Assignee = klaxonv1.StateResolved, klaxonv1.StageMonitor, "bob"
	if TriageHash(inc) != h {
		t.Errorf("state, stage or assignee changed the triage input")
	}
	inc.Spec.Title = "other"
	if TriageHash(inc) == h {
		t.Errorf("a new title did not change the triage input")
	}
}

func TestAppendDecisionBoundsAndFallback(t *testing.T) {
	var st klaxonv1.IncidentStatus
	for i := 0; i < MaxDecisions+5; i++ {
		AppendDecision(&st, Decision{Point: "notify", ID: string(rune('a' + i%26)), Time: t0})
	}
	if len(st.Decisions) != MaxDecisions {
		t.Fatalf("%d decisions, want %d", len(st.Decisions), MaxDecisions)
	}
	AppendDecision(&st, Decision{Point: "triage", ID: "x", Time: t0, Fallback: true, Errors: []string{"acme/routing: timeout"}, InputHash: "h1"})
	last := st.Timeline[len(st.Timeline)-1]
	if last.Type != "PolicyFallback" || last.Message != "triage policy failed; the built-in default decided (x): acme/routing: timeout" {
		t.Errorf("fallback entry %+v", last)
	}

	// Many decisions of other points later, the newest triage decision is still there.
	for i := 0; i < 2*MaxDecisions; i++ {
		AppendDecision(&st, Decision{Point: "actions", ID: fmt.Sprintf("a%d", i), Time: t0})
	}
	if len(st.Decisions) != MaxDecisions {
		t.Fatalf("%d decisions, want %d", len(st.Decisions), MaxDecisions)
	}
	if got := LastTriageHash(&st); got != "h1" {
		t.Errorf("LastTriageHash = %q after many other decisions, want h1", got)
	}
	if first, newest := st.Decisions[0], st.Decisions[MaxDecisions-1]; first.ID != "x" || newest.ID != fmt.Sprintf("a%d", 2*MaxDecisions-1) {
		t.Errorf("kept %s ... %s, want x (the triage) ... the newest", first.ID, newest.ID)
	}
	for i, d := range st.Decisions[1:] {
		if want := fmt.Sprintf("a%d", MaxDecisions+1+i); d.ID != want {
			t.Fatalf("decision %d is %s, want %s: the others keep their order, newest last", i+1, d.ID, want)
		}
	}
}
