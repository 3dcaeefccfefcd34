package runbook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// dbRunbook has, per stage: Triage a checklist item and an automatic notify; Contain
// two automatic actions and a manual one; Verify guidance only.
func dbRunbook() klaxonv1.Runbook {
	scale := &klaxonv1.RunbookAction{Type: klaxonv1.ActionKubernetes, Kubernetes: &klaxonv1.KubernetesAction{
		Operation: klaxonv1.OperationScale, APIVersion: "apps/v1", Kind: "Deployment", Name: "db-client", Replicas: ptr.To[int32](0)}}
	return klaxonv1.Runbook{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "db"},
		Spec: klaxonv1.RunbookSpec{ServiceAccountName: "actor", Steps: []klaxonv1.RunbookStep{
			{Name: "look", Stage: klaxonv1.StageTriage, Guidance: "Open the DB dashboard."},
			{Name: "tell-dba", Stage: klaxonv1.StageTriage, Automatic: true, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionNotify,
				Notify: &klaxonv1.NotifyAction{GroupRef: klaxonv1.ObjectReference{Name: "dba"}, Message: "DB incident {{ .Incident.Name }}"}}},
			{Name: "shrink", Stage: klaxonv1.StageContain, Automatic: true, Action: scale},
			{Name: "hook", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionWebhook,
				Webhook: &klaxonv1.WebhookAction{URL: "https://automation.example/isolate"}}},
			{Name: "isolate-by-hand", Stage: klaxonv1.StageContain, Action: scale},
			{Name: "verify", Stage: klaxonv1.StageVerify, Guidance: "Run the smoke tests."},
		}},
	}
}

func netRunbook() klaxonv1.Runbook {
	return klaxonv1.Runbook{
		ObjectMeta: metav1.ObjectMeta{Namespace: "klaxon-system", Name: "net"},
		Spec: klaxonv1.RunbookSpec{Steps: []klaxonv1.RunbookStep{
			{Name: "block", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionSetStage, SetStage: klaxonv1.StageInvestigate}},
		}},
	}
}

func openIncident(stage klaxonv1.IncidentStage) *klaxonv1.Incident {
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "db-down"}}
	inc.Spec.Title, inc.Spec.Stage = "DB down", stage
	inc.Status.TriggeredAt = &metav1.Time{Time: t0}
	inc.Status.State, inc.Status.Stage = klaxonv1.StateTriggered, stage
	inc.Status.Runbooks = []string{"acme/db", "klaxon-system/net"}
	return inc
}

func result(reopen int32, runbook, step string, state klaxonv1.RunbookStepState, at time.Time) klaxonv1.RunbookStepResult {
	return klaxonv1.RunbookStepResult{Runbook: runbook, Step: step, State: state, ReopenCount: reopen, Time: &metav1.Time{Time: at}}
}

func names(steps []Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name()+"/"+s.Step.Name)
	}
	return out
}

func TestPlanSteps(t *testing.T) {
	full := func(reopen int32) []klaxonv1.RunbookStepResult {
		var out []klaxonv1.RunbookStepResult
		for i := range MaxSteps {
			out = append(out, result(reopen, "acme/other", fmt.Sprintf("s%d", i), klaxonv1.StepSucceeded, t0))
		}
		return out
	}
	tests := []struct {
		name          string
		inc           func() *klaxonv1.Incident
		now           time.Time
		wantDue       []string
		wantChecklist []string
		wantTicks     int
		wantInterrupt []int
		wantNext      time.Time
		wantFull      bool
	}{
		{name: "not triggered yet: nothing", inc: func() *klaxonv1.Incident {
			i := openIncident(klaxonv1.StageTriage)
			i.Status.TriggeredAt = nil
			return i
		}},
		{name: "triage: the automatic notify is due, the rest is a checklist",
			inc:     func() *klaxonv1.Incident { return openIncident(klaxonv1.StageTriage) },
			wantDue: []string{"acme/db/tell-dba"}, wantChecklist: []string{"acme/db/look"}},
		{name: "contain: runbook order, then step order; a manual action is a checklist item",
			inc:           func() *klaxonv1.Incident { return openIncident(klaxonv1.StageContain) },
			wantDue:       []string{"acme/db/shrink", "acme/db/hook", "klaxon-system/net/block"},
			wantChecklist: []string{"acme/db/isolate-by-hand"}},
		{name: "a stage without automatic steps",
			inc:           func() *klaxonv1.Incident { return openIncident(klaxonv1.StageVerify) },
			wantChecklist: []string{"acme/db/verify"}},
		{name: "a step that ran in this episode is not due again, whatever its outcome",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageContain)
				i.Status.RunbookSteps = []klaxonv1.RunbookStepResult{
					result(0, "acme/db", "shrink", klaxonv1.StepFailed, t0),
					result(0, "acme/db", "isolate-by-hand", klaxonv1.StepOpen, t0),
					result(0, "klaxon-system/net", "block", klaxonv1.StepDenied, t0),
				}
				return i
			},
			wantDue: []string{"acme/db/hook"}},
		{name: "a reopen is a new episode: the steps run again",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageContain)
				i.Status.ReopenCount = 1
				i.Status.Runbooks = []string{"acme/db"}
				i.Status.RunbookSteps = []klaxonv1.RunbookStepResult{result(0, "acme/db", "shrink", klaxonv1.StepSucceeded, t0)}
				return i
			},
			wantDue: []string{"acme/db/shrink", "acme/db/hook"}, wantChecklist: []string{"acme/db/isolate-by-hand"}},
		{name: "a fresh claim is left to whoever made it, and checked again when it turns stale",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageVerify)
				i.Status.RunbookSteps = []klaxonv1.RunbookStepResult{result(0, "acme/db", "shrink", klaxonv1.StepPending, t0),
					result(0, "acme/db", "verify", klaxonv1.StepOpen, t0)}
				return i
			},
			now: t0.Add(time.Minute), wantNext: t0.Add(StaleAfter)},
		{name: "a stale claim was interrupted",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageVerify)
				i.Status.RunbookSteps = []klaxonv1.RunbookStepResult{result(0, "acme/db", "verify", klaxonv1.StepOpen, t0),
					result(0, "acme/db", "shrink", klaxonv1.StepPending, t0)}
				return i
			},
			now: t0.Add(StaleAfter), wantInterrupt: []int{1}},
		{name: "new ticks only",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageVerify)
				i.Spec.Checklist = []klaxonv1.ChecklistTick{{Runbook: "db", Step: "look", By: "alice"}, {Runbook: "acme/db", Step: "verify", By: "bob"}}
				i.Status.ChecklistSeen = 1
				i.Status.RunbookSteps = []klaxonv1.RunbookStepResult{result(0, "acme/db", "verify", klaxonv1.StepOpen, t0)}
				return i
			},
			wantTicks: 1},
		{name: "no room in this episode: nothing is claimed, the plan says so",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageContain)
				i.Status.RunbookSteps = full(0)
				return i
			},
			wantFull: true},
		{name: "entries of earlier episodes make room",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageContain)
				i.Status.ReopenCount = 2
				i.Status.RunbookSteps = full(1)
				return i
			},
			wantDue:       []string{"acme/db/shrink", "acme/db/hook", "klaxon-system/net/block"},
			wantChecklist: []string{"acme/db/isolate-by-hand"}},
		{name: "room for due steps first, then the checklist",
			inc: func() *klaxonv1.Incident {
				i := openIncident(klaxonv1.StageContain)
				i.Status.RunbookSteps = full(0)[:MaxSteps-2]
				return i
			},
			wantDue: []string{"acme/db/shrink", "acme/db/hook"}, wantFull: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			p := PlanSteps(tc.inc(), []klaxonv1.Runbook{dbRunbook(), netRunbook()}, now)
			if got := names(p.Due); !slices.Equal(got, tc.wantDue) {
				t.Errorf("due = %v, want %v", got, tc.wantDue)
			}
			if got := names(p.Checklist); !slices.Equal(got, tc.wantChecklist) {
				t.Errorf("checklist = %v, want %v", got, tc.wantChecklist)
			}
			if len(p.Ticks) != tc.wantTicks {
				t.Errorf("ticks = %v, want %d", p.Ticks, tc.wantTicks)
			}
			if !slices.Equal(p.Interrupted, tc.wantInterrupt) {
				t.Errorf("interrupted = %v, want %v", p.Interrupted, tc.wantInterrupt)
			}
			if !p.Next.Equal(tc.wantNext) {
				t.Errorf("next = %v, want %v", p.Next, tc.wantNext)
			}
			if p.Full != tc.wantFull {
				t.Errorf("full = %v, want %v", p.Full, tc.wantFull)
			}
		})
	}
}

// TestClaimThenRecord walks one stage: claims and denials are written before
// anything runs, a second plan finds nothing due (nothing runs twice), outcomes are
// recorded with who and what, and recording again changes nothing.
func TestClaimThenRecord(t *testing.T) {
	inc := openIncident(klaxonv1.StageContain)
	rbs := []klaxonv1.Runbook{dbRunbook(), netRunbook()}
	p := PlanSteps(inc, rbs, t0)
	verdicts := []Verdict{
		{Allow: false, Decision: "d-shrink", Reasons: []string{"scaling to zero replicas is destructive and no policy allows it"}},
		{Allow: true, Decision: "d-hook"},
		{Allow: true, DryRun: true, Decision: "d-block"},
	}
	res := ClaimSteps(inc, p, verdicts, t0)

	if got := names(res.Denied); !slices.Equal(got, []string{"acme/db/shrink"}) {
		t.Fatalf("denied = %v", got)
	}
	if len(res.Claims) != 2 || res.Claims[0].Key != "r0/acme/db/hook" || res.Claims[1].Key != "r0/klaxon-system/net/block" || !res.Claims[1].DryRun {
		t.Fatalf("claims = %+v", res.Claims)
	}
	want := map[string]klaxonv1.RunbookStepState{"shrink": klaxonv1.StepDenied, "hook": klaxonv1.StepPending,
		"block": klaxonv1.StepPending, "isolate-by-hand": klaxonv1.StepOpen}
	if len(inc.Status.RunbookSteps) != len(want) {
		t.Fatalf("entries = %+v", inc.Status.RunbookSteps)
	}
	for _, r := range inc.Status.RunbookSteps {
		if want[r.Step] != r.State {
			t.Errorf("%s = %s, want %s", r.Step, r.State, want[r.Step])
		}
	}
	denied := inc.Status.RunbookSteps[0]
	if denied.Decision != "d-shrink" || !strings.Contains(denied.Message, "destructive") || denied.By != "klaxon" {
		t.Errorf("denied entry = %+v", denied)
	}
	if n := countTimeline(inc, "RunbookActionDenied"); n != 1 {
		t.Errorf("%d denial timeline entries, want 1", n)
	}

	// Whatever happens next, a second plan claims nothing again.
	if again := PlanSteps(inc, rbs, t0.Add(time.Second)); len(again.Due) != 0 || len(again.Checklist) != 0 {
		t.Fatalf("second plan: due %v, checklist %v", names(again.Due), names(again.Checklist))
	}

	outcomes := []Outcome{
		{State: klaxonv1.StepFailed, By: "klaxon", Message: "webhook https://automation.example answered 500 Internal Server Error"},
		{State: klaxonv1.StepDryRun, By: "klaxon", Message: "dry run: would move the incident to stage Investigate"},
	}
	Record(&inc.Status, res.Claims, outcomes, t0.Add(2*time.Second))
	hook := inc.Status.RunbookSteps[Find(inc.Status.RunbookSteps, 0, "acme/db", "hook")]
	if hook.State != klaxonv1.StepFailed || !strings.Contains(hook.Message, "500") || !hook.Time.Equal(&metav1.Time{Time: t0.Add(2 * time.Second)}) {
		t.Errorf("hook = %+v", hook)
	}
	block := inc.Status.RunbookSteps[Find(inc.Status.RunbookSteps, 0, "klaxon-system/net", "block")]
	if block.State != klaxonv1.StepDryRun {
		t.Errorf("block = %+v", block)
	}
	last := inc.Status.Timeline[len(inc.Status.Timeline)-1]
	if last.Type != "RunbookAction" || last.Actor != "klaxon" || !strings.Contains(last.Message, "runbook klaxon-system/net step block (setStage): dry run") {
		t.Errorf("last timeline entry = %+v", last)
	}
	entries := len(inc.Status.Timeline)
	Record(&inc.Status, res.Claims, outcomes, t0.Add(3*time.Second))
	if len(inc.Status.Timeline) != entries {
		t.Errorf("recording again added %d timeline entries", len(inc.Status.Timeline)-entries)
	}
}

func TestInterruptedClaimIsNeverRunAgain(t *testing.T) {
	inc := openIncident(klaxonv1.StageContain)
	inc.Status.Runbooks = []string{"acme/db"}
	inc.Status.RunbookSteps = []klaxonv1.RunbookStepResult{
		result(0, "acme/db", "shrink", klaxonv1.StepPending, t0),
		result(0, "acme/db", "hook", klaxonv1.StepSucceeded, t0),
		result(0, "acme/db", "isolate-by-hand", klaxonv1.StepOpen, t0),
	}
	rbs := []klaxonv1.Runbook{dbRunbook()}
	p := PlanSteps(inc, rbs, t0.Add(StaleAfter+time.Second))
	if len(p.Due) != 0 || !slices.Equal(p.Interrupted, []int{0}) {
		t.Fatalf("plan: due %v, interrupted %v", names(p.Due), p.Interrupted)
	}
	res := ClaimSteps(inc, p, nil, t0.Add(StaleAfter+time.Second))
	if len(res.Claims) != 0 {
		t.Fatalf("claims = %+v", res.Claims)
	}
	r := inc.Status.RunbookSteps[0]
	if r.State != klaxonv1.StepFailed || !strings.HasPrefix(r.Message, "interrupted") {
		t.Fatalf("interrupted entry = %+v", r)
	}
	if again := PlanSteps(inc, rbs, t0.Add(time.Hour)); !again.Empty() {
		t.Fatalf("an interrupted step is planned again: %+v", again)
	}
	// The outcome of the interrupted run, when it does arrive, replaces "unknown".
	claim := Claim{Step: Step{Runbook: &rbs[0], Step: &rbs[0].Spec.Steps[2]}, Key: "r0/acme/db/shrink"}
	Record(&inc.Status, []Claim{claim}, []Outcome{{State: klaxonv1.StepSucceeded, By: "system:serviceaccount:acme:actor", Message: "scaled"}}, t0.Add(time.Hour))
	if r := inc.Status.RunbookSteps[0]; r.State != klaxonv1.StepSucceeded || r.By != "system:serviceaccount:acme:actor" {
		t.Fatalf("late outcome not recorded: %+v", r)
	}
}

func TestChecklistTicks(t *testing.T) {
	rbs := []klaxonv1.Runbook{dbRunbook()}
	inc := openIncident(klaxonv1.StageTriage)
	inc.Status.Runbooks = []string{"acme/db"}
	res := ClaimSteps(inc, PlanSteps(inc, rbs, t0), []Verdict{{Allow: true}}, t0)
	if len(res.Claims) != 1 {
		t.Fatalf("claims = %+v", res.Claims)
	}
	Record(&inc.Status, res.Claims, []Outcome{{State: klaxonv1.StepSucceeded, By: "klaxon", Message: "told acme/dba: carol"}}, t0)

	// alice ticks the open item, bob ticks a Contain step before anyone got there,
	// and someone ticks a step that does not exist.
	inc.Spec.Checklist = []klaxonv1.ChecklistTick{
		{Runbook: "db", Step: "look", By: "alice"},
		{Runbook: "acme/db", Step: "shrink", By: "bob"},
		{Runbook: "acme/db", Step: "nope", By: "eve"},
	}
	p := PlanSteps(inc, rbs, t0.Add(time.Minute))
	if len(p.Ticks) != 3 {
		t.Fatalf("ticks = %+v", p.Ticks)
	}
	ClaimSteps(inc, p, nil, t0.Add(time.Minute))
	look := inc.Status.RunbookSteps[Find(inc.Status.RunbookSteps, 0, "acme/db", "look")]
	if look.State != klaxonv1.StepDone || look.By != "alice" {
		t.Errorf("look = %+v", look)
	}
	if inc.Status.ChecklistSeen != 3 {
		t.Errorf("checklistSeen = %d", inc.Status.ChecklistSeen)
	}
	if n := countTimeline(inc, "ChecklistDone"); n != 2 {
		t.Errorf("%d ChecklistDone entries, want 2", n)
	}
	if again := PlanSteps(inc, rbs, t0.Add(2*time.Minute)); !again.Empty() {
		t.Fatalf("ticks recorded twice: %+v", again)
	}

	// Done by hand before the stage: entering Contain does not run it.
	inc.Status.Stage = klaxonv1.StageContain
	p = PlanSteps(inc, rbs, t0.Add(3*time.Minute))
	if got := names(p.Due); !slices.Equal(got, []string{"acme/db/hook"}) {
		t.Errorf("due in Contain = %v, want only hook", got)
	}

	// Ticks removed from spec: new ones are seen again.
	inc.Spec.Checklist = nil
	p = PlanSteps(inc, rbs, t0.Add(4*time.Minute))
	if p.Empty() {
		t.Fatalf("a shrunk checklist is not noticed")
	}
	ClaimSteps(inc, p, make([]Verdict, len(p.Due)), t0.Add(4*time.Minute))
	if inc.Status.ChecklistSeen != 0 {
		t.Errorf("checklistSeen = %d after the ticks were removed", inc.Status.ChecklistSeen)
	}
}

func countTimeline(inc *klaxonv1.Incident, typ string) int {
	n := 0
	for _, e := range inc.Status.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}
