package klaxon.actions_test

import data.klaxon.actions

k8s(op, extra) := {"action": {"type": "kubernetes", "runbook": "acme/db", "step": "s", "kubernetes": object.union({"operation": op, "apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, extra)}}

test_label_and_annotate_are_allowed if {
	actions.allow with input as k8s("label", {"labels": {"a": "b"}})
	actions.allow with input as k8s("annotate", {"annotations": {"a": "b"}})
}

test_scale_up_is_allowed if {
	actions.allow with input as k8s("scale", {"replicas": 3})
}

test_scale_to_zero_is_denied if {
	not actions.allow with input as k8s("scale", {"replicas": 0})
	not actions.allow with input as k8s("scale", {})
	actions.reasons == {"scaling to zero replicas is destructive and no policy allows it"} with input as k8s("scale", {"replicas": 0})
}

test_patch_is_denied if {
	not actions.allow with input as k8s("patch", {"patch": "{}"})
	actions.reasons == {`the kubernetes operation "patch" is destructive and no policy allows it`} with input as k8s("patch", {"patch": "{}"})
}

test_delete_like_operations_are_denied if {
	not actions.allow with input as k8s("delete", {})
	not actions.allow with input as k8s("", {})
}

test_dry_run_is_allowed if {
	i := json.patch(k8s("patch", {}), [{"op": "add", "path": "/action/dryRun", "value": true}])
	actions.allow with input as i
	actions.reasons == {"a dry run has no effect"} with input as i
}

test_webhook_notify_and_set_stage_are_allowed if {
	actions.allow with input as {"action": {"type": "webhook", "webhook": {"host": "automation.example.com"}}}
	actions.allow with input as {"action": {"type": "notify", "notify": {"group": "acme/customers"}}}
	actions.allow with input as {"action": {"type": "setStage", "setStage": "Contain"}}
}

test_unknown_action_types_are_denied if {
	not actions.allow with input as {"action": {"type": "ssh"}}
	not actions.allow with input as {}
}
