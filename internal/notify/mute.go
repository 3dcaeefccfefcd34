package notify

import (
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Muter is a mute stage: it says whether a candidate must not be sent now, and why.
// StateMute is always applied first; the intake issue's maintenance windows add a
// Muter of their own. A Muter's mute is temporary: the candidate is held, not
// recorded, and goes out if a later Plan no longer mutes it.
type Muter interface {
	Mute(inc IncidentSummary, c Candidate, now time.Time) (muted bool, reason string)
}

// MuterFunc adapts a function to Muter.
type MuterFunc func(inc IncidentSummary, c Candidate, now time.Time) (bool, string)

// Mute calls f.
func (f MuterFunc) Mute(inc IncidentSummary, c Candidate, now time.Time) (bool, string) {
	return f(inc, c, now)
}

// Mute reasons.
const (
	ReasonMutedAcknowledged = "muted: incident acknowledged"
	ReasonMutedResolved     = "muted: incident resolved"
)

// StateMute mutes by the incident's state. What passes:
//
//	event (to)                   Triggered  Acknowledged  Resolved
//	page (Triggered, Escalated)  yes        no            no
//	Triggered, Escalated notice  yes        yes           no
//	Acknowledged                 yes        yes           no
//	StageChanged                 yes        yes           yes
//	Resolved                     yes        yes           yes
//	PostmortemPublished          yes        yes           yes
//
// A page is a Candidate with Page set: an escalation level paging its targets. Only
// an unowned incident pages; a stakeholder group still hears that an acknowledged
// incident exists. Once resolved, news older than the resolution is stale and only
// Resolved, StageChanged and PostmortemPublished go out; Resolved reaches those who
// were paged through Candidates with FollowUp set. The Resolved mute is final (see
// Plan); the Acknowledged one lasts while the incident stays acknowledged.
func StateMute(inc IncidentSummary, c Candidate) (muted bool, reason string) {
	switch inc.State {
	case klaxonv1.StateAcknowledged:
		if c.Page {
			return true, ReasonMutedAcknowledged
		}
	case klaxonv1.StateResolved:
		switch c.Event {
		case klaxonv1.EventResolved, klaxonv1.EventStageChanged, klaxonv1.EventPostmortemPublished:
			return false, ""
		}
		return true, ReasonMutedResolved
	}
	return false, ""
}
