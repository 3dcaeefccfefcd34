package klaxon.escalation_test

import data.klaxon.escalation

breach := {
	"incident": {
		"metadata": {"name": "i", "namespace": "acme", "creationTimestamp": "2026-03-01T09:00:00Z"},
		"spec": {"title": "Customer records exposed", "category": "data-breach"},
		"status": {"severity": "SEV1", "triggeredAt": "2026-03-01T10:15:00Z"},
	},
	"now": "2026-03-01T11:00:00Z",
}

test_data_breach_gets_a_72_hour_deadline if {
	d := escalation.deadlines["regulator-notification"] with input as breach
	d.at == "2026-03-04T10:15:00Z"
	contains(d.description, "72 hours")
}

test_deadline_counts_from_creation_before_triage if {
	i := json.remove(breach, ["incident/status/triggeredAt"])
	d := escalation.deadlines["regulator-notification"] with input as i
	d.at == "2026-03-04T09:00:00Z"
}

test_deadline_counts_from_now_without_timestamps if {
	i := json.remove(breach, ["incident/status/triggeredAt", "incident/metadata/creationTimestamp"])
	d := escalation.deadlines["regulator-notification"] with input as i
	d.at == "2026-03-04T11:00:00Z"
}

test_triage_category_counts if {
	i := json.patch(breach, [
		{"op": "remove", "path": "/incident/spec/category"},
		{"op": "add", "path": "/incident/status/category", "value": "data-breach"},
	])
	escalation.deadlines["regulator-notification"] with input as i
}

test_other_categories_get_no_deadline if {
	i := json.patch(breach, [{"op": "replace", "path": "/incident/spec/category", "value": "security"}])
	count(escalation.deadlines) == 0 with input as i
}

test_sev1_does_not_skip_levels_by_default if {
	not escalation.start_level with input as breach
}
