package postmortem

import (
	"sort"
	"strings"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// incidentFields maps the Incident's fields, as a data.klaxon.redact policy names them
// (spec.customer, status.severity), to the front-matter fields that hold their values.
// A field missing here is not in the record outside the decision inputs.
var incidentFields = map[string][]string{
	"spec.title":                 {"title"},
	"spec.description":           {"description"},
	"spec.source":                {"source"},
	"spec.severity":              {"severity"},
	"spec.category":              {"category"},
	"spec.service":               {"service"},
	"spec.customer":              {"customer"},
	"spec.state":                 {"state"},
	"spec.stage":                 {"stage"},
	"spec.assignee":              {"assignee"},
	"spec.acknowledgedBy":        {"acknowledgedBy"},
	"spec.affected":              {"affected"},
	"spec.rootCause":             {"rootCause"},
	"spec.resolution":            {"resolution"},
	"spec.actionItems":           {"actionItems"},
	"spec.notes":                 {"notes"},
	"status.severity":            {"severity"},
	"status.category":            {"category"},
	"status.stage":               {"stage"},
	"status.escalationPolicy":    {"escalationPolicy"},
	"status.stakeholderGroups":   {"stakeholderGroups"},
	"status.runbooks":            {"runbooks"},
	"status.timeline":            {"timeline"},
	"status.notifications":       {"notifications"},
	"status.decisions":           {"decisions"},
	"status.alerts":              {"alerts"},
	"status.alerts.fingerprints": {"alerts.fingerprints"},
}

// PolicyRedaction turns what a data.klaxon.redact decision names into rules for
// NewRedactor's extra argument. Its fields are paths into the Incident
// (spec.source.labels.user_email); each masks the record's field that holds that
// value, and the same path inside every decision's input, which carries the incident
// as the policy saw it. Patterns pass through as they are.
func PolicyRedaction(patterns, incidentPaths []string) v1alpha1.Redaction {
	out := v1alpha1.Redaction{Patterns: append([]string(nil), patterns...)}
	seen := map[string]bool{}
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			out.Fields = append(out.Fields, f)
		}
	}
	for _, p := range incidentPaths {
		p = strings.Trim(strings.TrimSpace(p), ".")
		if p == "" {
			continue
		}
		add("decisions.input.incident." + p)
		// The longest mapped prefix decides: spec.source.labels.x is source.labels.x.
		parts := strings.Split(p, ".")
		for n := len(parts); n > 0; n-- {
			fields, ok := incidentFields[strings.Join(parts[:n], ".")]
			if !ok {
				continue
			}
			rest := strings.Join(parts[n:], ".")
			for _, f := range fields {
				if rest != "" {
					f += "." + rest
				}
				add(f)
			}
			break
		}
	}
	sort.Strings(out.Fields)
	return out
}
