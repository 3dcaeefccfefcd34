package policy

import "testing"

// TestRuleCacheWith checks the rule cache across `with`, which evaluates
// rules again in a frame of their own: values from inside must not leak out,
// nor values from outside in.
func TestRuleCacheWith(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy("acme", "with", `package klaxon.triage
title := input.incident.spec.title
service := title
escalation_policy := t if t := title with input.incident.spec.title as "inner"
runbooks := {title, t, title} if t := title with input.incident.spec.title as "inner2"
`))
	for range 3 { // the caches come from a pool: use them again
		d, rec := triage(t, e, incident("acme", "outer", nil))
		if d.Service != "outer" || d.EscalationPolicy != "inner" || len(d.Runbooks) != 2 || d.Runbooks[0] != "inner2" || d.Runbooks[1] != "outer" {
			t.Fatalf("decision = %+v %v", d, rec.Errors)
		}
	}
}
