package incident

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 27, 14, 5, 0, 0, time.UTC)

func newIncident() *klaxonv1.Incident {
	inc := &klaxonv1.Incident{Spec: klaxonv1.IncidentSpec{Title: "checkout slow", Severity: klaxonv1.SEV2}}
	inc.Name, inc.Namespace = "checkout", "acme"
	inc.CreationTimestamp = metav1.NewTime(t0)
	inc.Generation = 1
	return inc
}

func reasons(ts []Transition) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Reason)
	}
	return strings.Join(out, ",")
}

func TestObserveLifecycle(t *testing.T) {
	inc := newIncident()

	got := Observe(inc, t0.Add(2*time.Second))
	if reasons(got) != "Triggered" {
		t.Fatalf("first observation: got %q, want Triggered", reasons(got))
	}
	if !inc.Status.TriggeredAt.Time.Equal(t0) {
		t.Errorf("triggeredAt = %v, want the creation time %v", inc.Status.TriggeredAt, t0)
	}

	// Acknowledge, stamped by the webhook three minutes after the trigger.
	inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "alice"
	inc.Annotations = map[string]string{
		klaxonv1.AnnotationStateChangedBy: "alice@acme",
		klaxonv1.AnnotationStateChangedAt: t0.Add(3 * time.Minute).Format(time.RFC3339Nano),
	}
	got = Observe(inc, t0.Add(5*time.Minute))
	if reasons(got) != "Acknowledged" || got[0].Actor != "alice" {
		t.Fatalf("ack: got %+v", got)
	}
	if inc.Status.TimeToAcknowledge.Duration != 3*time.Minute {
		t.Errorf("timeToAcknowledge = %v, want 3m from the stamp, not the observation", inc.Status.TimeToAcknowledge.Duration)
	}
	if c := meta.FindStatusCondition(inc.Status.Conditions, klaxonv1.ConditionAcknowledged); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Acknowledged condition = %+v", c)
	}

	// Stage, assignee and a note arrive together.
	inc.Spec.Stage, inc.Spec.Assignee = klaxonv1.StageContain, "bob"
	inc.Spec.Notes = []klaxonv1.IncidentNote{{Author: "bob", Text: "rolled back payments to v41"}}
	got = Observe(inc, t0.Add(10*time.Minute))
	if reasons(got) != "StageChanged,Assigned,NoteAdded" {
		t.Fatalf("stage/assignee/note: got %q", reasons(got))
	}

	inc.Spec.State = klaxonv1.StateResolved
	inc.Annotations = nil
	got = Observe(inc, t0.Add(time.Hour))
	if reasons(got) != "Resolved" {
		t.Fatalf("resolve: got %q", reasons(got))
	}
	if inc.Status.TimeToResolve.Duration != time.Hour {
		t.Errorf("timeToResolve = %v, want 1h", inc.Status.TimeToResolve.Duration)
	}

	// Observing again without a change in spec changes nothing.
	before := inc.Status.DeepCopy()
	if got := Observe(inc, t0.Add(2*time.Hour)); len(got) != 0 {
		t.Fatalf("second observation produced transitions: %q", reasons(got))
	}
	if !equality.Semantic.DeepEqual(*before, inc.Status) {
		t.Errorf("second observation changed status")
	}

	// Reopen: counts, clears the episode, restarts escalation; a later ack is measured
	// from the reopen.
	inc.Status.Escalation = &klaxonv1.EscalationStatus{Level: 2}
	inc.Spec.State = klaxonv1.StateTriggered
	got = Observe(inc, t0.Add(3*time.Hour))
	if reasons(got) != "Reopened" || inc.Status.ReopenCount != 1 || inc.Status.ResolvedAt != nil ||
		inc.Status.AcknowledgedAt != nil || inc.Status.Escalation != nil {
		t.Fatalf("reopen: %q %+v", reasons(got), inc.Status)
	}
	inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "carol"
	Observe(inc, t0.Add(3*time.Hour+time.Minute))
	if inc.Status.TimeToAcknowledge.Duration != time.Minute {
		t.Errorf("timeToAcknowledge after reopen = %v, want 1m", inc.Status.TimeToAcknowledge.Duration)
	}
	if n := len(inc.Status.Timeline); n != 8 {
		t.Errorf("timeline has %d entries, want 8", n)
	}
}

func TestObserveJumps(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*klaxonv1.Incident)
		want  string
	}{
		{"resolved without ack", func(i *klaxonv1.Incident) { i.Spec.State = klaxonv1.StateResolved }, "Resolved"},
		{"created acknowledged", func(i *klaxonv1.Incident) {
			i.Spec.State, i.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "alice"
		}, "Acknowledged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := newIncident()
			tc.setup(inc)
			got := Observe(inc, t0.Add(time.Minute))
			if r := reasons(got); r != "Triggered,"+tc.want {
				t.Fatalf("got %q, want Triggered,%s", r, tc.want)
			}
		})
	}

	t.Run("reopen straight to acknowledged", func(t *testing.T) {
		inc := newIncident()
		inc.Spec.State = klaxonv1.StateResolved
		Observe(inc, t0.Add(time.Minute))
		inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "bob"
		if r := reasons(Observe(inc, t0.Add(2*time.Minute))); r != "Reopened,Acknowledged" {
			t.Fatalf("got %q", r)
		}
	})

	t.Run("unacknowledge", func(t *testing.T) {
		inc := newIncident()
		inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "bob"
		Observe(inc, t0.Add(time.Minute))
		inc.Spec.State = klaxonv1.StateTriggered
		if r := reasons(Observe(inc, t0.Add(2*time.Minute))); r != "Unacknowledged" || inc.Status.AcknowledgedAt != nil {
			t.Fatalf("got %q ackAt=%v", r, inc.Status.AcknowledgedAt)
		}
	})
}

func TestChangeStampDistrusted(t *testing.T) {
	inc := newIncident()
	Observe(inc, t0)
	// A stamp from the future (a skewed client) is replaced by the observation time.
	inc.Spec.State = klaxonv1.StateResolved
	inc.Annotations = map[string]string{klaxonv1.AnnotationStateChangedAt: t0.Add(24 * time.Hour).Format(time.RFC3339)}
	now := t0.Add(10 * time.Minute)
	got := Observe(inc, now)
	if !got[0].At.Equal(now) {
		t.Fatalf("resolve at %v, want the observation time %v", got[0].At, now)
	}
}

func TestOpenedBySource(t *testing.T) {
	inc := newIncident()
	inc.Spec.Source = &klaxonv1.IncidentSource{Kind: klaxonv1.SourceAlertSource, Name: "prom"}
	if got := Observe(inc, t0); got[0].Actor != "AlertSource/prom" {
		t.Errorf("opened by %q, want AlertSource/prom", got[0].Actor)
	}
}

func TestTruncateKeepsValidUTF8(t *testing.T) {
	s := strings.Repeat("ü", 400) // 800 bytes
	got := truncate(s)
	if len(got) > maxMessage {
		t.Fatalf("len %d > %d", len(got), maxMessage)
	}
	if !strings.HasSuffix(got, "…") || !isValidUTF8(got) {
		t.Fatalf("bad truncation %q", got[len(got)-8:])
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
