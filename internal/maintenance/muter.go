package maintenance

import (
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

// ReasonMutedPrefix starts the reason of a maintenance mute; the window's
// "namespace/name" follows.
const ReasonMutedPrefix = "muted: maintenance window "

// Muter is the notification pipeline's maintenance stage (a notify.Muter): while an
// active Suppress window covers an incident's alert, the incident's pages and its
// Triggered and Escalated notices are held. It is the counterpart of intake's
// suppression for incidents that were already open when the window began (or that
// intake opened before it saw the window). The mute is temporary, as notify.Muter
// requires: once the window closes, the next plan sends what is still due. News that
// an incident is acknowledged, changed stage, resolved or has its post-mortem is never
// held: it tells people that work is happening, which maintenance does not change.
//
// Incidents opened by a person are never muted: someone meant to raise them.
type Muter struct {
	// Windows returns the compiled windows that apply to incidents of a namespace:
	// the namespace's own and the provider's.
	Windows func(namespace string) []*Window
	// Incident returns an incident, false when it is gone.
	Incident func(namespace, name string) (*klaxonv1.Incident, bool)
}

var _ notify.Muter = (*Muter)(nil)

// Mute implements notify.Muter.
func (m *Muter) Mute(inc notify.IncidentSummary, c notify.Candidate, now time.Time) (bool, string) {
	if !c.Page && c.Event != klaxonv1.EventTriggered && c.Event != klaxonv1.EventEscalated {
		return false, ""
	}
	if m == nil || m.Windows == nil || m.Incident == nil {
		return false, ""
	}
	obj, ok := m.Incident(inc.Namespace, inc.Name)
	if !ok {
		return false, ""
	}
	alert, ok := AlertOf(obj)
	if !ok {
		return false, ""
	}
	action, window, _ := Apply(m.Windows(inc.Namespace), alert, now)
	if action != klaxonv1.MaintenanceSuppress {
		return false, ""
	}
	return true, ReasonMutedPrefix + window
}

// AlertOf is what a window looks at for an incident intake opened: the alert's
// labels, the service, and the AlertSource. ok is false for an incident a person
// opened.
func AlertOf(inc *klaxonv1.Incident) (Alert, bool) {
	src := inc.Spec.Source
	if src == nil || src.Kind == "" || src.Kind == klaxonv1.SourceManual {
		return Alert{}, false
	}
	a := Alert{Labels: src.Labels, Service: inc.Spec.Service, Severity: src.SuggestedSeverity}
	if a.Service == "" {
		a.Service = inc.Status.Service
	}
	if src.Kind == klaxonv1.SourceAlertSource {
		a.AlertSource = src.Name
	}
	return a, true
}
