package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestTenantIsolation checks that one tenant's policies neither see nor
// change another tenant's decisions, even with the same package and names.
func TestTenantIsolation(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, Source{Namespace: "acme", Name: "routing", Modules: map[string]string{"t.rego": `package klaxon.triage
severity := "SEV1"
category := data.klaxon.config.category
`}, Data: []byte(`{"category": "acme-secret"}`)})
	upsert(t, e, Source{Namespace: "globex", Name: "routing", Modules: map[string]string{"t.rego": `package klaxon.triage
category := c if c := data.klaxon.config.category
`}})

	acme, _ := triage(t, e, incident("acme", "Disk full", map[string]string{"severity": "low"}))
	if acme.Severity != "SEV1" || acme.Category != "acme-secret" {
		t.Errorf("acme = %+v", acme)
	}
	globex, rec := triage(t, e, incident("globex", "Disk full", map[string]string{"severity": "low"}))
	if globex.Severity != "SEV4" || globex.Category != "" {
		t.Errorf("globex sees acme's policy or data: %+v", globex)
	}
	for _, p := range rec.Policies {
		if strings.HasPrefix(p, "acme/") {
			t.Errorf("globex's decision names acme's policy: %v", rec.Policies)
		}
	}
	other, _ := triage(t, e, incident("initech", "Disk full", map[string]string{"severity": "low"}))
	if other.Severity != "SEV4" {
		t.Errorf("a tenant without policies = %+v", other)
	}
}

// TestCrossTenantReference checks that a tenant policy cannot route to
// another tenant's objects: its layer is dropped.
func TestCrossTenantReference(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "routing", `package klaxon.triage
escalation_policy := "globex/oncall"
severity := "SEV5"
`))
	d, rec := triage(t, e, incident("acme", "x", map[string]string{"severity": "high"}))
	if d.EscalationPolicy != "" || d.Severity != "SEV2" {
		t.Errorf("decision = %+v, want the built-in one", d)
	}
	if !rec.Fallback || !strings.Contains(rec.Errors[0], `names namespace "globex"`) {
		t.Errorf("record = %+v", rec)
	}
}

// TestAtomicSwap evaluates while another goroutine swaps a policy back and
// forth: every decision must come from one whole version.
func TestAtomicSwap(t *testing.T) {
	e := newTestEngine(t)
	versions := []Source{
		policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV4\"\ncategory := \"one\"\n"),
		policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV2\"\ncategory := \"two\"\n"),
	}
	upsert(t, e, versions[0])
	want := map[v1alpha1.Severity]string{"SEV4": "one", "SEV2": "two"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			upsert(t, e, versions[i%2])
		}
	})
	seen := map[string]int{}
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for range 100 {
				d, _, err := e.Triage(context.Background(), triageIn(incident("acme", "x", nil)))
				if err != nil {
					t.Error(err)
					return
				}
				if want[d.Severity] != d.Category {
					t.Errorf("mixed versions: %+v", d)
				}
				mu.Lock()
				seen[d.Category]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	for {
		mu.Lock()
		n := seen["one"] + seen["two"]
		mu.Unlock()
		if n >= 400 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("decisions per version: %v", seen)
}

// TestBrokenPolicyKeepsLastGood checks that a policy that does not compile
// reports where and why, while the last good version stays in force.
func TestBrokenPolicyKeepsLastGood(t *testing.T) {
	e := newTestEngine(t)
	good := upsert(t, e, policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV5\"\n"))

	broken := policy("acme", "routing", "package klaxon.triage\n\nseverity := \"SEV1\" if {\n\tinput.x ==\n}\n")
	rev, problems := e.Upsert(context.Background(), broken)
	if rev != good {
		t.Errorf("revision in force = %q, want the last good %q", rev, good)
	}
	if len(problems) == 0 || problems[0].File != "policy.rego" || problems[0].Line != 5 || problems[0].Column == 0 {
		t.Fatalf("problems = %+v, want policy.rego line 5 with a column", problems)
	}
	if r, ok := e.Revision("acme", "routing"); !ok || r != good {
		t.Errorf("Revision = %q, %v", r, ok)
	}
	if d, _ := triage(t, e, incident("acme", "x", nil)); d.Severity != "SEV5" {
		t.Errorf("severity = %s, want the last good policy's SEV5", d.Severity)
	}

	// A policy broken from its first version is not in force at all.
	rev, problems = e.Upsert(context.Background(), policy("acme", "other", "package klaxon.triage\nseverity := \n"))
	if rev != "" || len(problems) == 0 {
		t.Errorf("rev = %q, problems = %v", rev, problems)
	}
	// An unchanged revision is not compiled again.
	if rev, problems := e.Upsert(context.Background(), policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV5\"\n")); rev != good || problems != nil {
		t.Errorf("re-upsert = %q, %v", rev, problems)
	}
}

// TestDelete checks that a deleted policy stops deciding.
func TestDelete(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "routing", "package klaxon.triage\nseverity := \"SEV5\"\n"))
	upsert(t, e, policy(sys, "guardrails", "package klaxon.triage\ncategory := \"x\"\n"))
	e.Delete("acme", "routing")
	e.Delete(sys, "guardrails")
	e.Delete("nobody", "nothing")
	d, rec := triage(t, e, incident("acme", "x", nil))
	if d.Severity != "SEV3" || d.Category != "" || len(rec.Policies) != 1 {
		t.Errorf("after delete: %+v %v", d, rec.Policies)
	}
}

// TestSlowPolicyIsCutOff checks the deadline: a tenant policy that would run
// for seconds is stopped and the decision falls back.
func TestSlowPolicyIsCutOff(t *testing.T) {
	e, err := NewEngine(Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	upsert(t, e, policy("acme", "slow", `package klaxon.triage
severity := "SEV5" if {
	count([1 | some i in numbers.range(1, 20000); some j in numbers.range(1, 20000)]) > 0
}
`))
	start := time.Now()
	d, rec := triage(t, e, incident("acme", "x", map[string]string{"severity": "critical"}))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v: the deadline did not cut the evaluation off", took)
	}
	if d.Severity != "SEV1" {
		t.Errorf("severity = %s, want the built-in SEV1", d.Severity)
	}
	if !rec.Fallback || len(rec.Errors) != 1 || !strings.Contains(rec.Errors[0], "tenant policy acme/slow") || !strings.Contains(rec.Errors[0], "deadline") {
		t.Errorf("record = %+v", rec)
	}
	if !strings.Contains(rec.Summary, "fallback") {
		t.Errorf("summary = %q", rec.Summary)
	}
}

// TestProviderFailureFallsBackToBuiltin checks that a failing provider policy
// leaves the built-in decision, without the tenant's values.
func TestProviderFailureFallsBackToBuiltin(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy(sys, "guardrails", `package klaxon.triage
severity := "SEV1" if input.incident.spec.title
severity := "SEV2" if input.incident.spec.title
`))
	upsert(t, e, policy("acme", "routing", "package klaxon.triage\ncategory := \"tenant\"\n"))
	d, rec := triage(t, e, incident("acme", "x", map[string]string{"severity": "low"}))
	if d.Severity != "SEV4" || d.Category != "" {
		t.Errorf("decision = %+v, want the built-in one", d)
	}
	if !rec.Fallback || !strings.Contains(rec.Errors[0], "provider policy klaxon-system/guardrails") || !strings.Contains(rec.Errors[0], "built-in default") {
		t.Errorf("record = %+v", rec)
	}
	if len(rec.Policies) != 1 || !strings.HasPrefix(rec.Policies[0], "builtin@") {
		t.Errorf("policies = %v", rec.Policies)
	}
}

// TestALayerIsDroppedWhole checks that when a policy of a layer fails after
// another policy of the same layer decided, the decision is as if neither
// had: the earlier policy's values are taken back too.
func TestALayerIsDroppedWhole(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "a-routing", "package klaxon.triage\ncategory := \"tenant\"\nrunbooks contains \"r1\"\n"))
	upsert(t, e, policy("acme", "b-broken", `package klaxon.triage
severity := "SEV1" if input.incident.spec.title
severity := "SEV2" if input.incident.spec.title
`))
	d, rec := triage(t, e, incident("acme", "x", map[string]string{"severity": "low"}))
	if d.Severity != "SEV4" || d.Category != "" || len(d.Runbooks) != 0 {
		t.Errorf("decision = %+v, want the built-in one", d)
	}
	if !rec.Fallback || !strings.Contains(strings.Join(rec.Errors, ";"), "acme/b-broken") {
		t.Errorf("record = %+v", rec)
	}
	if len(rec.Policies) != 1 || !strings.HasPrefix(rec.Policies[0], "builtin@") {
		t.Errorf("policies = %v", rec.Policies)
	}
}

// TestInvalidOutputDropsTheLayer checks the engine's validation of outputs.
func TestInvalidOutputDropsTheLayer(t *testing.T) {
	tests := []struct{ module, message string }{
		{"package klaxon.triage\nseverity := \"high\"\n", `triage.severity must be one of SEV1..SEV5, got "high"`},
		{"package klaxon.triage\ncategory := \"Not Valid\"\n", "triage.category must be a lower-case name"},
		{"package klaxon.triage\nstakeholder_groups := {1}\n", "triage.stakeholder_groups must be a name or namespace/name"},
		{"package klaxon.triage\nenforced contains \"colour\"\n", `triage.enforced names "colour"`},
	}
	for _, tc := range tests {
		e := newTestEngine(t)
		upsert(t, e, policy("acme", "bad", tc.module))
		_, rec := triage(t, e, incident("acme", "x", nil))
		if !rec.Fallback || !strings.Contains(strings.Join(rec.Errors, ";"), tc.message) {
			t.Errorf("%q: errors = %v, want %q", tc.module, rec.Errors, tc.message)
		}
	}
}

// TestDecisionIDs checks ids are unique and time-ordered UUIDs.
func TestDecisionIDs(t *testing.T) {
	e := newTestEngine(t)
	seen := map[string]bool{}
	for range 500 {
		_, rec := triage(t, e, incident("acme", "x", nil))
		id, err := uuid.Parse(rec.ID)
		if err != nil || id.Version() != 7 {
			t.Fatalf("id %q is not a UUID v7: %v", rec.ID, err)
		}
		if seen[rec.ID] {
			t.Fatalf("duplicate id %s", rec.ID)
		}
		seen[rec.ID] = true
	}
}

// TestRecord checks what a record carries: the input's time, the input
// itself, a bounded one-line summary and the policies that decided.
func TestRecord(t *testing.T) {
	e := newTestEngine(t)
	rev := upsert(t, e, policy("acme", "routing", `package klaxon.triage
runbooks := {sprintf("runbook-%03d-with-a-rather-long-name", [i]) | some i in numbers.range(1, 30)}
`))
	inc := incident("acme", "Outage", nil)
	inc.ManagedFields = nil
	inc.Annotations = map[string]string{lastApplied: "{...}", "keep": "me"}
	inc.Status.Timeline = []v1alpha1.TimelineEntry{{Type: "Triggered"}}
	d, rec := triage(t, e, inc)
	if !rec.Time.Equal(testNow) || rec.Point != PointTriage {
		t.Errorf("record = %+v", rec)
	}
	if len(rec.Summary) > MaxSummary || !strings.HasPrefix(rec.Summary, "severity=SEV1 category=availability") || strings.Contains(rec.Summary, "\n") {
		t.Errorf("summary (%d bytes) = %q", len(rec.Summary), rec.Summary)
	}
	if want := []string{"builtin@" + e.builtin.revision, "acme/routing@" + rev}; !reflect.DeepEqual(rec.Policies, want) {
		t.Errorf("policies = %v, want %v", rec.Policies, want)
	}
	var in map[string]any
	if err := json.Unmarshal(rec.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in["tenant"] != "acme" || in["now"] != "2026-03-02T10:00:00Z" {
		t.Errorf("input = %s", rec.Input)
	}
	raw := string(rec.Input)
	if strings.Contains(raw, lastApplied) || strings.Contains(raw, "timeline") || !strings.Contains(raw, `"keep":"me"`) {
		t.Errorf("input keeps what it should drop or drops what it should keep: %s", raw)
	}
	if len(d.Runbooks) != 30 {
		t.Errorf("runbooks = %d", len(d.Runbooks))
	}
	if inc.Annotations[lastApplied] == "" || len(inc.Status.Timeline) != 1 {
		t.Error("the caller's incident was changed")
	}
}

// TestReplay checks that a recorded input evaluates to the same decision at
// every point.
func TestReplay(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "all", `package klaxon.triage
runbooks contains "r1" if input.incident.spec.source.labels.team == "db"
`))
	ctx := context.Background()
	inc := incident("acme", "Data breach suspected", map[string]string{"severity": "warning", "team": "db"})
	inc.Status.Severity = v1alpha1.SEV1
	inc.Status.Category = "data-breach"
	base := Input{Incident: inc, Tenant: "acme", Now: testNow, Alerts: []Alert{{Status: "firing", Labels: map[string]string{"a": "b"}, StartsAt: testNow}}}
	cases := []struct {
		point Point
		run   func() (any, Record, error)
	}{
		{PointTriage, func() (any, Record, error) { return unpack(e.Triage(ctx, TriageInput{base})) }},
		{PointEscalation, func() (any, Record, error) { return unpack(e.Escalation(ctx, EscalationInput{Input: base})) }},
		{PointNotify, func() (any, Record, error) {
			return unpack(e.Notify(ctx, NotifyInput{Input: base, Event: "Triggered", Groups: []NotifyGroup{{Namespace: "acme", Name: "c", Audience: "customers"}}}))
		}},
		{PointActions, func() (any, Record, error) {
			return unpack(e.ActionsAllow(ctx, ActionInput{Input: base, Action: Action{Runbook: "acme/r", Step: "s", Type: "webhook", Webhook: &WebhookTarget{Host: "h"}}}))
		}},
		{PointAdmission, func() (any, Record, error) {
			return unpack(e.AdmissionDeny(ctx, AdmissionInput{Input: Input{Tenant: "acme", Now: testNow}, Operation: "CREATE", Kind: "Incident", Object: json.RawMessage(`{"kind":"Incident"}`)}))
		}},
		{PointRedact, func() (any, Record, error) { return unpack(e.Redact(ctx, RedactInput{base})) }},
	}
	for _, c := range cases {
		t.Run(string(c.point), func(t *testing.T) {
			d1, rec1, err := c.run()
			if err != nil {
				t.Fatal(err)
			}
			d2, rec2, err := e.Replay(ctx, c.point, rec1.Input)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d1, d2) {
				t.Errorf("replayed %+v, recorded %+v", d2, d1)
			}
			if string(rec1.Input) != string(rec2.Input) || rec1.ID == rec2.ID || rec1.Summary != rec2.Summary {
				t.Errorf("records differ:\n%s\n%s", rec1.Input, rec2.Input)
			}
		})
	}
	if _, _, err := e.Replay(ctx, "nowhere", []byte(`{}`)); err == nil {
		t.Error("replay of an unknown point should fail")
	}
	if _, _, err := e.Replay(ctx, PointTriage, []byte(`{`)); err == nil {
		t.Error("replay of bad JSON should fail")
	}
}

// TestInputErrors checks that a decision needs a tenant and a time, and
// that an ended context is the caller's error, not a fallback.
func TestInputErrors(t *testing.T) {
	e := newTestEngine(t)
	inc := incident("acme", "x", nil)
	if _, _, err := e.Triage(context.Background(), TriageInput{Input{Incident: inc, Now: testNow}}); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Errorf("missing tenant: %v", err)
	}
	if _, _, err := e.Triage(context.Background(), TriageInput{Input{Incident: inc, Tenant: "acme"}}); err == nil || !strings.Contains(err.Error(), "now") {
		t.Errorf("missing now: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := e.Triage(ctx, triageIn(inc)); err == nil {
		t.Error("a cancelled context should fail the decision")
	}
}

// TestSystemNamespaceOption checks that the provider's namespace is
// configurable and that its own objects answer to its policies only once.
func TestSystemNamespaceOption(t *testing.T) {
	e, err := NewEngine(Options{SystemNamespace: "msp"})
	if err != nil {
		t.Fatal(err)
	}
	upsert(t, e, policy("msp", "guardrails", "package klaxon.triage\nseverity := \"SEV2\"\nenforced contains \"severity\"\n"))
	upsert(t, e, policy(sys, "not-the-provider", "package klaxon.triage\nseverity := \"SEV5\"\n"))
	if d, _ := triage(t, e, incident("acme", "x", nil)); d.Severity != "SEV2" || e.SystemNamespace() != "msp" {
		t.Errorf("severity = %s", d.Severity)
	}
	if d, rec := triage(t, e, incident("msp", "x", nil)); d.Severity != "SEV2" || len(rec.Policies) != 2 {
		t.Errorf("provider's own incident: %+v %v", d, rec.Policies)
	}
}

func ExampleEngine_Triage() {
	e, _ := NewEngine(Options{})
	e.Upsert(context.Background(), Source{Namespace: "klaxon-system", Name: "guardrails", Modules: map[string]string{
		"triage.rego": `package klaxon.triage

# Data breaches are SEV1, whatever a tenant or a human says.
severity := "SEV1" if input.decision.category == "data-breach"
enforced contains "severity" if input.decision.category == "data-breach"
`}})
	inc := &v1alpha1.Incident{Spec: v1alpha1.IncidentSpec{Title: "Possible data breach: customer PII in public bucket"}}
	inc.Namespace = "acme"
	d, rec, _ := e.Triage(context.Background(), TriageInput{Input{Incident: inc, Tenant: "acme", Now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}})
	fmt.Println(d.Severity, d.Category, d.StakeholderGroups, d.IsEnforced(FieldSeverity))
	fmt.Println(rec.Summary)
	// Output:
	// SEV1 data-breach [legal security] true
	// severity=SEV1 category=data-breach groups=legal,security enforced=severity
}
