package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestStampsWhoAndWhen(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	before := time.Now().Add(-time.Second)

	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: klaxonv1.IncidentSpec{Title: "db down"}}
	if err := as("alice").Create(ctx, inc); err != nil {
		t.Fatal(err)
	}
	if got := inc.Annotations[klaxonv1.AnnotationStateChangedBy]; got != "alice" {
		t.Fatalf("opened by %q, want alice", got)
	}
	at, err := time.Parse(time.RFC3339Nano, inc.Annotations[klaxonv1.AnnotationStateChangedAt])
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("state-changed-at %q (%v) is not the request's time", inc.Annotations[klaxonv1.AnnotationStateChangedAt], err)
	}

	// Bob acknowledges and moves the stage; he cannot claim to be someone else.
	inc.Spec.State, inc.Spec.AcknowledgedBy, inc.Spec.Stage = klaxonv1.StateAcknowledged, "bob", klaxonv1.StageContain
	inc.Annotations[klaxonv1.AnnotationStateChangedBy] = "mallory"
	if err := as("bob").Update(ctx, inc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{klaxonv1.AnnotationStateChangedBy, klaxonv1.AnnotationStageChangedBy} {
		if got := inc.Annotations[k]; got != "bob" {
			t.Errorf("%s = %q, want bob", k, got)
		}
	}
	if _, ok := inc.Annotations[klaxonv1.AnnotationAssigneeChangedBy]; ok {
		t.Errorf("assignee stamped without an assignee change")
	}

	// An edit that changes none of state, stage or assignee stamps nothing.
	stateAt := inc.Annotations[klaxonv1.AnnotationStateChangedAt]
	inc.Spec.Description = "primary unreachable"
	if err := as("alice").Update(ctx, inc); err != nil {
		t.Fatal(err)
	}
	if inc.Annotations[klaxonv1.AnnotationStateChangedAt] != stateAt || inc.Annotations[klaxonv1.AnnotationStateChangedBy] != "bob" {
		t.Errorf("a description edit restamped the state: %v", inc.Annotations)
	}

	// Klaxon itself, acting for a responder who used a signed link, names them.
	inc.Spec.State = klaxonv1.StateResolved
	inc.Annotations[klaxonv1.AnnotationStateChangedBy] = "carol"
	if err := as("system:serviceaccount:klaxon-system:klaxon").Update(ctx, inc); err != nil {
		t.Fatal(err)
	}
	if got := inc.Annotations[klaxonv1.AnnotationStateChangedBy]; got != "carol" {
		t.Errorf("trusted request naming carol stamped %q", got)
	}

	// Carol, who made the last change, reopens it through Klaxon too: the name is the
	// same, the time set afresh says it is this change's.
	inc.Spec.State = klaxonv1.StateTriggered
	inc.Annotations[klaxonv1.AnnotationStateChangedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	if err := as("system:serviceaccount:klaxon-system:klaxon").Update(ctx, inc); err != nil {
		t.Fatal(err)
	}
	if got := inc.Annotations[klaxonv1.AnnotationStateChangedBy]; got != "carol" {
		t.Errorf("trusted request naming carol again stamped %q", got)
	}

	// A trusted change that names nobody (carol's name left from before, no fresh
	// time) is Klaxon's own.
	inc.Spec.State = klaxonv1.StateResolved
	if err := as("system:serviceaccount:klaxon-system:klaxon").Update(ctx, inc); err != nil {
		t.Fatal(err)
	}
	if got := inc.Annotations[klaxonv1.AnnotationStateChangedBy]; got != "system:serviceaccount:klaxon-system:klaxon" {
		t.Errorf("a leftover name was kept: stamped %q", got)
	}
}

func TestRejectsWhatCannotWork(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	other := newNamespace(t)
	tests := []admissionCase{
		{"unknown time zone", &klaxonv1.OnCallSchedule{ObjectMeta: metav1.ObjectMeta{Name: "mars", Namespace: ns},
			Spec: klaxonv1.OnCallScheduleSpec{TimeZone: "Mars/Olympus_Mons", Layers: []klaxonv1.ScheduleLayer{{
				Name: "l", Start: "2026-01-05", HandoffTime: "09:00", RotationLength: metav1.Duration{Duration: time.Hour},
				Responders: []klaxonv1.ObjectReference{{Name: "a"}}}}}},
			`spec.timeZone: unknown time zone "Mars/Olympus_Mons"`},
		{"impossible date", &klaxonv1.OnCallSchedule{ObjectMeta: metav1.ObjectMeta{Name: "feb30", Namespace: ns},
			Spec: klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{{
				Name: "l", Start: "2026-02-30", HandoffTime: "09:00", RotationLength: metav1.Duration{Duration: time.Hour},
				Responders: []klaxonv1.ObjectReference{{Name: "a"}}}}}},
			"spec.layers[0].start"},
		{"responder time zone", &klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns},
			Spec: klaxonv1.ResponderSpec{DisplayName: "x", TimeZone: "Europe/Atlantis",
				ContactMethods: []klaxonv1.ContactMethod{{ChannelRef: klaxonv1.ObjectReference{Name: "c"}}}}},
			`spec.timeZone: unknown time zone "Europe/Atlantis"`},
		{"another tenant's channel", &klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: "y", Namespace: ns},
			Spec: klaxonv1.ResponderSpec{DisplayName: "y",
				ContactMethods: []klaxonv1.ContactMethod{{ChannelRef: klaxonv1.ObjectReference{Name: "c", Namespace: other}}}}},
			"spec.contactMethods[0].channelRef: NotificationChannel " + other + "/c is in another tenant's namespace"},
		{"template that does not parse", &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "bad-template", Namespace: ns},
			Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceCustomers, Members: []klaxonv1.ObjectReference{{Name: "a"}},
				Templates: []klaxonv1.MessageTemplate{{Event: klaxonv1.EventTriggered, Body: "We are looking into {{ .Incident.Title "}}}},
			"spec.templates[0]"},
		{"template naming a field that does not exist", &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: ns},
			Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceCustomers, Members: []klaxonv1.ObjectReference{{Name: "a"}},
				Templates: []klaxonv1.MessageTemplate{{Body: "{{ .Incident.Titel }}"}}}},
			"Titel"},
		{"good template", &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "good", Namespace: ns},
			Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceCustomers, Members: []klaxonv1.ObjectReference{{Name: "a"}},
				Templates: []klaxonv1.MessageTemplate{{Subject: "Service notice: {{ .Incident.Service }}", Body: "We are looking into {{ .Incident.Title | lower }}."}}}},
			""},
		{"provider's channel is fine", &klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: "z", Namespace: ns},
			Spec: klaxonv1.ResponderSpec{DisplayName: "z", TimeZone: "America/New_York",
				ContactMethods: []klaxonv1.ContactMethod{{ChannelRef: klaxonv1.ObjectReference{Name: "c", Namespace: systemNamespace}}}}},
			""},
	}
	admit(t, ctx, tests)
}

func TestAdmissionPolicyDenies(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	// A provider rule: a SEV1 escalation policy needs at least two levels.
	fakePolicy.deny = func(r DenyRequest) []string {
		if r.Kind != "EscalationPolicy" {
			return nil
		}
		var ep klaxonv1.EscalationPolicy
		if err := json.Unmarshal(r.Object, &ep); err != nil {
			return []string{err.Error()}
		}
		if ep.Labels["severity"] == "SEV1" && len(ep.Spec.Levels) < 2 {
			return []string{"a SEV1 escalation policy needs at least two levels"}
		}
		return nil
	}
	t.Cleanup(func() { fakePolicy.deny = nil })

	ep := &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sev1", Namespace: ns, Labels: map[string]string{"severity": "SEV1"}},
		Spec: klaxonv1.EscalationPolicySpec{Levels: []klaxonv1.EscalationLevel{{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "a"}}}}}}
	err := as("alice").Create(ctx, ep)
	if err == nil || !strings.Contains(err.Error(), "a SEV1 escalation policy needs at least two levels") {
		t.Fatalf("want the policy's message, got %v", err)
	}
	ep.Spec.Levels = append(ep.Spec.Levels, klaxonv1.EscalationLevel{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "b"}}})
	if err := as("alice").Create(ctx, ep); err != nil {
		t.Fatalf("two levels refused: %v", err)
	}
}

// TestOutageNeverBlocksAnAcknowledgement stops the webhook server: incidents can
// still be acknowledged (their webhooks fail open) while configuration kinds are
// refused (theirs fail closed). It runs last: it stops the suite's manager.
func TestOutageNeverBlocksAnAcknowledgement(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "during-outage", Namespace: ns},
		Spec: klaxonv1.IncidentSpec{Title: "disk full"}}
	if err := admin.Create(ctx, inc); err != nil {
		t.Fatal(err)
	}

	stopMgr()
	<-mgrExited

	inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "alice"
	if err := as("alice").Update(ctx, inc); err != nil {
		t.Fatalf("acknowledging during an outage failed: %v", err)
	}
	if _, ok := inc.Annotations[klaxonv1.AnnotationStageChangedAt]; ok {
		t.Errorf("stamped without the webhook?")
	}
	err := as("alice").Create(ctx, &klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns},
		Spec: klaxonv1.ResponderSpec{DisplayName: "late", ContactMethods: []klaxonv1.ContactMethod{{ChannelRef: klaxonv1.ObjectReference{Name: "c"}}}}})
	if err == nil {
		t.Fatalf("a configuration object was admitted without admission")
	}
}

// admissionCase is an object a user creates and the refusal expected ("" to be admitted).
type admissionCase struct {
	name    string
	obj     client.Object
	wantErr string
}

// admit creates each object as alice and checks it is admitted or refused as expected.
func admit(t *testing.T, ctx context.Context, tests []admissionCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := as("alice").Create(ctx, tc.obj)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}
