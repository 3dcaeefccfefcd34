# Built-in gate for automated runbook actions: actions that change objects in the
# cluster are denied unless a provider or tenant policy allows them.
#
# Outputs (see README.md, "actions"): allow (bool) and reasons (set of
# strings).
#
# Denied by default: every kubernetes action (scale, patch, label, annotate:
# each changes a workload or how a NetworkPolicy selects it), and any action
# type this library does not know. Allowed: notify, setStage, and webhook (a
# signed call to automation the tenant runs and authorises itself; Klaxon
# changes nothing). A dry run has no effect and is always allowed.
package klaxon.actions

action := object.get(input, "action", {})

safe_types := {"webhook", "notify", "setStage"}

# Absent members read as empty, so that `not` below means "not so" and not
# "not known".
action_type := object.get(action, "type", "")

operation := object.get(action, ["kubernetes", "operation"], "")

dry_run if action.dryRun == true

default allow := false

allow if dry_run

allow if not needs_allowing

needs_allowing if action_type == "kubernetes"

needs_allowing if not action_type in safe_types

reasons contains "a dry run has no effect" if dry_run

reasons contains sprintf("%s changes nothing in the cluster", [describe]) if {
	not dry_run
	not needs_allowing
}

reasons contains sprintf("%s is not allowed by any policy: kubernetes actions run only when a provider or tenant policy allows them", [describe]) if {
	not dry_run
	action_type == "kubernetes"
}

reasons contains sprintf("%s is unknown and no policy allows it", [describe]) if {
	not dry_run
	needs_allowing
	action_type != "kubernetes"
}

describe := sprintf("scaling %s %s to %d replicas", [object.get(action, ["kubernetes", "kind"], ""), object.get(action, ["kubernetes", "name"], ""), object.get(action, ["kubernetes", "replicas"], 0)]) if {
	operation == "scale"
} else := sprintf("the kubernetes operation %q", [operation]) if {
	action_type == "kubernetes"
} else := sprintf("the %q action", [action_type])
