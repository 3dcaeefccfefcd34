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

# The keywords in the title and description, as whole words in any case
# ("Data-Breach!" matches "data breach", "download" does not match "down").
# object.filter hands both strings over in one call; a missing description
# is simply not there.
#
# The table: the severity rank each keyword suggests, the category it points
# to, and that category's order (data-breach, security, availability,
# performance). raises marks security and data-breach keywords, which raise
# the severity over the alert's own labels: a monitor cannot know that what it
# saw is a breach. It is written in the call, not as a rule of its own: a rule
# is evaluated once per decision, a constant in an expression is not
# evaluated at all.
found := klaxon.keywords(
	{
		"data breach": {"rank": 1, "category": "data-breach", "order": 1, "raises": true},
		"data leak": {"rank": 1, "category": "data-breach", "order": 1, "raises": true},
		"exfiltration": {"rank": 1, "category": "data-breach", "order": 1, "raises": true},
		"exfiltrated": {"rank": 1, "category": "data-breach", "order": 1, "raises": true},
		"personal data": {"rank": 2, "category": "data-breach", "order": 1, "raises": true},
		"pii": {"rank": 2, "category": "data-breach", "order": 1, "raises": true},
		"gdpr": {"rank": 2, "category": "data-breach", "order": 1, "raises": true},
		"ransomware": {"rank": 1, "category": "security", "order": 2, "raises": true},
		"compromised": {"rank": 1, "category": "security", "order": 2, "raises": true},
		"intrusion": {"rank": 1, "category": "security", "order": 2, "raises": true},
		"malware": {"rank": 2, "category": "security", "order": 2, "raises": true},
		"unauthorized access": {"rank": 2, "category": "security", "order": 2, "raises": true},
		"phishing": {"rank": 2, "category": "security", "order": 2, "raises": true},
		"brute force": {"rank": 2, "category": "security", "order": 2, "raises": true},
		"ddos": {"rank": 2, "category": "security", "order": 2, "raises": true},
		"vulnerability": {"rank": 3, "category": "security", "order": 2, "raises": true},
		"cve": {"rank": 3, "category": "security", "order": 2, "raises": true},
		"outage": {"rank": 1, "category": "availability", "order": 3, "raises": false},
		"down": {"rank": 2, "category": "availability", "order": 3, "raises": false},
		"unavailable": {"rank": 2, "category": "availability", "order": 3, "raises": false},
		"unreachable": {"rank": 2, "category": "availability", "order": 3, "raises": false},
		"degraded": {"rank": 3, "category": "availability", "order": 3, "raises": false},
		"crashloopbackoff": {"rank": 3, "category": "availability", "order": 3, "raises": false},
		"5xx": {"rank": 3, "category": "availability", "order": 3, "raises": false},
		"latency": {"rank": 3, "category": "performance", "order": 4, "raises": false},
		"slow": {"rank": 3, "category": "performance", "order": 4, "raises": false},
		"timeout": {"rank": 3, "category": "performance", "order": 4, "raises": false},
		"timeouts": {"rank": 3, "category": "performance", "order": 4, "raises": false},
		"saturation": {"rank": 4, "category": "performance", "order": 4, "raises": false},
	},
	object.filter(spec, {"title", "description"}),
)

# Ranks the alert states outright: its severity and priority labels (values
# monitoring tools use, by rank) and the severity intake suggests.
stated contains rank if {
	some label in ["severity", "priority"]
	rank := {
		"critical": 1, "crit": 1, "emergency": 1, "fatal": 1, "p1": 1, "sev1": 1, "disaster": 1,
		"high": 2, "major": 2, "error": 2, "p2": 2, "sev2": 2,
		"warning": 3, "warn": 3, "medium": 3, "moderate": 3, "average": 3, "p3": 3, "sev3": 3,
		"low": 4, "minor": 4, "p4": 4, "sev4": 4,
		"info": 5, "informational": 5, "information": 5, "notice": 5, "none": 5, "ok": 5, "p5": 5, "sev5": 5,
	}[lower(labels[label])]
}

stated contains {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4, "SEV5": 5}[spec.source.suggestedSeverity]

# Ranks suggested by keywords: all of them when the alert states nothing;
# otherwise only the ones that raise.
suggested contains k.rank if {
	stated == set()
	some k in found
}

suggested contains k.rank if {
	some k in found
	k.raises
}

# The most severe signal wins; SEV3 when nothing says anything (min of
# nothing is undefined).
severity := s if {
	s := ["", "SEV1", "SEV2", "SEV3", "SEV4", "SEV5"][min(stated | suggested)]
} else := "SEV3"

# A valid `category` label wins; otherwise the matched keywords' category
# that comes first in the order data-breach, security, availability,
# performance.
category := c if {
	c := labels.category
	regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, c)
} else := ["", "data-breach", "security", "availability", "performance"][min({k.order | some k in found})]

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
