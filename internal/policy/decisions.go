package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TriageDecision is what triage decided. Empty fields are no opinion: the
// caller keeps the incident's spec value or leaves the status field empty.
// A human's spec value wins over a field unless IsEnforced says the provider
// enforces it.
type TriageDecision struct {
	// Severity, SEV1..SEV5.
	Severity v1alpha1.Severity `json:"severity,omitempty"`
	// Category, e.g. security, data-breach, availability, performance.
	Category string `json:"category,omitempty"`
	// Service affected.
	Service string `json:"service,omitempty"`
	// EscalationPolicy is "name" or "namespace/name" (the tenant's or the
	// provider's namespace).
	EscalationPolicy string `json:"escalationPolicy,omitempty"`
	// StakeholderGroups, sorted, each "name" or "namespace/name".
	StakeholderGroups []string `json:"stakeholderGroups,omitempty"`
	// Runbooks to attach in addition to those the Runbook selectors match,
	// sorted, each "name" or "namespace/name".
	Runbooks []string `json:"runbooks,omitempty"`
	// Enforced lists the fields (Field* names) the provider enforces.
	Enforced []string `json:"enforced,omitempty"`
}

// IsEnforced says whether the provider enforces a field (FieldSeverity, ...).
func (d TriageDecision) IsEnforced(field string) bool { return slices.Contains(d.Enforced, field) }

func triageFrom(m *merged) TriageDecision {
	return TriageDecision{
		Severity:          v1alpha1.Severity(stringOf(m.value(FieldSeverity))),
		Category:          stringOf(m.value(FieldCategory)),
		Service:           stringOf(m.value(FieldService)),
		EscalationPolicy:  stringOf(m.value(FieldEscalationPolicy)),
		StakeholderGroups: stringsOf(m.value(FieldStakeholderGroups)),
		Runbooks:          stringsOf(m.value(FieldRunbooks)),
		Enforced:          m.enforcedNames(),
	}
}

func (d TriageDecision) summary() string {
	// One builder, one allocation: every triage decision records this.
	var b strings.Builder
	n := len("severity=") + len(orDash(string(d.Severity))) + len(" category=") + len(orDash(d.Category)) +
		listLen(" groups=", d.StakeholderGroups) + listLen(" runbooks=", d.Runbooks) + listLen(" enforced=", d.Enforced)
	if d.Service != "" {
		n += len(" service=") + len(d.Service)
	}
	if d.EscalationPolicy != "" {
		n += len(" escalationPolicy=") + len(d.EscalationPolicy)
	}
	b.Grow(n)
	b.WriteString("severity=")
	b.WriteString(orDash(string(d.Severity)))
	b.WriteString(" category=")
	b.WriteString(orDash(d.Category))
	if d.Service != "" {
		b.WriteString(" service=")
		b.WriteString(d.Service)
	}
	if d.EscalationPolicy != "" {
		b.WriteString(" escalationPolicy=")
		b.WriteString(d.EscalationPolicy)
	}
	writeList(&b, " groups=", d.StakeholderGroups)
	writeList(&b, " runbooks=", d.Runbooks)
	writeList(&b, " enforced=", d.Enforced)
	return b.String()
}

// joinedLen is the length of strings.Join(xs, ",").
func joinedLen(xs []string) int {
	if len(xs) == 0 {
		return 0
	}
	n := len(xs) - 1
	for _, x := range xs {
		n += len(x)
	}
	return n
}

// listLen is how many bytes writeList writes.
func listLen(label string, xs []string) int {
	if len(xs) == 0 {
		return 0
	}
	return len(label) + joinedLen(xs)
}

// writeList writes label and xs joined by commas, nothing when xs is empty.
func writeList(b *strings.Builder, label string, xs []string) {
	if len(xs) == 0 {
		return
	}
	b.WriteString(label)
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
}

// EscalationDecision is how policy changes the escalation plan.
type EscalationDecision struct {
	// StartLevel is the level to page first, from 1; 0 when no policy changes
	// where the plan starts (start at level 1). Levels before it are skipped
	// in the first cycle only, and it is paged as level 1 would be.
	StartLevel int `json:"startLevel,omitempty"`
	// Deadlines the response must meet, soonest first.
	Deadlines []Deadline `json:"deadlines,omitempty"`
	// Enforced lists the fields the provider enforces.
	Enforced []string `json:"enforced,omitempty"`
}

// Deadline is a time by which something must have happened, e.g. a
// regulator notified.
type Deadline struct {
	// Name identifies the deadline, e.g. regulator-notification.
	Name string `json:"name"`
	// At is when it falls due.
	At time.Time `json:"at"`
	// Description says what must happen by then.
	Description string `json:"description,omitempty"`
}

func escalationFrom(m *merged) EscalationDecision {
	d := EscalationDecision{Enforced: m.enforcedNames()}
	if n, ok := m.value(FieldStartLevel).(ast.Number); ok {
		if i, ok := n.Int(); ok {
			d.StartLevel = i
		}
	}
	if obj, ok := m.value(FieldDeadlines).(ast.Object); ok {
		obj.Foreach(func(k, v *ast.Term) {
			e, _ := v.Value.(ast.Object)
			name, _ := k.Value.(ast.String)
			at, err := time.Parse(time.RFC3339, stringOf(member(e, "at")))
			if e == nil || err != nil {
				return // checked when the layer was validated
			}
			d.Deadlines = append(d.Deadlines, Deadline{Name: string(name), At: at.UTC(), Description: stringOf(member(e, "description"))})
		})
		slices.SortFunc(d.Deadlines, func(a, b Deadline) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return d
}

func (d EscalationDecision) summary() string {
	s := "startLevel=" + orDash(itoa(d.StartLevel))
	if len(d.Deadlines) > 0 {
		ds := make([]string, len(d.Deadlines))
		for i, dl := range d.Deadlines {
			ds[i] = dl.Name + "@" + dl.At.Format(time.RFC3339)
		}
		s += " deadlines=" + strings.Join(ds, ",")
	}
	return s
}

// NotifyDecision says, for each candidate group, whether it hears the event.
type NotifyDecision struct {
	// Groups has one entry per candidate group, in the input's order.
	Groups []GroupDecision `json:"groups"`
	// Enforced lists the fields the provider enforces.
	Enforced []string `json:"enforced,omitempty"`
}

// GroupDecision is one group's outcome.
type GroupDecision struct {
	// Group is the candidate's key, "namespace/name".
	Group string `json:"group"`
	// Notify is true when the group hears the event.
	Notify bool `json:"notify"`
	// Template names the message template to use; empty for the group's own
	// template for the event, else its audience's built-in one.
	Template string `json:"template,omitempty"`
	// Reason says why, for the notification log.
	Reason string `json:"reason,omitempty"`
}

// For returns the decision for the group with key "namespace/name".
func (d NotifyDecision) For(key string) (GroupDecision, bool) {
	for _, g := range d.Groups {
		if g.Group == key {
			return g, true
		}
	}
	return GroupDecision{}, false
}

// notifyFrom reads one decision per candidate. A candidate no layer decided
// (the built-in library decides every one, so only a broken build could
// leave one out) does not hear the event: notifying an audience by mistake,
// customers above all, cannot be taken back.
func notifyFrom(m *merged, groups []NotifyGroup) NotifyDecision {
	d := NotifyDecision{Groups: make([]GroupDecision, 0, len(groups)), Enforced: m.enforcedNames()}
	obj, _ := m.value(FieldGroups).(ast.Object)
	for _, g := range groups {
		gd := GroupDecision{Group: g.Key, Reason: "no policy decided for this group"}
		if obj != nil {
			if t := obj.Get(ast.StringTerm(g.Key)); t != nil {
				if e, ok := t.Value.(ast.Object); ok {
					b, _ := member(e, "notify").(ast.Boolean)
					gd.Notify, gd.Template, gd.Reason = bool(b), stringOf(member(e, "template")), stringOf(member(e, "reason"))
				}
			}
		}
		d.Groups = append(d.Groups, gd)
	}
	return d
}

func (d NotifyDecision) summary(event v1alpha1.IncidentEvent) string {
	var yes, no []string
	for _, g := range d.Groups {
		if g.Notify {
			yes = append(yes, g.Group)
		} else {
			no = append(no, g.Group)
		}
	}
	return fmt.Sprintf("event=%s notify=%s suppress=%s", event, orDash(strings.Join(yes, ",")), orDash(strings.Join(no, ",")))
}

// ActionsDecision says whether an automated action may run.
type ActionsDecision struct {
	// Allow is true when the action may run.
	Allow bool `json:"allow"`
	// Reasons given by the policy whose answer stands.
	Reasons []string `json:"reasons,omitempty"`
	// Enforced lists the fields the provider enforces.
	Enforced []string `json:"enforced,omitempty"`
}

func actionsFrom(m *merged) ActionsDecision {
	b, _ := m.value(FieldAllow).(ast.Boolean)
	return ActionsDecision{Allow: bool(b), Reasons: stringsOf(m.value(FieldReasons)), Enforced: m.enforcedNames()}
}

func (d ActionsDecision) summary(a Action) string {
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	s := fmt.Sprintf("%s %s step %s/%s", verdict, orDash(string(a.Type)), orDash(a.Runbook), orDash(a.Step))
	if len(d.Reasons) > 0 {
		s += ": " + strings.Join(d.Reasons, "; ")
	}
	return s
}

// AdmissionDecision lists what the layers say about a manifest: any Deny
// message rejects it; Warnings go back to the client without rejecting.
type AdmissionDecision struct {
	// Deny messages from every layer, sorted.
	Deny []string `json:"deny,omitempty"`
	// Warnings from every layer, sorted.
	Warnings []string `json:"warnings,omitempty"`
}

func admissionFrom(m *merged) AdmissionDecision {
	return AdmissionDecision{Deny: stringsOf(m.value(FieldDeny)), Warnings: stringsOf(m.value(FieldWarn))}
}

func (d AdmissionDecision) summary(in AdmissionInput) string {
	s := fmt.Sprintf("%s %s: deny=%d warn=%d", orDash(in.Operation), orDash(in.Kind), len(d.Deny), len(d.Warnings))
	if len(d.Deny) > 0 {
		s += ": " + strings.Join(d.Deny, "; ")
	}
	return s
}

// RedactDecision lists what the post-mortem record must mask beyond what
// the record writer always masks.
type RedactDecision struct {
	// Patterns are RE2 regular expressions; every match in every string of
	// the record is masked. Sorted.
	Patterns []string `json:"patterns,omitempty"`
	// Fields are dotted paths into the incident (spec.description,
	// spec.source.labels.user_email) whose values are masked. Sorted.
	Fields []string `json:"fields,omitempty"`
}

func redactFrom(m *merged) RedactDecision {
	return RedactDecision{Patterns: stringsOf(m.value(FieldPatterns)), Fields: stringsOf(m.value(FieldFields))}
}

func (d RedactDecision) summary() string {
	return fmt.Sprintf("patterns=%d fields=%d", len(d.Patterns), len(d.Fields))
}

func stringOf(v ast.Value) string {
	if s, ok := v.(ast.String); ok {
		return string(s)
	}
	return ""
}

func orDash(s string) string {
	if s == "" || s == "0" {
		return "-"
	}
	return s
}

func itoa(i int) string { return fmt.Sprint(i) }
