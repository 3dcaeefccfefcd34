package klaxon.triage_test

import data.klaxon.triage

incident(spec) := {"incident": {"metadata": {"name": "i", "namespace": "acme"}, "spec": spec}}

alert(title, labels) := incident({"title": title, "source": {"kind": "AlertSource", "labels": labels}})

test_severity_from_severity_label if {
	triage.severity == "SEV1" with input as alert("Disk full", {"severity": "critical"})
	triage.severity == "SEV2" with input as alert("Disk full", {"severity": "HIGH"})
	triage.severity == "SEV3" with input as alert("Disk full", {"severity": "warning"})
	triage.severity == "SEV4" with input as alert("Disk full", {"severity": "low"})
	triage.severity == "SEV5" with input as alert("Disk full", {"severity": "info"})
}

test_severity_from_priority_label if {
	triage.severity == "SEV1" with input as alert("Disk full", {"priority": "P1"})
	triage.severity == "SEV4" with input as alert("Disk full", {"priority": "p4"})
}

test_most_severe_label_wins if {
	triage.severity == "SEV2" with input as alert("Disk full", {"severity": "warning", "priority": "p2"})
}

test_suggested_severity if {
	triage.severity == "SEV2" with input as incident({"title": "x", "source": {"suggestedSeverity": "SEV2"}})
}

test_unknown_label_value_is_ignored if {
	triage.severity == "SEV3" with input as alert("Disk full", {"severity": "purple"})
}

test_default_severity_is_sev3 if {
	triage.severity == "SEV3" with input as incident({"title": "Something odd"})
}

test_keywords_set_severity_when_labels_are_silent if {
	triage.severity == "SEV1" with input as incident({"title": "Checkout outage in eu-west"})
	triage.severity == "SEV2" with input as incident({"title": "API is down"})
	triage.severity == "SEV3" with input as incident({"title": "High latency on search"})
}

test_keywords_match_whole_words if {
	triage.severity == "SEV3" with input as incident({"title": "Download page shows a shutdown banner"})
	not triage.category with input as incident({"title": "Download page shows a shutdown banner"})
}

test_keywords_in_description if {
	triage.severity == "SEV1" with input as incident({"title": "Customer report", "description": "Possible DATA-BREACH: records exfiltrated."})
	triage.category == "data-breach" with input as incident({"title": "Customer report", "description": "Possible DATA-BREACH: records exfiltrated."})
}

test_labels_win_over_availability_keywords if {
	triage.severity == "SEV4" with input as alert("Staging API down", {"severity": "low"})
}

test_security_keywords_raise_over_labels if {
	triage.severity == "SEV1" with input as alert("Ransomware signature on fileserver", {"severity": "info"})
	triage.severity == "SEV2" with input as alert("Phishing campaign reported", {"severity": "low"})
}

test_security_keywords_never_lower if {
	triage.severity == "SEV1" with input as alert("CVE published for nginx", {"severity": "critical"})
}

test_category_from_keywords_by_rank if {
	triage.category == "data-breach" with input as incident({"title": "Ransomware and data breach"})
	triage.category == "security" with input as incident({"title": "Ransomware caused an outage"})
	triage.category == "availability" with input as incident({"title": "Outage with high latency"})
	triage.category == "performance" with input as incident({"title": "Slow responses"})
}

test_category_label_wins if {
	triage.category == "performance" with input as alert("Outage of the batch", {"category": "performance"})
}

test_invalid_category_label_falls_back_to_keywords if {
	triage.category == "availability" with input as alert("Outage", {"category": "Not Valid!"})
}

test_service_from_labels if {
	triage.service == "payments" with input as alert("x", {"service": "payments", "app": "api"})
	triage.service == "api" with input as alert("x", {"app": "api"})
	triage.service == "web" with input as alert("x", {"app_kubernetes_io_name": "web"})
	not triage.service with input as alert("x", {})
}

test_security_routes_to_security_and_legal if {
	triage.stakeholder_groups == {"security", "legal"} with input as incident({"title": "Malware on a laptop"})
	triage.stakeholder_groups == {"security", "legal"} with input as incident({"title": "Data breach"})
}

test_human_category_routes if {
	triage.stakeholder_groups == {"security", "legal"} with input as incident({"title": "Odd logins", "category": "security"})
	not triage.stakeholder_groups with input as incident({"title": "Malware alert (false positive)", "category": "availability"})
}

test_availability_routes_nowhere_by_default if {
	not triage.stakeholder_groups with input as incident({"title": "Outage"})
}

test_no_escalation_policy_or_runbooks_by_default if {
	not triage.escalation_policy with input as incident({"title": "Outage"})
	not triage.runbooks with input as incident({"title": "Outage"})
}
