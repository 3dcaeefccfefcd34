package maintenance

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

func TestMuter(t *testing.T) {
	start, end := metav1.NewTime(at("2026-06-01T00:00:00Z")), metav1.NewTime(at("2026-06-02T00:00:00Z"))
	suppress := mustCompile(t, klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end,
		Selector: klaxonv1.MaintenanceSelector{Services: []string{"orders-db"}}})
	suppress.Name = "acme/db-upgrade"
	downgrade := mustCompile(t, klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end,
		Action: klaxonv1.MaintenanceDowngrade, DowngradeTo: klaxonv1.SEV4})
	downgrade.Name = "acme/soft"

	incidents := map[string]*klaxonv1.Incident{
		"db": {Spec: klaxonv1.IncidentSpec{Service: "orders-db",
			Source: &klaxonv1.IncidentSource{Kind: klaxonv1.SourceAlertSource, Name: "prometheus"}}},
		"checkout": {Spec: klaxonv1.IncidentSpec{Service: "checkout",
			Source: &klaxonv1.IncidentSource{Kind: klaxonv1.SourceAlertSource, Name: "prometheus"}}},
		"db-by-hand": {Spec: klaxonv1.IncidentSpec{Service: "orders-db"}},
		"db-heartbeat": {Spec: klaxonv1.IncidentSpec{Service: "orders-db",
			Source: &klaxonv1.IncidentSource{Kind: klaxonv1.SourceHeartbeat, Name: "backup"}}},
	}
	m := &Muter{
		Windows: func(ns string) []*Window { return []*Window{suppress, downgrade} },
		Incident: func(ns, name string) (*klaxonv1.Incident, bool) {
			inc, ok := incidents[name]
			return inc, ok
		},
	}
	var _ notify.Muter = m
	during, after := at("2026-06-01T12:00:00Z"), at("2026-06-02T00:00:00Z")
	page := notify.Candidate{Event: klaxonv1.EventTriggered, Page: true}
	for _, tc := range []struct {
		name     string
		incident string
		c        notify.Candidate
		now      string
		muted    bool
	}{
		{"page of a covered incident", "db", page, "during", true},
		{"escalation notice", "db", notify.Candidate{Event: klaxonv1.EventEscalated}, "during", true},
		{"resolution still goes out", "db", notify.Candidate{Event: klaxonv1.EventResolved, FollowUp: true}, "during", false},
		{"acknowledgement still goes out", "db", notify.Candidate{Event: klaxonv1.EventAcknowledged}, "during", false},
		{"after the window", "db", page, "after", false},
		{"a downgrade window does not mute", "checkout", page, "during", false},
		{"opened by a person", "db-by-hand", page, "during", false},
		{"a heartbeat's incident, by service", "db-heartbeat", page, "during", true},
		{"gone", "nope", page, "during", false},
	} {
		now := during
		if tc.now == "after" {
			now = after
		}
		muted, reason := m.Mute(notify.IncidentSummary{Namespace: "acme", Name: tc.incident}, tc.c, now)
		if muted != tc.muted {
			t.Errorf("%s: muted %v (%s)", tc.name, muted, reason)
		}
		if muted && !strings.HasPrefix(reason, ReasonMutedPrefix+"acme/db-upgrade") {
			t.Errorf("%s: reason %q", tc.name, reason)
		}
	}
	var unset *Muter
	if muted, _ := unset.Mute(notify.IncidentSummary{}, page, during); muted {
		t.Error("a nil Muter mutes")
	}
}
