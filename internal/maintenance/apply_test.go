package maintenance

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestApply(t *testing.T) {
	start, end := metav1.NewTime(at("2026-06-01T00:00:00Z")), metav1.NewTime(at("2026-06-02T00:00:00Z"))
	window := func(name string, action klaxonv1.MaintenanceAction, to klaxonv1.Severity, services ...string) *Window {
		w := mustCompile(t, klaxonv1.MaintenanceWindowSpec{
			Start: &start, End: &end, Action: action, DowngradeTo: to,
			Selector: klaxonv1.MaintenanceSelector{Services: services},
		})
		w.Name = name
		return w
	}
	db := window("db-upgrade", klaxonv1.MaintenanceSuppress, "", "orders-db")
	dbToo := window("a-db-patch", "", "", "orders-db") // Suppress by default
	soft := window("soft", klaxonv1.MaintenanceDowngrade, klaxonv1.SEV3)
	softer := window("softer", klaxonv1.MaintenanceDowngrade, klaxonv1.SEV5)
	softerToo := window("a-softer", klaxonv1.MaintenanceDowngrade, klaxonv1.SEV5)
	nightly := mustCompile(t, recurring("0 2 * * *", time.Hour, ""))
	nightly.Name = "nightly"

	noon := at("2026-06-01T12:00:00Z")
	for _, tc := range []struct {
		name     string
		windows  []*Window
		alert    Alert
		now      time.Time
		action   klaxonv1.MaintenanceAction
		window   string
		severity klaxonv1.Severity
	}{
		{"no windows", nil, Alert{Service: "orders-db"}, noon, NoAction, "", ""},
		{"suppressed", []*Window{db}, Alert{Service: "orders-db"}, noon, klaxonv1.MaintenanceSuppress, "db-upgrade", ""},
		{"not covered", []*Window{db}, Alert{Service: "checkout"}, noon, NoAction, "", ""},
		{"over", []*Window{db}, Alert{Service: "orders-db"}, end.Time, NoAction, "", ""},
		{"not yet", []*Window{nightly}, Alert{}, noon, NoAction, "", ""},
		{"recurring, open", []*Window{nightly}, Alert{}, at("2026-06-01T02:30:00Z"), klaxonv1.MaintenanceSuppress, "nightly", ""},
		{"downgraded", []*Window{soft}, Alert{Severity: klaxonv1.SEV1}, noon, klaxonv1.MaintenanceDowngrade, "soft", klaxonv1.SEV3},
		{"no severity yet", []*Window{soft}, Alert{}, noon, klaxonv1.MaintenanceDowngrade, "soft", klaxonv1.SEV3},
		{"never raised", []*Window{soft}, Alert{Severity: klaxonv1.SEV4}, noon, klaxonv1.MaintenanceDowngrade, "soft", klaxonv1.SEV4},
		{"suppress wins over downgrade", []*Window{soft, db}, Alert{Service: "orders-db"}, noon, klaxonv1.MaintenanceSuppress, "db-upgrade", ""},
		{"least severe downgrade wins", []*Window{soft, softer}, Alert{Severity: klaxonv1.SEV2}, noon, klaxonv1.MaintenanceDowngrade, "softer", klaxonv1.SEV5},
		{"ties go to the first name", []*Window{softer, softerToo}, Alert{}, noon, klaxonv1.MaintenanceDowngrade, "a-softer", klaxonv1.SEV5},
		{"ties go to the first name, either order", []*Window{db, dbToo}, Alert{Service: "orders-db"}, noon, klaxonv1.MaintenanceSuppress, "a-db-patch", ""},
		{"nil windows are skipped", []*Window{nil, soft}, Alert{}, noon, klaxonv1.MaintenanceDowngrade, "soft", klaxonv1.SEV3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			action, window, severity := Apply(tc.windows, tc.alert, tc.now)
			if action != tc.action || window != tc.window || severity != tc.severity {
				t.Errorf("Apply = %q %q %q; want %q %q %q", action, window, severity, tc.action, tc.window, tc.severity)
			}
		})
	}
}
