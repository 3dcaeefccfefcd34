package runbook

import (
	"slices"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Match returns the runbooks whose selector matches the incident, as namespace/name,
// in the order given. Every field a selector sets must match and an empty field
// matches anything, so an empty selector matches every incident the runbook can
// see. The caller passes only runbooks the incident may use: its own namespace's
// and the provider's.
//
// The incident is matched on what is in effect: status.severity, status.category
// and status.service once triage has decided, spec's values before; labels are the
// alert's (spec.source.labels).
func Match(runbooks []klaxonv1.Runbook, inc *klaxonv1.Incident) []string {
	var out []string
	for i := range runbooks {
		rb := &runbooks[i]
		if selects(rb.Spec.Selector, inc) {
			out = append(out, rb.Namespace+"/"+rb.Name)
		}
	}
	return out
}

func selects(sel klaxonv1.RunbookSelector, inc *klaxonv1.Incident) bool {
	sev := inc.Status.Severity
	if sev == "" {
		sev = inc.Spec.Severity
	}
	category := firstOf(inc.Status.Category, inc.Spec.Category)
	service := firstOf(inc.Status.Service, inc.Spec.Service)
	if len(sel.Severities) > 0 && !slices.Contains(sel.Severities, sev) {
		return false
	}
	if len(sel.Categories) > 0 && !slices.Contains(sel.Categories, category) {
		return false
	}
	if len(sel.Services) > 0 && !slices.Contains(sel.Services, service) {
		return false
	}
	var labels map[string]string
	if inc.Spec.Source != nil {
		labels = inc.Spec.Source.Labels
	}
	for k, v := range sel.MatchLabels {
		got, ok := labels[k]
		if !ok || got != v {
			return false
		}
	}
	return true
}

// Attach returns attached with matched added, without duplicates, at most limit
// long: what triage's policy named comes first, then what the selectors matched.
func Attach(attached, matched []string, limit int) []string {
	out := slices.Clone(attached)
	for _, m := range matched {
		if len(out) >= limit {
			break
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
