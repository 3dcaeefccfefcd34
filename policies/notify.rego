# Built-in notification rules: who hears which event.
#
# Output (see README.md, "notify"): groups, an object keyed by each candidate
# group's key ("namespace/name") with {"notify": bool, "reason": string}.
# Every candidate group gets an entry, so a later layer only needs to decide
# the groups it cares about.
package klaxon.notify

severity_rank := {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4, "SEV5": 5}

# The severity in effect: status (triage's or the human's) first, then spec.
severity := s if {
	s := input.incident.status.severity
	s != ""
} else := s if {
	s := input.incident.spec.severity
	s != ""
}

# An incident of unknown severity counts as SEV3, triage's own default.
rank := object.get(severity_rank, severity, 3)

# Absent values read as empty, so that `not` below means "not so" and not
# "not known".
category := c if {
	c := input.incident.status.category
	c != ""
} else := c if {
	c := input.incident.spec.category
	c != ""
} else := ""

event := object.get(input, "event", "")

# An incident is customer-impacting when it names a customer, when the
# Incident is labelled klaxon.dev/customer-impact=true, or when the alert's
# customer_impact label says true or yes.
customer_impacting if input.incident.spec.customer != ""

customer_impacting if input.incident.metadata.labels["klaxon.dev/customer-impact"] == "true"

customer_impacting if lower(input.incident.spec.source.labels.customer_impact) in {"true", "yes"}

# Events a group hears when its notifyOn is empty: the CRD's own default.
default_events := ["Triggered", "Resolved"]

events(g) := e if {
	e := g.notifyOn
	count(e) > 0
} else := default_events

groups[g.key] := decide(g) if some g in input.groups

# The first rule that refuses decides; a group that passes them all hears it.
# A group already notified about this incident keeps hearing about it (its
# resolution above all) even when the severity dropped since.
decide(g) := {"notify": false, "reason": sprintf("the group does not subscribe to %s", [event])} if {
	not event in events(g)
} else := {"notify": true, "reason": "the group was notified about this incident before"} if {
	g.notified == true
} else := {"notify": false, "reason": "customers hear only customer-impacting SEV1 and SEV2 incidents"} if {
	g.audience == "customers"
	not customer_facing
} else := {"notify": false, "reason": "executives hear only SEV1 incidents"} if {
	g.audience == "executives"
	rank > 1
} else := {"notify": false, "reason": sprintf("%s is below the group's minimum severity %s", [severity_label, g.minSeverity])} if {
	min := severity_rank[g.minSeverity]
	rank > min
} else := {"notify": false, "reason": sprintf("the group does not hear %s incidents", [category_label])} if {
	count(object.get(g, "categories", [])) > 0
	not category in g.categories
} else := {"notify": true, "reason": "the group's filters match"}

customer_facing if {
	customer_impacting
	rank <= 2
}

severity_label := s if {
	s := severity
} else := "an incident of unknown severity"

category_label := c if {
	c := category
	c != ""
} else := "uncategorised"
