package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// DefaultSeverity is the severity of an incident nobody and no policy has rated.
const DefaultSeverity = klaxonv1.SEV3

// Triage is what the triage decision point decided for an incident.
type Triage struct {
	Severity          klaxonv1.Severity
	Category          string
	Service           string
	EscalationPolicy  string // name, or namespace/name
	StakeholderGroups []string
	Runbooks          []string
	// Enforced lists the fields (by their policy names: severity, category,
	// service, escalation_policy) a provider's rule enforces: they win over what a
	// person wrote in spec.
	Enforced []string
}

// TriageHash identifies what triage decides on: the parts of spec people and intake
// write about the incident's nature. Triage runs again when it changes, not when the
// state or stage does.
func TriageHash(inc *klaxonv1.Incident) string {
	s := inc.Spec
	in := struct {
		Title, Description, Category, Service, Customer string
		Severity                                        klaxonv1.Severity
		Source                                          *klaxonv1.IncidentSource
		EscalationPolicyRef                             *klaxonv1.ObjectReference
		Affected                                        *klaxonv1.AffectedResources
	}{s.Title, s.Description, s.Category, s.Service, s.Customer, s.Severity, s.Source, s.EscalationPolicyRef, s.Affected}
	raw, _ := json.Marshal(in) // plain data: cannot fail
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// LastTriageHash is the input hash of the newest triage decision in status.
func LastTriageHash(st *klaxonv1.IncidentStatus) string {
	for i := len(st.Decisions) - 1; i >= 0; i-- {
		if st.Decisions[i].Point == "triage" {
			return st.Decisions[i].InputHash
		}
	}
	return ""
}

// ApplyTriage puts a triage decision into status. A person's explicit value in spec
// wins over the decision unless a provider rule enforces the field. It returns the
// transitions to record (a first triage, or a change of severity).
func ApplyTriage(inc *klaxonv1.Incident, t Triage, at time.Time) []Transition {
	st := &inc.Status
	enforced := func(f string) bool { return slices.Contains(t.Enforced, f) }
	pick := func(field, human, decided string) string {
		if human != "" && !(enforced(field) && decided != "") {
			return human
		}
		return decided
	}

	sev := klaxonv1.Severity(pick("severity", string(inc.Spec.Severity), string(t.Severity)))
	if sev == "" && inc.Spec.Source != nil {
		sev = inc.Spec.Source.SuggestedSeverity
	}
	if sev == "" {
		sev = DefaultSeverity
	}
	category := pick("category", inc.Spec.Category, t.Category)
	service := pick("service", inc.Spec.Service, t.Service)
	ep := t.EscalationPolicy
	if ref := inc.Spec.EscalationPolicyRef; ref != nil && !(enforced("escalation_policy") && ep != "") {
		ep = ref.Name
		if ref.Namespace != "" {
			ep = ref.Namespace + "/" + ref.Name
		}
	}

	var out []Transition
	first := st.Severity == ""
	if !first && sev != st.Severity {
		out = append(out, Transition{Reason: "SeverityChanged", At: at,
			Message: fmt.Sprintf("severity %s -> %s", st.Severity, sev)})
	}
	st.Severity, st.Category, st.Service = sev, category, service
	st.EscalationPolicy = qualify(inc.Namespace, ep)
	st.StakeholderGroups = qualifyAll(inc.Namespace, t.StakeholderGroups, 32)
	st.Runbooks = qualifyAll(inc.Namespace, t.Runbooks, 32)
	if first {
		msg := fmt.Sprintf("triaged %s", sev)
		if category != "" {
			msg += " " + category
		}
		if st.EscalationPolicy != "" {
			msg += "; escalation " + st.EscalationPolicy
		}
		if len(st.StakeholderGroups) > 0 {
			msg += "; stakeholders " + strings.Join(st.StakeholderGroups, ", ")
		}
		out = append(out, Transition{Reason: klaxonv1.ReasonTriaged, At: at, Message: truncate(msg)})
	}
	for _, tr := range out {
		AppendTimeline(st, klaxonv1.TimelineEntry{Time: metav1Time(tr.At), Type: tr.Reason, Message: tr.Message})
	}
	return out
}

// qualify turns a name into namespace/name, relative to the incident's namespace.
func qualify(ns, name string) string {
	if name == "" || strings.Contains(name, "/") {
		return name
	}
	return ns + "/" + name
}

func qualifyAll(ns string, names []string, limit int) []string {
	var out []string
	for _, n := range names {
		if q := qualify(ns, n); q != "" && !slices.Contains(out, q) && len(out) < limit {
			out = append(out, q)
		}
	}
	return out
}
