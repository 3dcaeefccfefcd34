// Package runbook runs the playbooks of incidents: which Runbooks apply to an
// incident (Match), which of their steps are due when the incident enters a stage
// and which are a checklist for people (PlanSteps), the policy gate every action
// passes (Gate, the actions decision point), and the executors that act (webhook,
// kubernetes, notify, setStage).
//
// Planning and recording are pure functions of the incident's status and now. The
// controller drives one reconcile as:
//
//  1. PlanSteps: the automatic steps of the current stage not yet run in this
//     episode (a reopen is a new episode), new checklist items and ticks, and
//     claims left Pending by a controller that stopped.
//  2. Gate each due step; ClaimSteps writes a Pending entry for each allowed one and a
//     Denied entry for the others into status, which the controller writes with a
//     conditional update (its resourceVersion). On a conflict nothing has run.
//  3. Execute each claimed action, in runbook and step order.
//  4. Record the outcomes (who, what, result) in status and the timeline.
//
// An action therefore runs at most once: a claim found Pending after a crash is
// marked Failed ("interrupted") once it is older than StaleAfter, never run again.
// Kubernetes actions run as the ServiceAccount the Runbook names, in the incident's
// namespace (impersonation), never with the controller's own rights.
package runbook
