package policy

// Point is a decision point: the Rego package data.klaxon.<point> decides it.
type Point string

// Decision points. DESIGN.md names the first five; redact serves the
// post-mortem record.
const (
	// PointTriage decides severity, category, service, escalation policy,
	// stakeholder groups and runbooks of an incident.
	PointTriage Point = "triage"
	// PointEscalation changes the escalation plan: where it starts, and
	// deadlines such as a regulator's.
	PointEscalation Point = "escalation"
	// PointNotify decides which candidate groups hear an event.
	PointNotify Point = "notify"
	// PointActions decides whether an automated runbook action may run.
	PointActions Point = "actions"
	// PointAdmission lists messages that reject (or warn about) a manifest.
	PointAdmission Point = "admission"
	// PointRedact lists what to mask in a post-mortem record.
	PointRedact Point = "redact"
)

// numPoints sizes the per-point arrays of a compiled policy.
const numPoints = 6

// points lists every decision point in index order.
var points = [numPoints]Point{PointTriage, PointEscalation, PointNotify, PointActions, PointAdmission, PointRedact}

// index is the point's position in points, or -1.
func (p Point) index() int {
	for i, q := range points {
		if q == p {
			return i
		}
	}
	return -1
}

// Output field names, as Rego rules name them. TriageDecision.Enforced and
// the other Enforced lists hold these names.
const (
	FieldSeverity          = "severity"
	FieldCategory          = "category"
	FieldService           = "service"
	FieldEscalationPolicy  = "escalation_policy"
	FieldStakeholderGroups = "stakeholder_groups"
	FieldRunbooks          = "runbooks"
	FieldStartLevel        = "start_level"
	FieldDeadlines         = "deadlines"
	FieldGroups            = "groups"
	FieldAllow             = "allow"
	FieldReasons           = "reasons"
	FieldDeny              = "deny"
	FieldWarn              = "warn"
	FieldPatterns          = "patterns"
	FieldFields            = "fields"
	// FieldEnforced is the provider's list of fields tenants may not change.
	FieldEnforced = "enforced"
)
