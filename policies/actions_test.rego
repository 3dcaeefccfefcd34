package klaxon.actions_test

import data.klaxon.actions

k8s(op, extra) := {"action": {"type": "kubernetes", "runbook": "acme/db", "step": "s", "kubernetes": object.union({"operation": op, "apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, extra)}}

test_kubernetes_actions_are_denied_without_a_policy if {
	not actions.allow with input as k8s("label", {"labels": {"a": "b"}})
	not actions.allow with input as k8s("annotate", {"annotations": {"a": "b"}})
	not actions.allow with input as k8s("scale", {"replicas": 3})
	not actions.allow with input as k8s("scale", {"replicas": 0})
	not actions.allow with input as k8s("scale", {})
	not actions.allow with input as k8s("patch", {"patch": "{}"})
	not actions.allow with input as k8s("delete", {})
	not actions.allow with input as k8s("", {})
}

test_a_denial_says_what_and_why if {
	actions.reasons == {"scaling Deployment api to 0 replicas is not allowed by any policy: kubernetes actions run only when a provider or tenant policy allows them"} with input as k8s("scale", {"replicas": 0})
	actions.reasons == {`the kubernetes operation "patch" is not allowed by any policy: kubernetes actions run only when a provider or tenant policy allows them`} with input as k8s("patch", {"patch": "{}"})
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
	actions.reasons == {`the "ssh" action is unknown and no policy allows it`} with input as {"action": {"type": "ssh"}}
	not actions.allow with input as {}
}
