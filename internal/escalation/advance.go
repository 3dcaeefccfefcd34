package escalation

import (
	"time"

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

// EpisodeStart is the trigger as status keeps it, to the second: the last reopen,
// or the first trigger. Zero when the incident has not been observed yet.
func EpisodeStart(st klaxonv1.IncidentStatus) time.Time {
	switch {
	case st.ReopenedAt != nil:
		return st.ReopenedAt.Time
	case st.TriggeredAt != nil:
		return st.TriggeredAt.Time
	}
	return time.Time{}
}

// Start is the instant an episode's escalation counts from, to the microsecond.
// Status keeps the trigger (or reopen) to the second, and the incident began
// somewhere in that second; now, the moment the controller sees it, is past it.
// So the start is now, unless that is more than a second after the stored trigger
// (the controller was down or behind): then the end of the trigger's second. It is
// never before the incident began and at most a second after; once stored in
// status.escalation.startedAt it is kept for the episode.
func Start(st klaxonv1.IncidentStatus, now time.Time) time.Time {
	episode := EpisodeStart(st)
	if episode.IsZero() {
		return time.Time{}
	}
	if st.Escalation != nil && st.Escalation.StartedAt != nil {
		if s := st.Escalation.StartedAt.Time; !s.Before(episode) && !s.After(episode.Add(time.Second)) {
			return s
		}
	}
	if !episode.Equal(episode.Truncate(time.Second)) {
		return episode // already precise
	}
	switch end := episode.Add(time.Second); {
	case now.Before(episode):
		return episode
	case now.After(end):
		return end
	}
	return now.Truncate(time.Microsecond)
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

// Advance returns the pages due at now for an incident whose episode started at
// start (see Start) with escalation status st, and the status after paging them.
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
func Advance(p Plan, st klaxonv1.EscalationStatus, start time.Time, state klaxonv1.IncidentState, now time.Time) Step {
	out := Step{Status: *st.DeepCopy()}
	if !start.IsZero() {
		out.Status.StartedAt = klaxonv1.NewPreciseTime(start)
	}
	if state == klaxonv1.StateAcknowledged || state == klaxonv1.StateResolved {
		out.Status.NextEscalationAt = nil
		return out
	}
	if st.Exhausted {
		return out
	}

	pos := position{level: max(st.Level, 0), cycle: max(st.Cycle, 0)}
	at := start // when pos was paged; the start before the first page
	if pos.level > 0 {
		at = lastPaged(p, st, pos, now)
	}
	for range p.maxPages() {
		lvl, nxt, wait, ok := p.next(pos)
		if !ok {
			out.Status.Exhausted = true
			break
		}
		due := at.Add(wait)
		if now.Before(due) {
			out.Next = due
			break
		}
		out.Pages = append(out.Pages, page(lvl, nxt, pos, due))
		pos, at = nxt, due
	}

	out.Status.Level, out.Status.Cycle = pos.level, pos.cycle
	if pos.level > 0 {
		out.Status.LevelPagedAt = klaxonv1.NewPreciseTime(at)
	}
	out.Status.NextEscalationAt = nil
	if !out.Next.IsZero() {
		out.Status.NextEscalationAt = klaxonv1.NewPreciseTime(out.Next)
	}
	return out
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
