package intake

import (
	"fmt"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Current is what intake knows of the newest incident of an alert group.
type Current struct {
	// Name of the incident.
	Name string
	// Seq is its sequence number within the group.
	Seq int
	// State is spec.state (empty counts as Triggered).
	State klaxonv1.IncidentState
	// ResolvedAt is when it was resolved; zero when open, or resolved at a time not
	// known yet (the controller has not stamped it).
	ResolvedAt time.Time
	// Firing holds the fingerprints of its alerts that are firing. Decide never
	// changes it, so callers may share one set between decisions.
	Firing *FiringSet
	// Notes is the number of spec.notes, which are bounded.
	Notes int
}

// Policy is how a source's alerts change their incident.
type Policy struct {
	// ResolveWhen resolved alerts resolve the incident; empty means AllResolved.
	ResolveWhen klaxonv1.ResolvePolicy
	// FlapWindow: a group that fires again this soon after its incident resolved
	// reopens it; zero never reopens.
	FlapWindow time.Duration
}

// PolicyOf reads an AlertSource's policy.
func PolicyOf(spec klaxonv1.AlertSourceSpec) Policy {
	return Policy{ResolveWhen: spec.ResolveWhen, FlapWindow: spec.FlapWindow.Duration}
}

// Action is what a group's alerts require of the API server.
type Action int

// Actions, from the cheapest.
const (
	// ActionCount: nothing durable changes; the alerts only add to the incident's
	// counts, which are coalesced in memory.
	ActionCount Action = iota
	// ActionIgnore: resolved alerts of a group without an open or known incident;
	// there is nothing to resolve.
	ActionIgnore
	// ActionOpen: create the group's incident number Plan.Seq.
	ActionOpen
	// ActionUpdate: write the current incident's firing set and, with Resolve or
	// Reopen, its state.
	ActionUpdate
)

// maxNotesForFlapping is how many spec.notes an incident may have for intake to add
// a flapping note; spec.notes holds 32, and the rest stay for people.
const maxNotesForFlapping = 24

// Plan is what Decide found a group's alerts require.
type Plan struct {
	Action Action
	// Seq of the incident to open (ActionOpen).
	Seq int
	// Lead is the index of the alert whose title, labels and severity an opened
	// incident takes: the first firing one.
	Lead int
	// Firing is the incident's firing set after the alerts (ActionOpen, ActionUpdate).
	Firing *FiringSet
	// State to write: Triggered, or Resolved when the alerts resolve the incident.
	State klaxonv1.IncidentState
	// Resolve and Reopen say the state changes (ActionUpdate).
	Resolve, Reopen bool
	// FlapNote is a note for the incident's timeline that explains a reopen; empty
	// when the incident has no room for more notes.
	FlapNote string
}

// Decide works out what one group's alerts (in the order sent) do to the group's
// newest incident, cur (nil when the group has none). Every alert counts towards the
// incident's counts whatever the plan; Decide says what must be persisted:
//
//   - no incident, or the newest is resolved and a new alert fires after the flap
//     window: open the next one (firing alerts only; resolved alerts alone are
//     ignored). Alerts that fire and resolve within the request open it resolved.
//   - the newest is resolved and a new alert fires within the flap window: reopen it.
//     An alert is new when it was not firing when the incident resolved, or started
//     after that: a sender repeating an alert a person already resolved does not
//     reopen the incident.
//   - the newest is open: track new firing fingerprints, drop resolved ones, and
//     resolve it per the resolve policy: AllResolved when the request resolves the
//     last tracked firing alert (and none overflowed the set), AnyResolved when it
//     resolves any tracked one, Never leaves it to a person.
//
// Anything else (duplicates) is ActionCount.
func Decide(cur *Current, alerts []Alert, p Policy, now time.Time) Plan {
	if cur == nil {
		return open(0, alerts)
	}
	if cur.State != klaxonv1.StateResolved && allTracked(cur.Firing, alerts) {
		// Only repeats of alerts the open incident tracks as firing: the bulk of a
		// storm, decided without copying the set.
		return Plan{Action: ActionCount, Lead: -1}
	}
	reopen := false
	if cur.State == klaxonv1.StateResolved {
		lead := firstNew(cur, alerts)
		if lead >= 0 {
			if !withinFlapWindow(cur, p, now) {
				return open(cur.Seq+1, alerts)
			}
			reopen = true
		}
	}

	set := cur.Firing.Clone()
	removed := false
	for _, a := range alerts {
		if a.Status == StatusFiring {
			set.Add(a.Fingerprint)
		} else if set.Remove(a.Fingerprint) {
			removed = true
		}
	}
	plan := Plan{Action: ActionUpdate, Firing: set, State: cur.State, Lead: -1}
	if plan.State == "" {
		plan.State = klaxonv1.StateTriggered
	}
	if reopen {
		plan.Reopen, plan.State = true, klaxonv1.StateTriggered
		plan.Lead = firstNew(cur, alerts)
		if cur.Notes < maxNotesForFlapping {
			plan.FlapNote = flapNote(cur, alerts[plan.Lead], now)
		}
	}
	if plan.State != klaxonv1.StateResolved && resolves(p.ResolveWhen, set, removed) {
		// Fired again and resolved within one request: the incident stays resolved.
		plan.Resolve, plan.Reopen, plan.FlapNote = !reopen, false, ""
		plan.State = klaxonv1.StateResolved
	}
	if !plan.Resolve && !plan.Reopen && set.Equal(cur.Firing) {
		return Plan{Action: ActionCount, Lead: -1}
	}
	return plan
}

// allTracked reports whether every alert is firing and in the set.
func allTracked(set *FiringSet, alerts []Alert) bool {
	for _, a := range alerts {
		if a.Status != StatusFiring || !set.Contains(a.Fingerprint) {
			return false
		}
	}
	return true
}

// open plans the group's incident number seq.
func open(seq int, alerts []Alert) Plan {
	set := NewFiringSet(nil, false)
	lead, removed := -1, false
	for i, a := range alerts {
		if a.Status == StatusFiring {
			set.Add(a.Fingerprint)
			if lead < 0 {
				lead = i
			}
		} else if set.Remove(a.Fingerprint) {
			removed = true
		}
	}
	if lead < 0 {
		return Plan{Action: ActionIgnore, Lead: -1}
	}
	state := klaxonv1.StateTriggered
	if removed && set.Len() == 0 && !set.Overflow {
		// It fired and resolved before anyone could be paged: keep the record, resolved.
		state = klaxonv1.StateResolved
	}
	return Plan{Action: ActionOpen, Seq: seq, Lead: lead, Firing: set, State: state}
}

// resolves applies the resolve policy to the firing set after a request.
func resolves(when klaxonv1.ResolvePolicy, set *FiringSet, removed bool) bool {
	switch when {
	case klaxonv1.ResolveNever:
		return false
	case klaxonv1.ResolveAnyResolved:
		return removed
	default:
		return removed && set.Len() == 0 && !set.Overflow
	}
}

// firstNew returns the index of the first firing alert that is new to a resolved
// incident, or -1.
func firstNew(cur *Current, alerts []Alert) int {
	for i, a := range alerts {
		if a.Status != StatusFiring {
			continue
		}
		if !cur.Firing.Contains(a.Fingerprint) {
			return i
		}
		if !cur.ResolvedAt.IsZero() && a.StartsAt.After(cur.ResolvedAt) {
			return i
		}
	}
	return -1
}

// withinFlapWindow reports whether a resolved incident may still be reopened. A
// resolution whose time is not known yet has just happened.
func withinFlapWindow(cur *Current, p Policy, now time.Time) bool {
	if p.FlapWindow <= 0 {
		return false
	}
	if cur.ResolvedAt.IsZero() {
		return true
	}
	return now.Sub(cur.ResolvedAt) <= p.FlapWindow
}

// flapNote explains a reopen in the incident's timeline.
func flapNote(cur *Current, a Alert, now time.Time) string {
	after := "right after it resolved"
	if !cur.ResolvedAt.IsZero() {
		after = fmt.Sprintf("%s after it resolved", now.Sub(cur.ResolvedAt).Round(time.Second))
	}
	return truncate(fmt.Sprintf("flapping: %q fired again %s; reopened instead of opening a new incident", a.Title, after), maxNoteLength)
}

// maxNoteLength is the CRD's bound on a note's text.
const maxNoteLength = 1024
