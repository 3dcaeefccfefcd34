# Benchmark fixture: a managed-service provider's routing policy of about 100
# rules over a 200-entry service map and its tables (services.json, read as
# data.klaxon.config). It has what real routing policies have: keyword scans
# over the title, description and the alert's labels and annotations, lookups
# in the service map, several partial sets, glob matches on host and alert
# names, and many per-alert rules.
#
# It is written the way policies/README.md ("Writing fast policies")
# recommends, since every rule evaluation and builtin call costs microseconds:
#   - input is read through imports, never copied into rules first;
#   - keywords are found by one klaxon.keywords call, not by a rule per keyword,
#     and what the rules need to know of a keyword (its rank, its category,
#     whether it raises the severity) is in the table's entry;
#   - the service map, aliases, host patterns and tables are looked up by key,
#     never iterated;
#   - per-alert rules compare an input field with a constant, or test its
#     prefix or suffix (startswith, endswith), which OPA indexes: of the 70 or
#     so, only those for the incident's alert run;
#   - a value several rules need (the service, its entry, the rank) is a
#     complete rule, computed once;
#   - min of nothing is undefined, so "no signal" needs no count.
package klaxon.triage

import data.klaxon.config
import input.incident.spec
import input.incident.spec.source.labels

# --- keywords -----------------------------------------------------------------------

found := klaxon.keywords(config.keywords, [
	spec.title,
	object.get(spec, "description", ""),
	object.get(spec, "source", {}),
])

# --- service --------------------------------------------------------------------------

# The service label, an app alias, a host pattern (filed under the host's
# first segment, so only patterns that can match are tried), the namespace,
# or the incident's own.
service := labels.service if {
	config.services[labels.service]
} else := s if {
	s := config.apps[labels.app]
} else := p.service if {
	host := split(labels.instance, ":")[0]
	some p in config.host_patterns[split(host, "-")[0]]
	glob.match(p.glob, ["."], host)
} else := s if {
	startswith(labels.namespace, "svc-")
	s := substring(labels.namespace, 4, -1)
	config.services[s]
} else := spec.service

svc := config.services[service]

team := t if {
	t := svc.team
} else := labels.team

# --- severity -------------------------------------------------------------------------

stated contains config.label_severity[lower(labels.severity)]

stated contains config.label_severity[lower(labels.priority)]

stated contains {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4, "SEV5": 5}[spec.source.suggestedSeverity]

# Per-alert ranks (indexed: labels.alertname is input).
stated contains 1 if labels.alertname == "KubeAPIDown"

stated contains 1 if labels.alertname == "EtcdNoLeader"

stated contains 1 if labels.alertname == "EtcdInsufficientMembers"

stated contains 1 if labels.alertname == "PaymentsGatewayDown"

stated contains 1 if labels.alertname == "DatabaseUnavailable"

stated contains 1 if labels.alertname == "StorageClusterDegraded"

stated contains 2 if labels.alertname == "KubeNodeNotReady"

stated contains 2 if labels.alertname == "CertificateExpired"

stated contains 2 if labels.alertname == "QueueBacklogCritical"

stated contains 2 if labels.alertname == "SuspiciousLogin"

stated contains 2 if labels.alertname == "BackupFailed"

stated contains 2 if labels.alertname == "DNSResolutionFailing"

stated contains 3 if labels.alertname == "KubePodCrashLooping"

stated contains 3 if labels.alertname == "HighErrorRate"

stated contains 3 if labels.alertname == "CertificateExpiringSoon"

stated contains 3 if labels.alertname == "ReplicationLag"

stated contains 3 if labels.alertname == "ApdexLow"

stated contains 3 if labels.alertname == "KubeJobFailed"

stated contains 4 if labels.alertname == "KubeHpaMaxedOut"

stated contains 4 if labels.alertname == "DiskSpaceLow"

stated contains 4 if labels.alertname == "QueueDepthWarning"

stated contains 4 if labels.alertname == "NodeClockSkew"

stated contains 5 if labels.alertname == "Watchdog"

stated contains 5 if labels.alertname == "InfoInhibitor"

# Families of alerts. A suffix or prefix test is indexed like an equality;
# a glob with a wildcard inside a segment is not, and runs every time.
stated contains 2 if endswith(labels.alertname, "Down")

stated contains 3 if glob.match("*Latency*", [], labels.alertname)

stated contains 4 if endswith(labels.alertname, "Warning")

# Keyword ranks: all of them when the alert states nothing; otherwise only
# security and data-breach ones (raises), which raise the severity over the
# alert's.
keyword_ranks contains k.rank if {
	stated == set()
	some k in found
}

keyword_ranks contains k.rank if {
	some k in found
	k.raises
}

# The most severe signal; 3 when nothing says anything.
base_rank := r if {
	r := min(stated | keyword_ranks)
} else := 3

# Tier-1 services are one step more severe, non-production ones one step less.
final_rank := max([1, min([5, (base_rank - tier_one) + object.get(config.env_adjust, labels.env, 0)])])

tier_one := 1 if {
	svc.tier == 1
} else := 0

severity := ["", "SEV1", "SEV2", "SEV3", "SEV4", "SEV5"][final_rank]

# --- category ---------------------------------------------------------------------------

categories contains k.category if some k in found

categories contains "availability" if endswith(labels.alertname, "Down")

categories contains "performance" if glob.match("*Latency*", [], labels.alertname)

categories contains "certificates" if startswith(labels.alertname, "Certificate")

categories contains "capacity" if labels.alertname == "DiskSpaceLow"

categories contains "capacity" if labels.alertname == "KubeHpaMaxedOut"

categories contains "capacity" if labels.alertname == "QueueBacklogCritical"

categories contains "capacity" if labels.alertname == "QueueDepthWarning"

categories contains "availability" if labels.alertname == "KubePodCrashLooping"

categories contains "availability" if labels.alertname == "KubeNodeNotReady"

categories contains "availability" if labels.alertname == "KubeJobFailed"

categories contains "availability" if labels.alertname == "BackupFailed"

categories contains "availability" if labels.alertname == "DNSResolutionFailing"

categories contains "performance" if labels.alertname == "ApdexLow"

categories contains "performance" if labels.alertname == "ReplicationLag"

categories contains "security" if labels.alertname == "FalcoAlert"

categories contains "security" if labels.alertname == "SuspiciousLogin"

categories contains "security" if labels.alertname == "ImageVulnerabilityCritical"

# A category label the table knows wins; otherwise the best-ranked category
# (the least [rank, category] pair).
category := labels.category if {
	config.category_rank[labels.category]
} else := min({[config.category_rank[c], c] | some c in categories})[1]

# --- escalation policy -----------------------------------------------------------------------

escalation_policy := "major-incident" if {
	final_rank == 1
} else := p if {
	p := svc.escalation_policy
} else := p if {
	p := config.teams[team].escalation_policy
} else := "noc-default"

# --- stakeholder groups ------------------------------------------------------------------------

stakeholder_groups contains g if some g in config.teams[team].groups

stakeholder_groups contains g if some g in config.category_groups[category]

stakeholder_groups contains g if some g in config.region_groups[split(labels.region, "-")[0]]

stakeholder_groups contains config.teams[team].managers if final_rank <= 2

stakeholder_groups contains "executives" if final_rank == 1

stakeholder_groups contains g if {
	final_rank <= 2
	customer_facing
	some g in ["customers", "status-page"]
}

customer_facing if svc.customer_facing

customer_facing if spec.customer != ""

customer_facing if labels.customer_impact == "true"

# Per-alert groups (indexed).
stakeholder_groups contains "platform-oncall" if labels.alertname == "KubeAPIDown"

stakeholder_groups contains "platform-oncall" if labels.alertname == "EtcdNoLeader"

stakeholder_groups contains "dba" if labels.alertname == "DatabaseUnavailable"

stakeholder_groups contains "dba" if labels.alertname == "ReplicationLag"

stakeholder_groups contains "payments-partners" if labels.alertname == "PaymentsGatewayDown"

stakeholder_groups contains "storage-vendor" if labels.alertname == "StorageClusterDegraded"

# --- runbooks -----------------------------------------------------------------------------------

runbooks contains r if some r in svc.runbooks

runbooks contains r if some r in config.category_runbooks[category]

runbooks contains "failover" if {
	final_rank == 1
	svc.tier == 1
}

runbooks contains "k8s-basics" if startswith(labels.alertname, "Kube")

# Per-alert runbooks (indexed).
runbooks contains "etcd-recovery" if labels.alertname == "EtcdNoLeader"

runbooks contains "etcd-recovery" if labels.alertname == "EtcdInsufficientMembers"

runbooks contains "node-drain" if labels.alertname == "KubeNodeNotReady"

runbooks contains "db-failover" if labels.alertname == "DatabaseUnavailable"

runbooks contains "replication-resync" if labels.alertname == "ReplicationLag"

runbooks contains "queue-drain" if labels.alertname == "QueueBacklogCritical"

runbooks contains "backup-rerun" if labels.alertname == "BackupFailed"

runbooks contains "dns-check" if labels.alertname == "DNSResolutionFailing"

runbooks contains "clock-sync" if labels.alertname == "NodeClockSkew"

runbooks contains "gateway-failover" if labels.alertname == "PaymentsGatewayDown"

runbooks contains "storage-escalation" if labels.alertname == "StorageClusterDegraded"

runbooks contains "falco-triage" if labels.alertname == "FalcoAlert"

runbooks contains "account-lockdown" if labels.alertname == "SuspiciousLogin"

runbooks contains "image-rebuild" if labels.alertname == "ImageVulnerabilityCritical"
