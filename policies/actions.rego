# Built-in gate for automated runbook actions: destructive actions are denied
# unless a provider or tenant policy allows them.
#
# Outputs (see README.md, "actions"): allow (bool) and reasons (set of
# strings).
#
# Destructive: a kubernetes action that patches, scales to zero or does
# anything other than label, annotate or scale to one or more replicas; any
# action type this library does not know. Not destructive: label, annotate,
# scale to one or more replicas, notify, setStage, and webhook (a signed call to
# automation the tenant runs and authorises itself; Klaxon changes nothing).
# A dry run has no effect and is always allowed.
package klaxon.actions

action := object.get(input, "action", {})

safe_types := {"webhook", "notify", "setStage"}

safe_operations := {"label", "annotate"}

# Absent members read as empty, so that `not` below means "not so" and not
# "not known".
action_type := object.get(action, "type", "")

operation := object.get(action, ["kubernetes", "operation"], "")

dry_run if action.dryRun == true

default allow := false

allow if dry_run

allow if not destructive

destructive if {
	action_type == "kubernetes"
	not safe_kubernetes
}

destructive if not action_type in (safe_types | {"kubernetes"})

safe_kubernetes if operation in safe_operations

safe_kubernetes if {
	operation == "scale"
	object.get(action, ["kubernetes", "replicas"], 0) > 0
}

reasons contains "a dry run has no effect" if dry_run

reasons contains sprintf("%s is not destructive", [describe]) if {
	not dry_run
	not destructive
}

reasons contains sprintf("%s is destructive and no policy allows it", [describe]) if {
	not dry_run
	destructive
}

describe := "scaling to zero replicas" if {
	operation == "scale"
	not safe_kubernetes
} else := sprintf("the kubernetes operation %q", [operation]) if {
	action_type == "kubernetes"
} else := sprintf("the %q action", [action_type])
