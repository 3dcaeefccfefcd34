// Package dispatch turns an incident's escalation and its transitions into
// deliveries: it advances the escalation policy, asks the notify policy which
// stakeholder groups hear which event, resolves targets to people and channels, runs
// the notification pipeline (mute, dedup, retry, rate limit), renders each message in
// its audience's words, sends, and records every attempt in the incident's
// notification log and timeline.
//
// One reconcile of an incident goes Plan (claims written into status), the
// controller's conditional status write, Deliver, then Apply (results written). A
// conflict on the first write means nothing was sent; a crash after sending leaves
// the claim Pending and the next Plan sends it again: at least once, and at most one
// repeat per crash.
package dispatch
