package incident

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// MaxDecisions is the bound on status.decisions (the CRD's maxItems); older
// decisions stay in their IncidentDecision objects.
const MaxDecisions = 32

// Decision is one policy decision about an incident, as the engine recorded it.
type Decision struct {
	Point     string
	ID        string
	Time      time.Time
	Summary   string
	InputHash string
	Input     json.RawMessage
	Output    any
	Fallback  bool
	Errors    []string
}

// MaxRecordDecisions is the bound on the decisions one IncidentDecision holds (the
// CRD's maxItems); a reconcile that took more is kept in several.
const MaxRecordDecisions = 32

// DecisionRecords are the records of decisions an IncidentDecision keeps, one for
// the decisions taken together (more only beyond MaxRecordDecisions): their inputs
// for the post-mortem record and replay, and their outcomes.
func DecisionRecords(inc *klaxonv1.Incident, ds []Decision) ([]klaxonv1.IncidentDecisionSpec, error) {
	var specs []klaxonv1.IncidentDecisionSpec
	for chunk := range slices.Chunk(ds, MaxRecordDecisions) {
		spec := klaxonv1.IncidentDecisionSpec{Incident: inc.Name}
		parts := make([]string, 0, len(chunk))
		for _, d := range chunk {
			parts = append(parts, d.Point+": "+d.Summary)
			pd := klaxonv1.PolicyDecision{
				Point: d.Point, ID: d.ID, Time: metav1.NewTime(d.Time),
				Summary: truncate(d.Summary), Input: klaxonv1.JSONText(d.Input),
				Fallback: d.Fallback, Errors: capStrings(d.Errors, 10, 512),
			}
			if d.Output != nil {
				raw, err := json.Marshal(d.Output)
				if err != nil {
					return nil, fmt.Errorf("encoding the %s decision: %w", d.Point, err)
				}
				pd.Output = &apiextensionsv1.JSON{Raw: raw}
			}
			spec.Decisions = append(spec.Decisions, pd)
		}
		spec.Summary = truncate(strings.Join(parts, "; "))
		specs = append(specs, spec)
	}
	return specs, nil
}

// RecordID identifies a record: the id of its first decision, which its object's
// name derives from.
func RecordID(spec klaxonv1.IncidentDecisionSpec) string {
	if len(spec.Decisions) == 0 {
		return ""
	}
	return spec.Decisions[0].ID
}

// DecisionObject is the IncidentDecision that keeps a record. Its name derives from
// the record's first decision id, so creating it again after a failed status write,
// or from status.pendingDecisions after a crash, finds it instead of duplicating it.
func DecisionObject(inc *klaxonv1.Incident, spec klaxonv1.IncidentDecisionSpec) *klaxonv1.IncidentDecision {
	obj := &klaxonv1.IncidentDecision{Spec: spec}
	obj.Name = decisionName(inc.Name, RecordID(spec))
	obj.Namespace = inc.Namespace
	obj.Labels = map[string]string{klaxonv1.LabelIncident: LabelValue(inc.Name)}
	return obj
}

// AppendDecision records a decision in status, dropping the oldest beyond the bound,
// and notes a fallback to the built-in defaults in the timeline.
func AppendDecision(st *klaxonv1.IncidentStatus, d Decision) {
	t := metav1.NewTime(d.Time)
	st.Decisions = append(st.Decisions, klaxonv1.DecisionRecord{
		Point: d.Point, ID: d.ID, Time: &t, Summary: truncate(d.Summary), InputHash: d.InputHash,
	})
	if n := len(st.Decisions) - MaxDecisions; n > 0 {
		st.Decisions = trimDecisions(st.Decisions, n)
	}
	if d.Fallback {
		msg := fmt.Sprintf("%s policy failed; the built-in default decided (%s)", d.Point, d.ID)
		if len(d.Errors) > 0 {
			msg += ": " + d.Errors[0]
		}
		AppendTimeline(st, klaxonv1.TimelineEntry{Time: t, Type: "PolicyFallback", Actor: "klaxon", Message: msg})
	}
}

// trimDecisions drops the n oldest records, except the newest triage decision:
// LastTriageHash reads it to tell whether triage must run again, and a runbook
// taking many actions decisions must not make it run again for nothing.
func trimDecisions(recs []klaxonv1.DecisionRecord, n int) []klaxonv1.DecisionRecord {
	keep := -1
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Point == "triage" {
			keep = i
			break
		}
	}
	out := make([]klaxonv1.DecisionRecord, 0, len(recs)-n)
	if keep >= 0 && keep < n {
		out = append(out, recs[keep])
		n++ // the triage record takes the place of one more of the oldest
	}
	for i := n; i < len(recs); i++ {
		out = append(out, recs[i])
	}
	return out
}

func decisionName(incident, id string) string {
	suffix := "-" + id
	if len(incident)+len(suffix) <= 253 {
		return incident + suffix
	}
	return shortHash(incident, 253-len(suffix)) + suffix
}

func capStrings(in []string, n, size int) []string {
	var out []string
	for i, s := range in {
		if i == n {
			break
		}
		if len(s) > size {
			s = s[:size]
		}
		out = append(out, s)
	}
	return out
}

func metav1Time(t time.Time) metav1.Time { return metav1.NewTime(t) }
