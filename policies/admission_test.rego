package klaxon.admission_test

import data.klaxon.admission

policy(delay) := {"operation": "CREATE", "object": {
	"apiVersion": "klaxon.dev/v1alpha1", "kind": "EscalationPolicy",
	"metadata": {"name": "ep", "namespace": "acme"},
	"spec": {"levels": [{"delay": delay, "targets": [{"kind": "Responder", "name": "ann"}]}]},
}}

test_nothing_is_denied if {
	count(admission.deny) == 0 with input as policy("2h")
	count(admission.deny) == 0 with input as {"object": {"kind": "Incident", "spec": {"title": "x"}}}
}

test_slow_first_level_warns if {
	admission.warn == {"the first escalation level waits 1h30m before paging anyone; a new incident stays unpaged that long"} with input as policy("1h30m")
}

test_first_level_within_an_hour_does_not_warn if {
	count(admission.warn) == 0 with input as policy("1h")
	count(admission.warn) == 0 with input as policy("0s")
}
