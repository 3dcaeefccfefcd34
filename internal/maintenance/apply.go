package maintenance

import (
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// NoAction is what Apply returns when no open window covers the alert.
const NoAction klaxonv1.MaintenanceAction = ""

// Alert is what a window looks at: the alert's labels, service and the AlertSource it
// came through, and its suggested severity, which a downgrade never raises.
type Alert struct {
	Labels      map[string]string
	Service     string
	AlertSource string
	Severity    klaxonv1.Severity
}

// Apply decides what the open windows covering an alert do with it at now, and which
// window decided. When several cover it, Suppress wins over Downgrade (as any matching
// silence mutes in Alertmanager), and of downgrades the one to the least severe level
// wins; ties go to the first name in order, so the answer does not depend on the order
// of windows. downgradeTo is never more severe than alert.Severity (when set): a
// SEV4 alert in a "downgrade to SEV3" window stays SEV4. The caller counts the alert
// in the window's status either way; nothing is dropped silently.
func Apply(windows []*Window, alert Alert, now time.Time) (action klaxonv1.MaintenanceAction, window string, downgradeTo klaxonv1.Severity) {
	var best *Window
	for _, w := range windows {
		if w == nil || !w.Active(now) || !w.Matches(alert.Labels, alert.Service, alert.AlertSource) {
			continue
		}
		if best == nil || w.beats(best) {
			best = w
		}
	}
	if best == nil {
		return NoAction, "", ""
	}
	if best.action == klaxonv1.MaintenanceSuppress {
		return klaxonv1.MaintenanceSuppress, best.Name, ""
	}
	to := best.downgradeTo
	if alert.Severity.Rank() > to.Rank() {
		to = alert.Severity
	}
	return klaxonv1.MaintenanceDowngrade, best.Name, to
}

// beats orders windows that cover the same alert.
func (w *Window) beats(other *Window) bool {
	if (w.action == klaxonv1.MaintenanceSuppress) != (other.action == klaxonv1.MaintenanceSuppress) {
		return w.action == klaxonv1.MaintenanceSuppress
	}
	if w.action == klaxonv1.MaintenanceDowngrade && w.downgradeTo.Rank() != other.downgradeTo.Rank() {
		return w.downgradeTo.Rank() > other.downgradeTo.Rank()
	}
	return w.Name < other.Name
}
