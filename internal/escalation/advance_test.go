package escalation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// t0 is the trigger of every case; offsets in the tables are from it.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	triggered = klaxonv1.StateTriggered
	acked     = klaxonv1.StateAcknowledged
	resolved  = klaxonv1.StateResolved
)

// level is a policy level paging one responder named after it.
func level(name string, delay time.Duration) klaxonv1.EscalationLevel {
	return klaxonv1.EscalationLevel{
		Delay:   metav1.Duration{Duration: delay},
		Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: name}},
	}
}

func policy(repeat int32, repeatAfter time.Duration, levels ...klaxonv1.EscalationLevel) klaxonv1.EscalationPolicySpec {
	spec := klaxonv1.EscalationPolicySpec{Levels: levels, Repeat: repeat}
	if repeatAfter > 0 {
		spec.RepeatAfter = &metav1.Duration{Duration: repeatAfter}
	}
	return spec
}

// threeLevels: alice at once, bob 5m later, carol 10m after bob.
var threeLevels = []klaxonv1.EscalationLevel{level("alice", 0), level("bob", 5*time.Minute), level("carol", 10*time.Minute)}

// call is one Advance in a sequence: at offset from t0, in a state, maybe after the
// policy changed; want lists the pages as "L<level>c<cycle> <target> <reason> @<due
// offset>" and next the next deadline's offset (-1 for none).
type call struct {
	at    time.Duration
	state klaxonv1.IncidentState
	plan  *Plan
	want  []string
	next  time.Duration
	// reset clears the status first (a reopen); trigger moves to at.
	reset bool
}

const (
	none   = time.Duration(-1)
	minute = time.Minute
)

func plan(spec klaxonv1.EscalationPolicySpec, adj Adjustments) *Plan {
	p := NewPlan(spec, adj)
	return &p
}

// roundTrip stores the status as the API server would: JSON, times to the second.
func roundTrip(t *testing.T, st klaxonv1.EscalationStatus) klaxonv1.EscalationStatus {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out klaxonv1.EscalationStatus
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(pg Page, trigger time.Time) string {
	names := make([]string, 0, len(pg.Targets))
	for _, tg := range pg.Targets {
		names = append(names, tg.Name)
	}
	return fmt.Sprintf("L%dc%d %s %s @%s", pg.Level, pg.Cycle, strings.Join(names, ","), pg.Reason, pg.DueAt.Sub(trigger))
}

// simulate runs calls in order, storing each returned status as a controller would.
func simulate(t *testing.T, p Plan, calls []call) klaxonv1.EscalationStatus {
	t.Helper()
	var st klaxonv1.EscalationStatus
	trigger := t0
	for i, c := range calls {
		if c.plan != nil {
			p = *c.plan
		}
		if c.reset {
			st, trigger = klaxonv1.EscalationStatus{}, t0.Add(c.at)
		}
		state := c.state
		if state == "" {
			state = triggered
		}
		now := t0.Add(c.at)
		step := Advance(p, st, trigger, state, now)
		var got []string
		for _, pg := range step.Pages {
			got = append(got, describe(pg, t0))
			if pg.DueAt.After(now) {
				t.Errorf("call %d (%s): page %s is early: due %s, now %s", i, c.at, describe(pg, t0), pg.DueAt, now)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("call %d (%s, %s): pages\n  got  %q\n  want %q", i, c.at, state, got, c.want)
		}
		next := none
		if !step.Next.IsZero() {
			next = step.Next.Sub(t0)
		}
		if next != c.next {
			t.Errorf("call %d (%s, %s): next = %s, want %s", i, c.at, state, next, c.next)
		}
		if (step.Status.NextEscalationAt == nil) != step.Next.IsZero() ||
			(step.Status.NextEscalationAt != nil && !step.Status.NextEscalationAt.Time.Equal(step.Next)) {
			t.Errorf("call %d: status deadline %v disagrees with Next %v", i, step.Status.NextEscalationAt, step.Next)
		}
		st = roundTrip(t, step.Status)
		// The same status at the same time pages nothing again.
		if again := Advance(p, st, trigger, state, now); len(again.Pages) != 0 {
			t.Errorf("call %d (%s): repeating the call pages again: %v", i, c.at, again.Pages)
		}
	}
	return st
}

func TestAdvance(t *testing.T) {
	cases := []struct {
		name  string
		plan  Plan
		calls []call
		// exhausted is the final status's Exhausted.
		exhausted bool
	}{{
		name: "levels climb one delay after another",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5*minute - time.Nanosecond, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 15*minute - time.Nanosecond, next: 15 * minute},
			{at: 15 * minute, want: []string{"L3c0 carol escalated @15m0s"}, next: none},
			{at: 60 * minute, next: none},
		},
		exhausted: true,
	}, {
		name: "first level with a delay is not paged at the trigger",
		plan: NewPlan(policy(0, 0, level("alice", 2*minute), level("bob", minute)), Adjustments{}),
		calls: []call{
			{at: 0, next: 2 * minute},
			{at: 2*minute - time.Nanosecond, next: 2 * minute},
			{at: 2 * minute, want: []string{"L1c0 alice first @2m0s"}, next: 3 * minute},
		},
	}, {
		name: "repeat after repeatAfter",
		plan: NewPlan(policy(1, 20*minute, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 15 * minute, want: []string{"L3c0 carol escalated @15m0s"}, next: 35 * minute},
			{at: 35*minute - time.Nanosecond, next: 35 * minute},
			{at: 35 * minute, want: []string{"L1c1 alice repeat @35m0s"}, next: 40 * minute},
			{at: 40 * minute, want: []string{"L2c1 bob escalated @40m0s"}, next: 50 * minute},
			{at: 50 * minute, want: []string{"L3c1 carol escalated @50m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "repeat without repeatAfter waits the last level's delay",
		plan: NewPlan(policy(2, 0, level("alice", 0), level("bob", 3*minute)), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 3 * minute},
			{at: 3 * minute, want: []string{"L2c0 bob escalated @3m0s"}, next: 6 * minute},
			{at: 6 * minute, want: []string{"L1c1 alice repeat @6m0s"}, next: 9 * minute},
			{at: 9 * minute, want: []string{"L2c1 bob escalated @9m0s"}, next: 12 * minute},
			{at: 12 * minute, want: []string{"L1c2 alice repeat @12m0s"}, next: 15 * minute},
			{at: 15 * minute, want: []string{"L2c2 bob escalated @15m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "a single immediate level repeats after the default, not all at once",
		plan: NewPlan(policy(1, 0, level("alice", 0)), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: DefaultRepeatAfter},
			{at: DefaultRepeatAfter, want: []string{"L1c1 alice repeat @5m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "acknowledged mid-level stops paging; withdrawing it resumes after the delay",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 3 * minute, state: acked, next: none},
			{at: 5 * minute, state: acked, next: none},
			{at: 30 * minute, state: acked, next: none},
			// Resumed at 40m: bob is due his 5m after that, carol 10m after bob.
			{at: 40 * minute, next: 45 * minute},
			{at: 45 * minute, want: []string{"L2c0 bob escalated @45m0s"}, next: 55 * minute},
			{at: 55 * minute, want: []string{"L3c0 carol escalated @55m0s"}, next: none},
		},
		exhausted: true,
	}, {
		// Nothing was paged, so the schedule still runs from the trigger.
		name: "acknowledged before the first page, then withdrawn: overdue levels go at once",
		plan: NewPlan(policy(0, 0, level("alice", 2*minute), level("bob", minute), level("carol", time.Hour)), Adjustments{}),
		calls: []call{
			{at: 0, next: 2 * minute},
			{at: minute, state: acked, next: none},
			{at: 10 * minute, want: []string{"L1c0 alice first @2m0s", "L2c0 bob escalated @3m0s"}, next: 63 * minute},
		},
	}, {
		name: "resolved pages nothing",
		plan: NewPlan(policy(3, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 2 * minute, state: resolved, next: none},
			{at: 20 * time.Hour, state: resolved, next: none},
		},
	}, {
		name: "reopen starts again at level one with the reopen as trigger",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 7 * minute, state: resolved, next: none},
			{at: 60 * minute, reset: true, want: []string{"L1c0 alice first @1h0m0s"}, next: 65 * minute},
			{at: 65 * minute, want: []string{"L2c0 bob escalated @1h5m0s"}, next: 75 * minute},
		},
	}, {
		name: "catching up after downtime pages every overdue level once, in order",
		plan: NewPlan(policy(1, 20*minute, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 40*minute - time.Nanosecond, want: []string{
				"L1c0 alice first @0s",
				"L2c0 bob escalated @5m0s",
				"L3c0 carol escalated @15m0s",
				"L1c1 alice repeat @35m0s",
			}, next: 40 * minute},
			{at: 40*minute - time.Nanosecond, next: 40 * minute},
			{at: 40 * minute, want: []string{"L2c1 bob escalated @40m0s"}, next: 50 * minute},
			{at: 3 * time.Hour, want: []string{"L3c1 carol escalated @50m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "down between two levels: the next keeps the policy's spacing",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 12 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 15 * minute, want: []string{"L3c0 carol escalated @15m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "skip levels in the first cycle: start at level two when level one would have been paged",
		plan: NewPlan(policy(1, 30*minute, threeLevels...), Adjustments{StartLevel: 2}),
		calls: []call{
			{at: 0, want: []string{"L2c0 bob first @0s"}, next: 10 * minute},
			{at: 10 * minute, want: []string{"L3c0 carol escalated @10m0s"}, next: 40 * minute},
			{at: 40 * minute, want: []string{"L1c1 alice repeat @40m0s"}, next: 45 * minute},
			{at: 45 * minute, want: []string{"L2c1 bob escalated @45m0s"}, next: 55 * minute},
			{at: 55 * minute, want: []string{"L3c1 carol escalated @55m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "start level past the end is the last level",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{StartLevel: 9}),
		calls: []call{
			{at: 0, want: []string{"L3c0 carol first @0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "extra levels are appended and numbered after the policy's",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{ExtraLevels: []klaxonv1.EscalationLevel{level("ciso", 30*minute)}}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 15 * minute, want: []string{"L3c0 carol escalated @15m0s"}, next: 45 * minute},
			{at: 45 * minute, want: []string{"L4c0 ciso escalated @45m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "policy gains a level mid-flight: climbs into it",
		plan: NewPlan(policy(0, 0, threeLevels[:2]...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: none},
			// Exhausted already: a later level does not restart paging.
			{at: 6 * minute, plan: plan(policy(0, 0, threeLevels...), Adjustments{}), next: none},
		},
		exhausted: true,
	}, {
		name: "policy gains a level before the last was reached",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 6 * minute, plan: plan(policy(0, 0, append(slices.Clone(threeLevels), level("dave", minute))...), Adjustments{}), next: 15 * minute},
			{at: 15 * minute, want: []string{"L3c0 carol escalated @15m0s"}, next: 16 * minute},
			{at: 16 * minute, want: []string{"L4c0 dave escalated @16m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "policy loses levels mid-flight: nothing left to page is exhausted",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 6 * minute, plan: plan(policy(0, 0, threeLevels[:1]...), Adjustments{}), next: none},
		},
		exhausted: true,
	}, {
		name: "policy loses the current level but repeats: the next cycle follows the new plan's gap",
		plan: NewPlan(policy(1, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: 5 * minute, want: []string{"L2c0 bob escalated @5m0s"}, next: 15 * minute},
			{at: 15 * minute, want: []string{"L3c0 carol escalated @15m0s"}, next: 25 * minute},
			{at: 16 * minute, plan: plan(policy(1, 0, threeLevels[:2]...), Adjustments{}), next: 20 * minute},
			{at: 20 * minute, want: []string{"L1c1 alice repeat @20m0s"}, next: 25 * minute},
			{at: 25 * minute, want: []string{"L2c1 bob escalated @25m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "changed delays apply from when the current level was paged, never re-paging it",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: time.Minute, plan: plan(policy(0, 0, level("alice", 0), level("bob", 2*minute), level("carol", minute)), Adjustments{}), next: 2 * minute},
			{at: 2 * minute, want: []string{"L2c0 bob escalated @2m0s"}, next: 3 * minute},
			{at: 3 * minute, want: []string{"L3c0 carol escalated @3m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "a decision that skips past the current level pages the start level next",
		plan: NewPlan(policy(0, 0, threeLevels...), Adjustments{}),
		calls: []call{
			{at: 0, want: []string{"L1c0 alice first @0s"}, next: 5 * minute},
			{at: minute, plan: plan(policy(0, 0, threeLevels...), Adjustments{StartLevel: 3}), next: 5 * minute},
			{at: 5 * minute, want: []string{"L3c0 carol escalated @5m0s"}, next: none},
		},
		exhausted: true,
	}, {
		name: "sub-second delays keep their precision",
		plan: NewPlan(policy(0, 0, level("alice", 1500*time.Millisecond), level("bob", 1500*time.Millisecond)), Adjustments{}),
		calls: []call{
			{at: 0, next: 1500 * time.Millisecond},
			{at: 1499 * time.Millisecond, next: 1500 * time.Millisecond},
			{at: 1500 * time.Millisecond, want: []string{"L1c0 alice first @1.5s"}, next: 3 * time.Second},
			{at: 3 * time.Second, want: []string{"L2c0 bob escalated @3s"}, next: none},
		},
		exhausted: true,
	}, {
		name:      "a plan without levels is exhausted at once",
		plan:      NewPlan(klaxonv1.EscalationPolicySpec{}, Adjustments{}),
		calls:     []call{{at: 0, next: none}},
		exhausted: true,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := simulate(t, c.plan, c.calls)
			if st.Exhausted != c.exhausted {
				t.Errorf("exhausted = %v, want %v", st.Exhausted, c.exhausted)
			}
		})
	}
}

// TestNeverEarly walks a repeating policy with an odd trigger and checks every
// deadline: one nanosecond before it nothing is due, at it exactly one page is.
func TestNeverEarly(t *testing.T) {
	p := NewPlan(policy(2, 7*time.Minute, level("a", 90*time.Second), level("b", 0), level("c", 4*time.Minute)), Adjustments{})
	trigger := t0.Add(123 * time.Millisecond)
	var st klaxonv1.EscalationStatus
	now := trigger
	pages := 0
	for range 50 {
		step := Advance(p, st, trigger, triggered, now)
		for _, pg := range step.Pages {
			if pg.DueAt.After(now) {
				t.Fatalf("page L%dc%d due %s returned at %s", pg.Level, pg.Cycle, pg.DueAt, now)
			}
		}
		pages += len(step.Pages)
		st = roundTrip(t, step.Status)
		if step.Next.IsZero() {
			break
		}
		if early := Advance(p, st, trigger, triggered, step.Next.Add(-time.Nanosecond)); len(early.Pages) != 0 {
			t.Fatalf("one nanosecond before %s: paged %v", step.Next, early.Pages)
		}
		now = step.Next
	}
	if want := 3 * 3; pages != want || !st.Exhausted {
		t.Errorf("paged %d levels (exhausted %v), want %d and exhausted", pages, st.Exhausted, want)
	}
}

// TestAdvanceIsDeterministic: after a restart, the stored status gives the same answer
// for any time, and Advance does not alias its input.
func TestAdvanceIsDeterministic(t *testing.T) {
	p := NewPlan(policy(1, 0, threeLevels...), Adjustments{})
	st := Advance(p, klaxonv1.EscalationStatus{}, t0, triggered, t0.Add(6*time.Minute)).Status
	stored := roundTrip(t, st)
	for _, off := range []time.Duration{6 * time.Minute, 15 * time.Minute, 2 * time.Hour} {
		a := Advance(p, st, t0, triggered, t0.Add(off))
		b := Advance(p, stored, t0, triggered, t0.Add(off))
		if fmt.Sprint(a.Pages) != fmt.Sprint(b.Pages) || !a.Next.Equal(b.Next) {
			t.Errorf("at +%s: before restart %v/%s, after %v/%s", off, a.Pages, a.Next, b.Pages, b.Next)
		}
	}
	before := *st.NextEscalationAt
	step := Advance(p, st, t0, triggered, t0.Add(time.Hour))
	step.Status.NextEscalationAt = nil
	step.Pages[0].Targets[0].Name = "mallory"
	if !st.NextEscalationAt.Equal(before.Time) || p.Levels[0].Targets[0].Name != "alice" || p.Levels[2].Targets[0].Name != "carol" {
		t.Error("Advance aliases its input")
	}
}

func TestNewPlanSanitises(t *testing.T) {
	spec := policy(-3, 0, level("a", -time.Minute), level("b", 0))
	spec.RepeatAfter = &metav1.Duration{Duration: 0}
	p := NewPlan(spec, Adjustments{StartLevel: -2})
	if p.Repeat != 0 || p.Levels[0].Delay != 0 || p.Levels[0].Number != 1 || p.StartLevel != 1 || p.RepeatAfter != DefaultRepeatAfter {
		t.Errorf("NewPlan = %+v", p)
	}
	spec.Levels[0].Targets[0].Name = "changed"
	if p.Levels[0].Targets[0].Name != "a" {
		t.Error("NewPlan aliases the spec's targets")
	}
}

func TestNewPlanKeepsDeadlines(t *testing.T) {
	d := Deadline{Name: "regulator-notification", At: t0.Add(72 * time.Hour), Description: "notify the DPA"}
	adj := Adjustments{Deadlines: []Deadline{d}}
	p := NewPlan(policy(0, 0, threeLevels...), adj)
	adj.Deadlines[0].Name = "changed"
	if len(p.Deadlines) != 1 || p.Deadlines[0] != d {
		t.Errorf("Deadlines = %+v", p.Deadlines)
	}
}

func TestStart(t *testing.T) {
	sec := time.Date(2026, 11, 27, 8, 40, 15, 0, time.UTC) // triggeredAt as status keeps it
	stored := func(at time.Time) *klaxonv1.EscalationStatus {
		return &klaxonv1.EscalationStatus{StartedAt: klaxonv1.NewPreciseTime(at)}
	}
	cases := []struct {
		name     string
		reopened bool
		esc      *klaxonv1.EscalationStatus
		now      time.Time
		want     time.Time
	}{
		{name: "seen within the trigger's second: when it was seen", now: sec.Add(412345678), want: sec.Add(412345000)},
		{name: "seen late: the end of the trigger's second", now: sec.Add(10 * time.Minute), want: sec.Add(time.Second)},
		{name: "a clock behind the API server's: the stored second", now: sec.Add(-300 * time.Millisecond), want: sec},
		{name: "stored for the episode: kept", esc: stored(sec.Add(250 * time.Millisecond)), now: sec.Add(time.Hour), want: sec.Add(250 * time.Millisecond)},
		{name: "stored for an earlier episode: taken anew", reopened: true, esc: stored(sec.Add(-time.Hour)), now: sec.Add(700 * time.Millisecond), want: sec.Add(700 * time.Millisecond)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := klaxonv1.IncidentStatus{Escalation: c.esc}
			if c.reopened {
				st.TriggeredAt = &metav1.Time{Time: sec.Add(-2 * time.Hour)}
				st.ReopenedAt = &metav1.Time{Time: sec}
			} else {
				st.TriggeredAt = &metav1.Time{Time: sec}
			}
			got := Start(st, c.now)
			if !got.Equal(c.want) {
				t.Errorf("Start = %s, want %s", got.Format(time.RFC3339Nano), c.want.Format(time.RFC3339Nano))
			}
			if got.Before(EpisodeStart(st)) {
				t.Errorf("Start %s is before the episode began (%s)", got, EpisodeStart(st))
			}
		})
	}
	if got := Start(klaxonv1.IncidentStatus{}, sec); !got.IsZero() {
		t.Errorf("Start of an incident not yet triggered = %s, want zero", got)
	}
}
