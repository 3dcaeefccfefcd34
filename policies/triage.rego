# Built-in triage: severity, category, service and stakeholder groups from the
# alert's labels and the words of the title and description.
#
# Outputs (see README.md, "triage"): severity, category, service,
# stakeholder_groups. escalation_policy and runbooks are left to the provider
# and the tenant: the built-in library knows no names for them.
#
# Every decision evaluates this module, so it is written for speed (README.md,
# "Writing fast policies"): input is read through imports, not copied into
# rules; tables are looked up by key; keywords are found by one builtin call.
package klaxon.triage

import input.incident.spec
import input.incident.spec.source.labels

# Keywords with the severity rank they suggest and the category they point to.
keywords := {
	"data breach": {"rank": 1, "category": "data-breach"},
	"data leak": {"rank": 1, "category": "data-breach"},
	"exfiltration": {"rank": 1, "category": "data-breach"},
	"exfiltrated": {"rank": 1, "category": "data-breach"},
	"personal data": {"rank": 2, "category": "data-breach"},
	"pii": {"rank": 2, "category": "data-breach"},
	"gdpr": {"rank": 2, "category": "data-breach"},
	"ransomware": {"rank": 1, "category": "security"},
	"compromised": {"rank": 1, "category": "security"},
	"intrusion": {"rank": 1, "category": "security"},
	"malware": {"rank": 2, "category": "security"},
	"unauthorized access": {"rank": 2, "category": "security"},
	"phishing": {"rank": 2, "category": "security"},
	"brute force": {"rank": 2, "category": "security"},
	"ddos": {"rank": 2, "category": "security"},
	"vulnerability": {"rank": 3, "category": "security"},
	"cve": {"rank": 3, "category": "security"},
	"outage": {"rank": 1, "category": "availability"},
	"down": {"rank": 2, "category": "availability"},
	"unavailable": {"rank": 2, "category": "availability"},
	"unreachable": {"rank": 2, "category": "availability"},
	"degraded": {"rank": 3, "category": "availability"},
	"crashloopbackoff": {"rank": 3, "category": "availability"},
	"5xx": {"rank": 3, "category": "availability"},
	"latency": {"rank": 3, "category": "performance"},
	"slow": {"rank": 3, "category": "performance"},
	"timeout": {"rank": 3, "category": "performance"},
	"timeouts": {"rank": 3, "category": "performance"},
	"saturation": {"rank": 4, "category": "performance"},
}

# The keywords in the title and description, as whole words in any case
# ("Data-Breach!" matches "data breach", "download" does not match "down").
found := klaxon.keywords(keywords, [object.get(spec, "title", ""), object.get(spec, "description", "")])

# Ranks the alert states outright: its severity and priority labels (values
# monitoring tools use, by rank) and the severity intake suggests.
label_rank := {
	"critical": 1, "crit": 1, "emergency": 1, "fatal": 1, "p1": 1, "sev1": 1, "disaster": 1,
	"high": 2, "major": 2, "error": 2, "p2": 2, "sev2": 2,
	"warning": 3, "warn": 3, "medium": 3, "moderate": 3, "average": 3, "p3": 3, "sev3": 3,
	"low": 4, "minor": 4, "p4": 4, "sev4": 4,
	"info": 5, "informational": 5, "information": 5, "notice": 5, "none": 5, "ok": 5, "p5": 5, "sev5": 5,
}

stated contains label_rank[lower(labels.severity)]

stated contains label_rank[lower(labels.priority)]

stated contains {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4, "SEV5": 5}[spec.source.suggestedSeverity]

# Ranks suggested by keywords: all of them when the alert states nothing;
# otherwise only security and data-breach keywords, which raise the severity
# over the alert's own labels: a monitor cannot know that what it saw is a
# breach.
suggested contains k.rank if {
	count(stated) == 0
	some k in found
}

suggested contains k.rank if {
	some k in found
	k.category in {"security", "data-breach"}
}

# The most severe signal wins; SEV3 when nothing says anything.
severity := ["", "SEV1", "SEV2", "SEV3", "SEV4", "SEV5"][min(stated | suggested)] if {
	count(found) + count(stated) > 0
} else := "SEV3"

# A valid `category` label wins; otherwise the matched keyword category first
# in the order data-breach, security, availability, performance.
category := c if {
	c := labels.category
	regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, c)
} else := ["", "data-breach", "security", "availability", "performance"][min(ranks)] if {
	ranks := {{"data-breach": 1, "security": 2, "availability": 3, "performance": 4}[k.category] | some k in found}
	count(ranks) > 0
}

# The service label names the service; app and app_kubernetes_io_name are
# what Kubernetes workloads usually carry instead.
service := s if {
	s := labels.service
	s != ""
} else := s if {
	s := labels.app
	s != ""
} else := s if {
	s := labels.app_kubernetes_io_name
	s != ""
}

# Security and data-breach incidents go to the stakeholder groups named
# `security` and `legal`. These are names, not objects: the provider (or the
# tenant) defines StakeholderGroups with these names; a name resolves in the
# incident's namespace first, then in the provider's. The human's
# spec.category, when set, decides the routing over ours.
stakeholder_groups := {"security", "legal"} if {
	object.get(spec, "category", "") in {"security", "data-breach"}
} else := {"security", "legal"} if {
	object.get(spec, "category", "") == ""
	category in {"security", "data-breach"}
}
