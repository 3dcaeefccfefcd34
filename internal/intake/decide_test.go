package intake

import (
	"strings"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	fire := func(fp string) Alert {
		return Alert{Status: StatusFiring, Fingerprint: fp, Title: "Disk " + fp, StartsAt: now.Add(-time.Hour)}
	}
	fireAt := func(fp string, startsAt time.Time) Alert {
		a := fire(fp)
		a.StartsAt = startsAt
		return a
	}
	resolve := func(fp string) Alert { return Alert{Status: StatusResolved, Fingerprint: fp, EndsAt: now} }
	open := func(state klaxonv1.IncidentState, firing ...string) *Current {
		return &Current{Name: "inc-3", Seq: 3, State: state, Firing: NewFiringSet(firing, false)}
	}
	resolvedAgo := func(ago time.Duration, firing ...string) *Current {
		c := open(klaxonv1.StateResolved, firing...)
		c.ResolvedAt = now.Add(-ago)
		return c
	}
	overflowed := open(klaxonv1.StateTriggered, "a")
	overflowed.Firing.Overflow = true
	noRoom := resolvedAgo(time.Minute)
	noRoom.Notes = maxNotesForFlapping
	unknownTime := open(klaxonv1.StateResolved)
	policy := Policy{ResolveWhen: klaxonv1.ResolveAllResolved, FlapWindow: 10 * time.Minute}
	anyResolved := Policy{ResolveWhen: klaxonv1.ResolveAnyResolved, FlapWindow: 10 * time.Minute}
	never := Policy{ResolveWhen: klaxonv1.ResolveNever, FlapWindow: 10 * time.Minute}
	noFlap := Policy{}

	for _, tc := range []struct {
		name    string
		cur     *Current
		alerts  []Alert
		policy  Policy
		action  Action
		seq     int
		state   klaxonv1.IncidentState
		firing  []string
		resolve bool
		reopen  bool
		note    bool
	}{
		{name: "first alert opens incident 0", alerts: []Alert{fire("a")}, policy: policy,
			action: ActionOpen, seq: 0, state: klaxonv1.StateTriggered, firing: []string{"a"}},
		{name: "resolved alone with no incident is ignored", alerts: []Alert{resolve("a")}, policy: policy, action: ActionIgnore},
		{name: "fired and resolved in one request opens it resolved", alerts: []Alert{fire("a"), resolve("a")}, policy: policy,
			action: ActionOpen, state: klaxonv1.StateResolved, firing: []string{}},
		{name: "duplicate is only counted", cur: open(klaxonv1.StateTriggered, "a"), alerts: []Alert{fire("a"), fire("a")}, policy: policy,
			action: ActionCount},
		{name: "a new alert of the group is tracked", cur: open(klaxonv1.StateTriggered, "a"), alerts: []Alert{fire("b")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{"a", "b"}},
		{name: "acknowledged stays acknowledged", cur: open(klaxonv1.StateAcknowledged, "a"), alerts: []Alert{fire("b")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateAcknowledged, firing: []string{"a", "b"}},
		{name: "one of two resolved: still open", cur: open(klaxonv1.StateTriggered, "a", "b"), alerts: []Alert{resolve("a")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{"b"}},
		{name: "the last resolved: resolved", cur: open(klaxonv1.StateTriggered, "b"), alerts: []Alert{resolve("b")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateResolved, firing: []string{}, resolve: true},
		{name: "resolved alert never seen firing changes nothing", cur: open(klaxonv1.StateTriggered, "a"), alerts: []Alert{resolve("z")}, policy: policy,
			action: ActionCount},
		{name: "overflowed set does not resolve by itself", cur: overflowed, alerts: []Alert{resolve("a")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{}},
		{name: "AnyResolved resolves on the first", cur: open(klaxonv1.StateTriggered, "a", "b"), alerts: []Alert{resolve("a")}, policy: anyResolved,
			action: ActionUpdate, state: klaxonv1.StateResolved, firing: []string{"b"}, resolve: true},
		{name: "Never leaves it open", cur: open(klaxonv1.StateTriggered, "a"), alerts: []Alert{resolve("a")}, policy: never,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{}},
		{name: "fires again within the flap window: reopened", cur: resolvedAgo(2 * time.Minute), alerts: []Alert{fire("a")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{"a"}, reopen: true, note: true},
		{name: "fires again after the flap window: a new incident", cur: resolvedAgo(11 * time.Minute), alerts: []Alert{fire("a")}, policy: policy,
			action: ActionOpen, seq: 4, state: klaxonv1.StateTriggered, firing: []string{"a"}},
		{name: "no flap window: always a new incident", cur: resolvedAgo(time.Second), alerts: []Alert{fire("a")}, policy: noFlap,
			action: ActionOpen, seq: 4, state: klaxonv1.StateTriggered, firing: []string{"a"}},
		{name: "resolved just now, time not stamped yet: reopened", cur: unknownTime, alerts: []Alert{fire("a")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{"a"}, reopen: true, note: true},
		{name: "a repeat of an alert a person resolved does not reopen", cur: resolvedAgo(time.Minute, "a"), alerts: []Alert{fire("a")}, policy: policy,
			action: ActionCount},
		{name: "the same alert starting after the resolution reopens", cur: resolvedAgo(2*time.Minute, "a"),
			alerts: []Alert{fireAt("a", now.Add(-time.Minute))}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{"a"}, reopen: true, note: true},
		{name: "a resolution of a still-tracked alert on a resolved incident", cur: resolvedAgo(time.Minute, "a"), alerts: []Alert{resolve("a")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateResolved, firing: []string{}},
		{name: "no room for a flapping note: reopened without one", cur: noRoom, alerts: []Alert{fire("a")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateTriggered, firing: []string{"a"}, reopen: true},
		{name: "fired again and resolved in one request: stays resolved", cur: resolvedAgo(time.Minute), alerts: []Alert{fire("a"), resolve("a")}, policy: policy,
			action: ActionCount},
		{name: "fired again and resolved in one request, others firing: stays resolved", cur: resolvedAgo(time.Minute, "b"),
			alerts: []Alert{fire("a"), resolve("a"), resolve("b")}, policy: policy,
			action: ActionUpdate, state: klaxonv1.StateResolved, firing: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(tc.cur, tc.alerts, tc.policy, now)
			if p.Action != tc.action {
				t.Fatalf("action = %v; want %v (plan %+v)", p.Action, tc.action, p)
			}
			if p.Action != ActionOpen && p.Action != ActionUpdate {
				return
			}
			if p.Seq != tc.seq || p.State != tc.state || p.Resolve != tc.resolve || p.Reopen != tc.reopen {
				t.Errorf("plan seq %d state %s resolve %v reopen %v; want %d %s %v %v", p.Seq, p.State, p.Resolve, p.Reopen,
					tc.seq, tc.state, tc.resolve, tc.reopen)
			}
			if got := strings.Join(p.Firing.List(), ","); got != strings.Join(tc.firing, ",") {
				t.Errorf("firing = %q; want %q", got, tc.firing)
			}
			if (p.FlapNote != "") != tc.note {
				t.Errorf("flap note %q; want one: %v", p.FlapNote, tc.note)
			}
		})
	}
}

func TestDecideFlapNoteSaysFlapping(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	cur := &Current{Name: "x", State: klaxonv1.StateResolved, ResolvedAt: now.Add(-90 * time.Second), Firing: NewFiringSet(nil, false)}
	p := Decide(cur, []Alert{{Status: StatusFiring, Fingerprint: "a", Title: "Disk full", StartsAt: now}}, Policy{FlapWindow: time.Hour}, now)
	if want := `flapping: "Disk full" fired again 1m30s after it resolved`; !strings.HasPrefix(p.FlapNote, want) {
		t.Errorf("note %q; want it to start %q", p.FlapNote, want)
	}
}

func TestFiringSet(t *testing.T) {
	s := NewFiringSet([]string{"b", "a", "b"}, false)
	if got := s.List(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("List = %q", got)
	}
	long := strings.Repeat("x", 200)
	if !s.Add(long) || !s.Contains(long) || !strings.HasPrefix(s.List()[2], "sha256:") {
		t.Errorf("a long fingerprint is not tracked by its hash: %q", s.List())
	}
	if !s.Remove(long) || s.Remove(long) {
		t.Error("Remove reports wrongly")
	}
	for i := range MaxFiring + 5 {
		s.Add(strings.Repeat("f", i+1))
	}
	if s.Len() != MaxFiring || !s.Overflow {
		t.Errorf("len %d overflow %v; want %d and true", s.Len(), s.Overflow, MaxFiring)
	}

	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"", 0, true}, {`[]`, 0, true}, {`["a","b,c"]`, 2, true}, {`a,b`, 0, false}, {`[1]`, 0, false}} {
		got, ok := DecodeFiring(tc.in)
		if len(got) != tc.want || ok != tc.ok {
			t.Errorf("DecodeFiring(%q) = %q %v", tc.in, got, ok)
		}
	}
	if got, _ := DecodeFiring(EncodeFiring([]string{`a"b`, "c,d"})); len(got) != 2 || got[0] != `a"b` {
		t.Errorf("round trip = %q", got)
	}
	if EncodeFiring(nil) != "[]" {
		t.Error("an empty set is not []")
	}
}

func TestFiringSetCovers(t *testing.T) {
	ab, a := NewFiringSet([]string{"a", "b"}, false), NewFiringSet([]string{"a"}, false)
	for _, tc := range []struct {
		name string
		s, o *FiringSet
		want bool
	}{
		{"equal", a, NewFiringSet([]string{"a"}, false), true},
		{"grown", ab, a, true},
		{"shrunk", a, ab, false},
		{"other", NewFiringSet([]string{"c"}, false), a, false},
		{"overflowed", NewFiringSet([]string{"a"}, true), a, true},
		{"lost the overflow", a, NewFiringSet([]string{"a"}, true), false},
		{"empty covers empty", NewFiringSet(nil, false), NewFiringSet(nil, false), true},
	} {
		if got := tc.s.Covers(tc.o); got != tc.want {
			t.Errorf("%s: %q covers %q = %v; want %v", tc.name, tc.s.List(), tc.o.List(), got, tc.want)
		}
	}
}

// TestDecideLeavesCurrentAlone: the index shares one firing set between decisions;
// Decide must not change it, whatever it plans.
func TestDecideLeavesCurrentAlone(t *testing.T) {
	now := time.Now()
	for _, state := range []klaxonv1.IncidentState{klaxonv1.StateTriggered, klaxonv1.StateResolved} {
		cur := &Current{Name: "x", State: state, ResolvedAt: now.Add(-time.Second), Firing: NewFiringSet([]string{"a", "b"}, false)}
		for _, alerts := range [][]Alert{
			{{Status: StatusFiring, Fingerprint: "a"}},
			{{Status: StatusFiring, Fingerprint: "c"}},
			{{Status: StatusResolved, Fingerprint: "a"}, {Status: StatusResolved, Fingerprint: "b"}},
		} {
			Decide(cur, alerts, Policy{FlapWindow: time.Hour}, now)
			if got := cur.Firing.List(); len(got) != 2 || got[0] != "a" || got[1] != "b" || cur.Firing.Overflow {
				t.Fatalf("%s, %+v: the current set became %q", state, alerts, got)
			}
		}
	}
}
