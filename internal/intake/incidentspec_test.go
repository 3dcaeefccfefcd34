package intake

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestNewIncident(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	src := &klaxonv1.AlertSource{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "prometheus"},
		Spec: klaxonv1.AlertSourceSpec{EscalationPolicyRef: &klaxonv1.ObjectReference{Name: "payments"}}}
	labels := map[string]string{"alertname": "Disk", "team": "payments / checkout"} // not a valid label value: kept
	for i := range 100 {
		labels[strings.Repeat("k", 3)+string(rune('a'+i%26))+strings.Repeat("z", i)] = "v"
	}
	lead := Alert{Status: StatusFiring, Title: "Disk full", Description: "on db-1", Service: "orders-db", Fingerprint: "f1",
		GroupKey: `{alertname="Disk"}`, SuggestedSeverity: klaxonv1.SEV2, Labels: labels,
		Annotations: map[string]string{"summary": "Disk full", "huge": strings.Repeat("é", 10000)}}
	plan := Plan{Action: ActionOpen, Seq: 2, Firing: NewFiringSet([]string{"f1"}, false), State: klaxonv1.StateTriggered}

	inc := NewIncident(src, lead, plan, "", "", now)
	if inc.Name != IncidentName("prometheus", lead.GroupKey, 2) || inc.Namespace != "acme" {
		t.Errorf("name %s/%s", inc.Namespace, inc.Name)
	}
	if inc.Labels[klaxonv1.LabelAlertGroup] != GroupHash("prometheus", lead.GroupKey) || inc.Labels[klaxonv1.LabelAlertGroupSeq] != "2" ||
		inc.Labels[klaxonv1.LabelAlertSource] != "prometheus" {
		t.Errorf("labels %v", inc.Labels)
	}
	if inc.Annotations[klaxonv1.AnnotationStateChangedBy] != "AlertSource/prometheus" || inc.Annotations[klaxonv1.AnnotationFiring] != `["f1"]` {
		t.Errorf("annotations %v", inc.Annotations)
	}
	s := inc.Spec.Source
	if s.Kind != klaxonv1.SourceAlertSource || s.Name != "prometheus" || s.SuggestedSeverity != klaxonv1.SEV2 || s.GroupKey != lead.GroupKey {
		t.Errorf("source %+v", s)
	}
	if len(s.Labels) != 64 || s.Labels["team"] != "payments / checkout" {
		t.Errorf("labels: %d, team %q; want 64 and the value as sent", len(s.Labels), s.Labels["team"])
	}
	if n := len([]rune(s.Annotations["huge"])); n != maxAnnotationValue {
		t.Errorf("a huge annotation is %d characters; want it cut to %d", n, maxAnnotationValue)
	}
	if inc.Spec.Severity != "" || inc.Spec.Title != "Disk full" || inc.Spec.Service != "orders-db" || inc.Spec.EscalationPolicyRef.Name != "payments" {
		t.Errorf("spec %+v", inc.Spec)
	}

	down := NewIncident(src, lead, plan, klaxonv1.SEV4, "acme/db-upgrade", now)
	if down.Spec.Severity != klaxonv1.SEV4 || down.Spec.Source.SuggestedSeverity != klaxonv1.SEV4 ||
		down.Annotations[klaxonv1.AnnotationDowngradedBy] != "MaintenanceWindow/acme/db-upgrade" {
		t.Errorf("downgraded: severity %s suggested %s annotations %v", down.Spec.Severity, down.Spec.Source.SuggestedSeverity, down.Annotations)
	}

	long := &klaxonv1.AlertSource{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: strings.Repeat("a", 70)}}
	if _, ok := NewIncident(long, lead, plan, "", "", now).Labels[klaxonv1.LabelAlertSource]; ok {
		t.Error("a source name longer than a label value was put in a label")
	}
}

func TestHeartbeatIncident(t *testing.T) {
	deadline := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	hb := &klaxonv1.Heartbeat{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "backup"},
		Spec: klaxonv1.HeartbeatSpec{Interval: metav1.Duration{Duration: time.Hour}, Grace: metav1.Duration{Duration: time.Minute},
			Severity: klaxonv1.SEV2, Service: "backups"}}
	inc := HeartbeatIncident(hb, deadline, klaxonv1.StateTriggered, deadline.Add(time.Second))
	if inc.Spec.Title != "heartbeat backup missed" || inc.Spec.Source.Kind != klaxonv1.SourceHeartbeat ||
		inc.Spec.Source.SuggestedSeverity != klaxonv1.SEV2 || inc.Spec.Service != "backups" || inc.Labels[klaxonv1.LabelHeartbeat] != "backup" {
		t.Errorf("incident %+v", inc)
	}
	if inc.Name != HeartbeatIncidentName("backup", deadline) || inc.Name == HeartbeatIncidentName("backup", deadline.Add(time.Hour)) {
		t.Error("the name does not follow from the deadline")
	}
	hb.Spec.Title = "nightly backup did not report"
	if HeartbeatIncident(hb, deadline, klaxonv1.StateTriggered, deadline).Spec.Title != hb.Spec.Title {
		t.Error("spec.title not used")
	}
}

func TestHeartbeatDeadline(t *testing.T) {
	hb := &klaxonv1.Heartbeat{Spec: klaxonv1.HeartbeatSpec{Interval: metav1.Duration{Duration: time.Minute},
		Grace: metav1.Duration{Duration: 30 * time.Second}}}
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if got := HeartbeatDeadline(hb, base); !got.Equal(base.Add(90 * time.Second)) {
		t.Errorf("deadline %s", got)
	}
	// Status keeps seconds; the deadline is rounded up, never early.
	if got := HeartbeatDeadline(hb, base.Add(100*time.Millisecond)); !got.Equal(base.Add(91 * time.Second)) {
		t.Errorf("deadline %s; want it rounded up to the second", got)
	}
}
