package notify

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestKey(t *testing.T) {
	got := Key(2, klaxonv1.EventEscalated, 3, 1, "Responder/team-a/alice", Destination("team-a/email", "alice@example.com"))
	if want := "r2/Escalated/l3/c1/Responder/team-a/alice/team-a/email#ff8d9819"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	if d := Destination("team-a/slack", ""); d != "team-a/slack" {
		t.Errorf("Destination without address = %q", d)
	}
	if Destination("c", "a@x") == Destination("c", "b@x") {
		t.Error("two addresses on one channel share a destination")
	}

	long := strings.Repeat("ü", 400) // 800 bytes, multi-byte
	k1 := Key(2147483647, klaxonv1.IncidentEvent(strings.Repeat("E", 100)), -2147483648, 2147483647, long, long+"x")
	k2 := Key(2147483647, klaxonv1.IncidentEvent(strings.Repeat("E", 100)), -2147483648, 2147483647, long+"y", long+"x")
	if len(k1) > 512 || !utf8.ValidString(k1) || k1 == k2 {
		t.Errorf("long keys: %d bytes, valid %v, distinct %v", len(k1), utf8.ValidString(k1), k1 != k2)
	}
	if k1 != Key(2147483647, klaxonv1.IncidentEvent(strings.Repeat("E", 100)), -2147483648, 2147483647, long, long+"x") {
		t.Error("Key is not stable")
	}
}

func TestDedupKey(t *testing.T) {
	if got := DedupKey("team-a", "db-down", 0); got != "klaxon/team-a/db-down/0" {
		t.Errorf("DedupKey = %q", got)
	}
	if DedupKey("team-a", "db-down", 0) == DedupKey("team-a", "db-down", 1) {
		t.Error("a reopen shares the dedup key")
	}
	if got := DedupKey(strings.Repeat("n", 63), strings.Repeat("x", 253), 7); len(got) > 255 {
		t.Errorf("DedupKey is %d bytes", len(got))
	}
}

func TestDecide(t *testing.T) {
	key := func(ev klaxonv1.IncidentEvent, level, cycle int32) LogKey {
		return LogKey{ReopenCount: 1, Event: ev, Level: level, Cycle: cycle, Target: "Responder/ns/alice", Destination: "ns/email"}
	}
	rec := func(k LogKey, phase klaxonv1.NotificationPhase) klaxonv1.NotificationRecord {
		return klaxonv1.NotificationRecord{Key: k.String(), Phase: phase}
	}
	log := []klaxonv1.NotificationRecord{
		rec(key(klaxonv1.EventTriggered, 1, 0), klaxonv1.NotificationSent),
		rec(key(klaxonv1.EventEscalated, 2, 0), klaxonv1.NotificationPending),
		rec(key(klaxonv1.EventEscalated, 3, 0), klaxonv1.NotificationFailed),
		rec(key(klaxonv1.EventEscalated, 1, 1), klaxonv1.NotificationSuppressed),
	}
	cases := []struct {
		k      LogKey
		send   bool
		reason string
	}{
		{key(klaxonv1.EventTriggered, 1, 0), false, ReasonAlreadySent},
		{key(klaxonv1.EventEscalated, 2, 0), false, ReasonPending},
		{key(klaxonv1.EventEscalated, 3, 0), false, ReasonFailed},
		{key(klaxonv1.EventEscalated, 1, 1), false, ReasonSuppressed},
		{LogKey{ReopenCount: 2, Event: klaxonv1.EventTriggered, Level: 1, Target: "Responder/ns/alice", Destination: "ns/email"}, true, ReasonFirst},
		{key(klaxonv1.EventEscalated, 4, 0), true, ReasonEscalated},
		{key(klaxonv1.EventEscalated, 2, 1), true, ReasonRepeat},
		{key(klaxonv1.EventResolved, 0, 0), true, ReasonResolved},
		{key(klaxonv1.EventStageChanged, 0, 0), true, "stage-changed"},
		{key(klaxonv1.EventPostmortemPublished, 0, 0), true, "postmortem-published"},
		{key(klaxonv1.EventAcknowledged, 0, 0), true, "acknowledged"},
	}
	for _, c := range cases {
		send, reason := Decide(log, c.k)
		if send != c.send || reason != c.reason {
			t.Errorf("Decide(%s) = %v, %q; want %v, %q", c.k, send, reason, c.send, c.reason)
		}
	}
}

func TestUpsert(t *testing.T) {
	log := []klaxonv1.NotificationRecord{{Key: "a", Phase: klaxonv1.NotificationPending}, {Key: "b"}}
	out := Upsert(log, klaxonv1.NotificationRecord{Key: "a", Phase: klaxonv1.NotificationSent})
	out = Upsert(out, klaxonv1.NotificationRecord{Key: "c"})
	if len(out) != 3 || out[0].Phase != klaxonv1.NotificationSent || out[2].Key != "c" {
		t.Errorf("Upsert = %+v", out)
	}
	if log[0].Phase != klaxonv1.NotificationPending {
		t.Error("Upsert changed its input")
	}
}

func TestVariantKeepsRepeatedEventsApart(t *testing.T) {
	k := LogKey{Event: klaxonv1.EventStageChanged, Variant: "Contain", Target: "StakeholderGroup/ns/mgmt", Destination: "ns/slack"}
	k2 := k
	k2.Variant = "Investigate"
	log := []klaxonv1.NotificationRecord{{Key: k.String(), Phase: klaxonv1.NotificationSent}}
	if send, _ := Decide(log, k2); !send || k.String() != "r0/StageChanged.Contain/l0/c0/StakeholderGroup/ns/mgmt/ns/slack" {
		t.Errorf("a second stage change is deduplicated against the first (%s)", k)
	}
}

func TestOutstanding(t *testing.T) {
	p := &Pipeline{}
	rec := func(c Candidate, ri int, reopen int32, phase klaxonv1.NotificationPhase) klaxonv1.NotificationRecord {
		k := p.logKey(Input{Incident: IncidentSummary{ReopenCount: reopen}}, c, ri)
		reason := c.Reason
		if reason == "" {
			reason = k.Reason()
		}
		return klaxonv1.NotificationRecord{Key: k.String(), Event: c.Event, Target: c.Target,
			Channel: c.Routes[ri].Destination(), Reason: reason, Phase: phase, Attempts: 1}
	}
	l1 := pageOf(1, routeEmail, routeSMS)
	l2 := pageOf(2, routeEmail)
	stage := Candidate{Event: klaxonv1.EventStageChanged, Variant: "Contain", Target: "StakeholderGroup/ns/mgmt", Routes: []Route{routeSlack}}
	resolved := Candidate{Event: klaxonv1.EventResolved, FollowUp: true, Target: l1.Target, Routes: l1.Routes}
	log := []klaxonv1.NotificationRecord{
		rec(l1, 0, 0, klaxonv1.NotificationSent), // an earlier reopen
		rec(l1, 0, 1, klaxonv1.NotificationFailed),
		rec(l1, 1, 1, klaxonv1.NotificationSent), // l1 done through its second route
		rec(l2, 0, 1, klaxonv1.NotificationPending),
		rec(stage, 0, 1, klaxonv1.NotificationFailed), // no other route: outstanding, Plan says Exhausted
		rec(resolved, 0, 1, klaxonv1.NotificationPending),
		{Key: "garbage", Phase: klaxonv1.NotificationPending},
	}
	var got []string
	for _, c := range Outstanding(log, 1) {
		got = append(got, fmt.Sprintf("%s/%s/l%d/c%d/%s page=%v followUp=%v reason=%s", c.Event, c.Variant, c.Level, c.Cycle, c.Target, c.Page, c.FollowUp, c.Reason))
	}
	want := []string{
		"Escalated//l2/c0/Responder/team-a/alice page=true followUp=false reason=escalated",
		"StageChanged/Contain/l0/c0/StakeholderGroup/ns/mgmt page=false followUp=false reason=stage-changed",
		"Resolved//l0/c0/Responder/team-a/alice page=false followUp=true reason=resolved",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Outstanding\n  got  %q\n  want %q", got, want)
	}
	// With its routes back, an outstanding candidate plans as it did: the same keys.
	out := Outstanding(log, 1)
	out[2].Routes = l1.Routes
	plan := p.Plan(Input{Incident: IncidentSummary{State: klaxonv1.StateTriggered, ReopenCount: 1}, Log: log, Candidates: out[2:]}, pt0)
	if o := plan.Outcomes[0]; o.Key != log[5].Key {
		t.Errorf("rebuilt follow-up plans %s %s for key %q, want %q", o.Action, o.Reason, o.Key, log[5].Key)
	}
}

func TestCompact(t *testing.T) {
	mk := func(key, target, channel string, phase klaxonv1.NotificationPhase) klaxonv1.NotificationRecord {
		return klaxonv1.NotificationRecord{Key: key, Target: target, Channel: channel, Phase: phase}
	}
	log := []klaxonv1.NotificationRecord{
		mk("r0/Triggered/l1/c0/a/x", "a", "x", klaxonv1.NotificationSent),       // 0 earlier reopen
		mk("r1/Triggered/l1/c0/a/x", "a", "x", klaxonv1.NotificationSent),       // 1 older page to a/x
		mk("r1/Escalated/l1/c1/a/x", "a", "x", klaxonv1.NotificationSent),       // 2 newest page to a/x: kept
		mk("r1/Triggered/l0/c0/g/s", "g", "s", klaxonv1.NotificationSent),       // 3 a notice
		mk("r1/Escalated/l2/c0/b/x", "b", "x", klaxonv1.NotificationFailed),     // 4 outstanding: kept
		mk("r1/Escalated/l2/c0/b/y", "b", "y", klaxonv1.NotificationPending),    // 5 pending: never dropped
		mk("r1/Escalated/l3/c0/c/x", "c", "x", klaxonv1.NotificationSuppressed), // 6
	}
	keys := func(l []klaxonv1.NotificationRecord) string {
		var ks []string
		for _, r := range l {
			ks = append(ks, r.Key)
		}
		return strings.Join(ks, " ")
	}
	cases := []struct {
		limit int
		want  []int
	}{
		{7, []int{0, 1, 2, 3, 4, 5, 6}},
		{6, []int{1, 2, 3, 4, 5, 6}},
		{4, []int{2, 4, 5, 6}},
		{3, []int{2, 4, 5}},
		{1, []int{5}},
	}
	for _, c := range cases {
		var want []klaxonv1.NotificationRecord
		for _, i := range c.want {
			want = append(want, log[i])
		}
		if got := Compact(log, 1, c.limit); keys(got) != keys(want) {
			t.Errorf("Compact(%d)\n  got  %s\n  want %s", c.limit, keys(got), keys(want))
		}
	}
}
