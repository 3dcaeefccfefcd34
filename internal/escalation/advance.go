package escalation

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Reasons a level is paged; notification log entries record them.
const (
	// ReasonFirst: the first page of the incident (or of a reopen).
	ReasonFirst = "first"
	// ReasonEscalated: nobody acknowledged the previous level in time.
	ReasonEscalated = "escalated"
	// ReasonRepeat: nobody acknowledged the last level; a new cycle starts.
	ReasonRepeat = "repeat"
)

// EpisodeStart is the trigger Advance counts from: the last reopen, or the first
// trigger. Zero when the incident has not been observed yet.
func EpisodeStart(st klaxonv1.IncidentStatus) time.Time {
	switch {
	case st.ReopenedAt != nil:
		return st.ReopenedAt.Time
	case st.TriggeredAt != nil:
		return st.TriggeredAt.Time
	}
	return time.Time{}
}

// Page is one level due to be paged.
type Page struct {
	// Level number (counting from 1) and Cycle (counting from 0) of the page; with the
	// reopen count they identify it in the notification log.
	Level int32
	Cycle int32
	// Targets to page.
	Targets []klaxonv1.EscalationTarget
	// DueAt is the deadline the page was due at; it is at or before now.
	DueAt time.Time
	// Event the page announces: Triggered for the first page, Escalated after.
	Event klaxonv1.IncidentEvent
	// Reason is ReasonFirst, ReasonEscalated or ReasonRepeat.
	Reason string
}

// Step is what Advance decided.
type Step struct {
	// Pages due now, in the order they fell due; empty when none is.
	Pages []Page
	// Status to store: the level and cycle last paged, the next deadline, Exhausted.
	Status klaxonv1.EscalationStatus
	// Next is when the next level is due; zero when nothing more is (acknowledged,
	// resolved or exhausted). The controller requeues after Next - now.
	Next time.Time
}

// Advance returns the pages due at now for an incident triggered (or last reopened)
// at triggeredAt with escalation status st, and the status after paging them.
//
// Acknowledged and Resolved incidents get no pages and no Next; the returned status
// keeps the level and cycle and drops the deadline, which no longer applies. When the
// acknowledgement is withdrawn, paging resumes after the level reached: the next level
// is due its delay after the first Advance that sees the incident Triggered again
// (or at once, if nothing had been paged yet and its deadline has passed). An
// exhausted status stays exhausted, even if the policy gains levels, until a reopen
// resets it.
//
// A policy change is applied from st: the levels after st.Level (by number) follow,
// and a level the plan no longer has counts as the last. The next deadline is
// recomputed from when st.Level was paged with the new delays, so a shortened delay
// pages sooner and a lengthened one later, and the current level is never paged
// again.
func Advance(p Plan, st klaxonv1.EscalationStatus, triggeredAt time.Time, state klaxonv1.IncidentState, now time.Time) Step {
	out := Step{Status: *st.DeepCopy()}
	if state == klaxonv1.StateAcknowledged || state == klaxonv1.StateResolved {
		out.Status.NextEscalationAt = nil
		return out
	}
	if st.Exhausted {
		return out
	}

	pos := position{level: max(st.Level, 0), cycle: max(st.Cycle, 0)}
	at := triggeredAt // when pos was paged; the trigger before the first page
	if pos.level > 0 {
		at = lastPaged(p, st, pos, now)
	}
	for range p.maxPages() {
		lvl, nxt, wait, ok := p.next(pos)
		if !ok {
			out.Status.Exhausted = true
			break
		}
		due := ceilSecond(at.Add(wait))
		if now.Before(due) {
			out.Next = due
			break
		}
		out.Pages = append(out.Pages, page(lvl, nxt, pos, due))
		pos, at = nxt, due
	}

	out.Status.Level, out.Status.Cycle = pos.level, pos.cycle
	if pos.level > 0 {
		t := metav1.NewTime(at)
		out.Status.LevelPagedAt = &t
	}
	out.Status.NextEscalationAt = nil
	if !out.Next.IsZero() {
		t := metav1.NewTime(out.Next)
		out.Status.NextEscalationAt = &t
	}
	return out
}

// ceilSecond rounds t up to the whole second. Status stores times to the second, so a
// deadline read back from status is exactly the one computed, and rounding down
// would page early.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

func page(lvl Level, to, from position, due time.Time) Page {
	pg := Page{
		Level:   to.level,
		Cycle:   to.cycle,
		Targets: append([]klaxonv1.EscalationTarget(nil), lvl.Targets...),
		DueAt:   due,
		Event:   klaxonv1.EventEscalated,
		Reason:  ReasonEscalated,
	}
	switch {
	case from.level == 0:
		pg.Event, pg.Reason = klaxonv1.EventTriggered, ReasonFirst
	case to.cycle > from.cycle:
		pg.Reason = ReasonRepeat
	}
	return pg
}

// lastPaged returns when the level st records was paged: status.levelPagedAt, so an
// edited delay applies to the pending deadline too. A status without a deadline is
// one whose paging was stopped by an acknowledgement and now resumes: the wait
// starts now. Statuses written before levelPagedAt existed derive it from the stored
// deadline minus the plan's wait.
func lastPaged(p Plan, st klaxonv1.EscalationStatus, pos position, now time.Time) time.Time {
	if st.NextEscalationAt == nil {
		return now
	}
	if st.LevelPagedAt != nil {
		return st.LevelPagedAt.Time
	}
	if _, _, wait, ok := p.next(pos); ok {
		return st.NextEscalationAt.Add(-wait)
	}
	return st.NextEscalationAt.Time
}
