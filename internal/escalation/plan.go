package escalation

import (
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// DefaultRepeatAfter is the wait before a repeat cycle when neither repeatAfter nor
// the last level's delay says one: without it every cycle would be paged at once.
const DefaultRepeatAfter = 5 * time.Minute

// Level is one step of a Plan.
type Level struct {
	// Number of the level, counting from 1: its position in the policy, or after the
	// policy's levels for a level a decision added. Status and notification keys
	// record it, so it stays the same when earlier levels are skipped.
	Number int32
	// Delay after the previous level was paged (after the trigger, for the plan's
	// first level) before this level is due.
	Delay time.Duration
	// Targets paged at this level.
	Targets []klaxonv1.EscalationTarget
}

// Deadline is a time by which something must have happened, as the `escalation`
// decision sets it, e.g. a regulator notified within 72 hours of a personal-data
// breach. Escalation does not page for it; messages and the controller show it.
type Deadline struct {
	// Name identifies the deadline, e.g. "regulator-notification".
	Name string
	// At is when it falls due.
	At time.Time
	// Description says what must happen by then.
	Description string
}

// Adjustments are what the `escalation` policy decision changes in a policy.
type Adjustments struct {
	// StartLevel is the level paged first (counting from 1), e.g. 2 to skip the first
	// level for a SEV1. 0 or 1 skip nothing; past the last level it means the last.
	// Levels are skipped in the first cycle only, and the start level is due when the
	// first level would have been (the trigger plus the first level's delay):
	// skipping makes paging sooner, never later. Repeat cycles start at level 1.
	StartLevel int32
	// ExtraLevels are appended after the policy's levels, numbered after them.
	ExtraLevels []klaxonv1.EscalationLevel
	// Deadlines the decision sets.
	Deadlines []Deadline
}

// Plan is an escalation policy after a decision's adjustments: what Advance climbs.
type Plan struct {
	// Levels in order, numbered from 1; empty only when the policy has none.
	Levels []Level
	// StartLevel is the number of the level paged first, in the first cycle.
	StartLevel int32
	// Repeat is how many more cycles run through the levels after the first.
	Repeat int32
	// RepeatAfter is the wait after the last level before a repeat cycle; never zero.
	RepeatAfter time.Duration
	// Deadlines set by the decision.
	Deadlines []Deadline
}

// NewPlan applies adj to spec. It accepts any input: negative delays count as zero,
// a negative repeat as none, and a start level out of range is clamped.
func NewPlan(spec klaxonv1.EscalationPolicySpec, adj Adjustments) Plan {
	p := Plan{
		Repeat:      max(spec.Repeat, 0),
		RepeatAfter: DefaultRepeatAfter,
		Deadlines:   append([]Deadline(nil), adj.Deadlines...),
	}
	for _, l := range append(append([]klaxonv1.EscalationLevel(nil), spec.Levels...), adj.ExtraLevels...) {
		p.Levels = append(p.Levels, Level{
			Number:  int32(len(p.Levels) + 1),
			Delay:   max(l.Delay.Duration, 0),
			Targets: append([]klaxonv1.EscalationTarget(nil), l.Targets...),
		})
	}
	if len(p.Levels) == 0 {
		return p
	}
	p.StartLevel = min(max(adj.StartLevel, 1), int32(len(p.Levels)))
	switch last := p.Levels[len(p.Levels)-1]; {
	case spec.RepeatAfter != nil && spec.RepeatAfter.Duration > 0:
		p.RepeatAfter = spec.RepeatAfter.Duration
	case last.Delay > 0:
		p.RepeatAfter = last.Delay
	}
	return p
}

// position is a place on the plan: the level last paged (0 for none) in a cycle.
type position struct {
	level, cycle int32
}

// next returns the position after pos and the wait from pos's page (from the trigger
// when nothing was paged yet) until it is due; false when the plan is finished.
// Level numbers, not indexes, locate pos, so a plan that changed under a status
// continues after the level that status reached.
func (p Plan) next(pos position) (Level, position, time.Duration, bool) {
	if len(p.Levels) == 0 {
		return Level{}, position{}, 0, false
	}
	// The start level stands in for level 1, so it waits level 1's delay; a decision
	// that moves the start past the level reached mid-flight jumps there when the next
	// level would have been paged.
	if start := p.Levels[p.StartLevel-1]; pos.level == 0 || (pos.cycle == 0 && pos.level < start.Number) {
		wait := p.Levels[0].Delay
		if pos.level > 0 {
			wait = p.Levels[min(int(pos.level), len(p.Levels)-1)].Delay
		}
		return start, position{level: start.Number, cycle: pos.cycle}, wait, true
	}
	for _, l := range p.Levels {
		if l.Number > pos.level {
			return l, position{level: l.Number, cycle: pos.cycle}, l.Delay, true
		}
	}
	if pos.cycle < p.Repeat {
		first := p.Levels[0]
		return first, position{level: first.Number, cycle: pos.cycle + 1}, p.RepeatAfter, true
	}
	return Level{}, position{}, 0, false
}

// maxPages bounds one Advance: every level of every cycle, once.
func (p Plan) maxPages() int { return len(p.Levels)*(int(p.Repeat)+1) + 1 }
