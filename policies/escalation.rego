# Built-in escalation changes: deadlines the response must meet.
#
# Outputs (see README.md, "escalation"): deadlines, an object keyed by
# deadline name with {"at": RFC 3339 time, "description": string}; and
# start_level, which the built-in library leaves alone: paging a SEV1 straight
# at level 2 skips the first responder, and only the provider knows whether
# its level 1 is a person who can act. A provider opts in with its own rule
# (README.md shows it).
package klaxon.escalation

hour_ns := 3600000000000

category := c if {
	c := input.incident.status.category
	c != ""
} else := c if {
	c := input.incident.spec.category
	c != ""
}

# When the response started: the controller's triggeredAt, else the object's
# creation, else the decision's own time.
triggered_at := t if {
	t := input.incident.status.triggeredAt
	t != ""
} else := t if {
	t := input.incident.metadata.creationTimestamp
	t != ""
} else := input.now

# A personal-data breach must be reported to the supervisory authority within
# 72 hours of becoming aware of it (GDPR Art. 33 and similar laws).
deadlines["regulator-notification"] := {
	"at": time.format(time.parse_rfc3339_ns(triggered_at) + 72 * hour_ns),
	"description": "Notify the supervisory authority of the personal-data breach within 72 hours of becoming aware of it (GDPR Art. 33)",
} if category == "data-breach"
