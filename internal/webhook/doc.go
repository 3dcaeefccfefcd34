// Package webhook is Klaxon's admission: it refuses manifests that cannot work (with
// the reason), runs the providers' and tenants' admission policies over every Klaxon
// kind, and stamps who changed an incident's state, stage or assignee, and when.
//
// The webhook server runs on every replica; reconcilers run on the elected leader.
// The webhook on Incident fails open (failurePolicy Ignore, timeout 5s) so a Klaxon
// outage never blocks an acknowledgement; the webhooks on policy and configuration
// kinds fail closed.
package webhook
