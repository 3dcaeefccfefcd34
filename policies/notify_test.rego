package klaxon.notify_test

import data.klaxon.notify

group(name, audience) := {"key": concat("/", ["acme", name]), "namespace": "acme", "name": name, "audience": audience, "notifyOn": ["Triggered", "Resolved"]}

customers := group("customers", "customers")

executives := group("executives", "executives")

responders := group("oncall", "responders")

inc(severity, spec) := {"metadata": {"name": "i", "namespace": "acme"}, "spec": object.union({"title": "t"}, spec), "status": {"severity": severity}}

decide(incident, event, g) := d if {
	d := notify.groups[g.key] with input as {"incident": incident, "event": event, "groups": [g], "tenant": "acme"}
}

test_every_candidate_gets_an_entry if {
	gs := notify.groups with input as {"incident": inc("SEV4", {}), "event": "Triggered", "groups": [customers, executives, responders]}
	count(gs) == 3
}

test_customers_hear_customer_impacting_sev1_and_sev2 if {
	decide(inc("SEV1", {"customer": "globex"}), "Triggered", customers).notify == true
	decide(inc("SEV2", {"customer": "globex"}), "Triggered", customers).notify == true
}

test_customers_do_not_hear_sev3 if {
	d := decide(inc("SEV3", {"customer": "globex"}), "Triggered", customers)
	d.notify == false
	contains(d.reason, "customer-impacting SEV1 and SEV2")
}

test_customers_do_not_hear_internal_incidents if {
	decide(inc("SEV1", {}), "Triggered", customers).notify == false
}

test_customer_impact_from_labels if {
	labelled := object.union(inc("SEV1", {}), {"metadata": {"labels": {"klaxon.dev/customer-impact": "true"}}})
	decide(labelled, "Triggered", customers).notify == true
	alerted := inc("SEV2", {"source": {"labels": {"customer_impact": "Yes"}}})
	decide(alerted, "Triggered", customers).notify == true
	not_impacting := inc("SEV2", {"source": {"labels": {"customer_impact": "false"}}})
	decide(not_impacting, "Triggered", customers).notify == false
}

test_executives_hear_sev1_only if {
	decide(inc("SEV1", {}), "Triggered", executives).notify == true
	decide(inc("SEV2", {}), "Triggered", executives).notify == false
}

test_spec_severity_when_status_is_empty if {
	i := {"spec": {"title": "t", "severity": "SEV1"}}
	decide(i, "Triggered", executives).notify == true
}

test_notify_on_filters_events if {
	decide(inc("SEV1", {}), "Acknowledged", executives).notify == false
	g := object.union(responders, {"notifyOn": ["Acknowledged"]})
	decide(inc("SEV4", {}), "Acknowledged", g).notify == true
}

test_empty_notify_on_means_triggered_and_resolved if {
	g := object.remove(responders, ["notifyOn"])
	decide(inc("SEV4", {}), "Resolved", g).notify == true
	decide(inc("SEV4", {}), "Escalated", g).notify == false
}

test_min_severity if {
	g := object.union(responders, {"minSeverity": "SEV2"})
	decide(inc("SEV2", {}), "Triggered", g).notify == true
	d := decide(inc("SEV3", {}), "Triggered", g)
	d.notify == false
	d.reason == "SEV3 is below the group's minimum severity SEV2"
}

test_categories if {
	g := object.union(responders, {"categories": ["security"]})
	decide(object.union(inc("SEV3", {}), {"status": {"category": "security"}}), "Triggered", g).notify == true
	decide(object.union(inc("SEV3", {}), {"status": {"category": "availability"}}), "Triggered", g).notify == false
	decide(inc("SEV3", {}), "Triggered", g).notify == false
}

test_notified_groups_hear_the_resolution if {
	g := object.union(customers, {"notified": true})
	decide(inc("SEV3", {"customer": "globex"}), "Resolved", g).notify == true
}

test_other_audiences_follow_their_filters if {
	decide(inc("SEV5", {}), "Triggered", responders).notify == true
}
