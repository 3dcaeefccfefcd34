// Package escalation is the escalation state machine: from an EscalationPolicy, the
// adjustments of the `escalation` policy decision, the incident's escalation status,
// its state and the time, it says which levels are due to be paged and when the next
// one is. It is pure: it never reads the clock, the caller passes now.
//
// The schedule, for a plan whose levels are L1..Ln (the policy's, then any a decision
// appends):
//
//   - The first level paged is due at the trigger (the reopen, for a reopened
//     incident) plus L1's delay. It is L1, or the decision's start level: levels
//     before it are skipped, in the first cycle only.
//   - Lk+1 is due delay(Lk+1) after Lk was paged.
//   - After Ln, while repeat cycles remain, L1 is due again repeatAfter after Ln was
//     paged (Ln's own delay when repeatAfter is empty or zero, DefaultRepeatAfter
//     when that is zero too), in the next cycle.
//   - When every level of every cycle has been paged the status is Exhausted and
//     nothing is due any more.
//
// A level counts as paged at the deadline it was due at, not at the moment the
// controller got round to it. So a controller that was down while several deadlines
// passed pages each overdue level once, in order, in one step, and the levels after
// them keep the policy's spacing. A page is due only when now >= its deadline: never
// early. Deadlines are rounded up to the whole second, the precision status keeps, so
// a deadline read back from status is the one computed.
//
// Acknowledged and Resolved incidents page nothing and have no next deadline; status
// keeps the level reached and drops the deadline (so call Advance in every state and
// store what it returns). Withdrawing an acknowledgement resumes paging after that
// level, its delay counted from the resumption. Reopening is the caller's part: it
// resets the status (internal/incident sets status.escalation to nil) and passes the
// reopen time as the trigger, so paging starts again at the first level.
//
// Status stores the last level paged, the cycle and the next deadline. The same status,
// plan and time always give the same answer (the first call after a resumption aside,
// which starts the wait), so a restart neither loses nor repeats a page. Editing the
// policy mid-flight keeps the level reached: it is never paged again, and the new
// levels and delays apply from the next deadline on (see Advance).
package escalation
