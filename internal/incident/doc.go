// Package incident holds the lifecycle of an Incident as pure functions: it compares
// what people and intake wrote in spec with what the controller last observed in
// status, and turns every difference into a transition (stamps, durations,
// conditions, a timeline entry and an event). It never reads the clock; the caller
// passes now.
//
// Transitions:
//
//	Triggered -> Acknowledged -> Resolved
//	Triggered -> Resolved                  (resolved without an acknowledgement)
//	Acknowledged -> Triggered              (unacknowledged: paging resumes)
//	Resolved -> Triggered | Acknowledged   (a reopen; reopenCount increases)
//
// Stage and assignee changes and new notes become timeline entries too.
package incident
