package notify

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var pt0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var (
	routeEmail = Route{Channel: "team-a/routeEmail", Type: klaxonv1.ChannelEmail, Address: "alice@example.com"}
	routeSMS   = Route{Channel: "team-a/routeSMS", Type: klaxonv1.ChannelWebhook, Address: "+4915550100"}
	routeSlack = Route{Channel: "team-a/routeSlack", Type: klaxonv1.ChannelSlack, Address: "C123"}
)

func pageOf(level int32, routes ...Route) Candidate {
	ev := klaxonv1.EventEscalated
	if level == 1 {
		ev = klaxonv1.EventTriggered
	}
	return Candidate{Event: ev, Level: level, Page: true, Target: "Responder/team-a/alice", Routes: routes}
}

func incidentIn(state klaxonv1.IncidentState) IncidentSummary {
	return IncidentSummary{Namespace: "team-a", Name: "db-down", State: state, ReopenCount: 0}
}

// entry is a log record for candidate c through route r.
func entry(c Candidate, r Route, phase klaxonv1.NotificationPhase, attempts int32, last time.Time) klaxonv1.NotificationRecord {
	rec := klaxonv1.NotificationRecord{
		Key:   LogKey{Event: c.Event, Level: c.Level, Cycle: c.Cycle, Target: c.Target, Destination: r.Destination()}.String(),
		Event: c.Event, Target: c.Target, Channel: r.Destination(), Phase: phase, Attempts: attempts, Reason: "first",
	}
	if !last.IsZero() {
		t := metav1.NewTime(last)
		rec.LastAttemptAt = &t
	}
	if phase == klaxonv1.NotificationPending && attempts > 0 {
		// The attempt's result was recorded; inFlight makes a claim without one.
		rec.Message = fmt.Sprintf("attempt %d failed, retrying: 503 Service Unavailable", attempts)
	}
	return rec
}

// inFlight is a claim whose attempt has no recorded result: under way, or lost in a
// crash.
func inFlight(rec klaxonv1.NotificationRecord) klaxonv1.NotificationRecord {
	rec.Message = ""
	return rec
}

// brief renders outcomes as "candidate/route Action reason [attempt] [+wait] [record phase]".
func brief(p Plan, now time.Time) []string {
	var out []string
	for _, o := range p.Outcomes {
		s := fmt.Sprintf("%d/%d %s %s", o.Candidate, o.Route, o.Action, o.Reason)
		if o.Action == ActionSend {
			s += fmt.Sprintf(" #%d", o.Attempt)
		}
		if !o.At.IsZero() {
			s += fmt.Sprintf(" +%s", o.At.Sub(now).Round(time.Second))
		}
		if o.Record != nil {
			s += " -> " + string(o.Record.Phase)
		}
		out = append(out, s)
	}
	return out
}

func TestPlan(t *testing.T) {
	retry := RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Second, MaxDelay: time.Minute, Jitter: 0.01}
	l1, l2 := pageOf(1, routeEmail, routeSMS), pageOf(2, routeEmail)
	notice := Candidate{Event: klaxonv1.EventTriggered, Target: "StakeholderGroup/team-a/mgmt", Routes: []Route{routeSlack}}
	resolvedTo := func(c Candidate) Candidate {
		return Candidate{Event: klaxonv1.EventResolved, FollowUp: true, Target: c.Target, Routes: c.Routes}
	}
	cases := []struct {
		name       string
		state      klaxonv1.IncidentState
		log        []klaxonv1.NotificationRecord
		candidates []Candidate
		muters     []Muter
		at         time.Duration
		want       []string
	}{{
		name:       "a new page is claimed and sent through the first route",
		candidates: []Candidate{l1},
		want:       []string{"0/0 Send first #1 -> Pending"},
	}, {
		name:       "the candidate's reason wins over the derived one",
		candidates: []Candidate{{Event: klaxonv1.EventEscalated, Level: 1, Cycle: 1, Page: true, Target: "Responder/team-a/alice", Reason: "repeat", Routes: []Route{routeEmail}}},
		want:       []string{"0/0 Send repeat #1 -> Pending"},
	}, {
		name:       "already sent is not sent again",
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationSent, 1, pt0)},
		candidates: []Candidate{l1, l2},
		want:       []string{"0/0 Skip already sent", "1/0 Send escalated #1 -> Pending"},
	}, {
		name:       "acknowledged: pages are held, stakeholders still hear",
		state:      klaxonv1.StateAcknowledged,
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationPending, 1, pt0)},
		candidates: []Candidate{l1, notice},
		want:       []string{"0/-1 Mute muted: incident acknowledged", "1/0 Send first #1 -> Pending"},
	}, {
		name:  "resolved: pending pages are closed, the resolution reaches only who was paged, through that route",
		state: klaxonv1.StateResolved,
		log: []klaxonv1.NotificationRecord{
			entry(l1, routeEmail, klaxonv1.NotificationFailed, 3, pt0),
			entry(l1, routeSMS, klaxonv1.NotificationSent, 1, pt0),
			entry(l2, routeEmail, klaxonv1.NotificationPending, 1, pt0),
		},
		candidates: []Candidate{l2, resolvedTo(l1), resolvedTo(Candidate{Target: "Responder/team-a/bob", Routes: []Route{routeEmail}}), notice},
		want: []string{
			"0/0 Mute muted: incident resolved -> Suppressed",
			// Level 2's page through e-mail may have arrived (its result is unknown), and
			// e-mail comes first.
			"1/0 Send resolved #1 -> Pending",
			"2/-1 Skip not paged",
			"3/-1 Mute muted: incident resolved",
		},
	}, {
		name:       "a route that failed for good hands over to the next",
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationFailed, 1, pt0)},
		candidates: []Candidate{l1},
		want:       []string{"0/0 Skip failed", "0/1 Send first #1 -> Pending"},
	}, {
		name:       "retries exhausted: give up and try the next route at once",
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationPending, 3, pt0)},
		candidates: []Candidate{l1},
		want:       []string{"0/0 GiveUp retries exhausted -> Failed", "0/1 Send first #1 -> Pending"},
	}, {
		name: "every route failed",
		log: []klaxonv1.NotificationRecord{
			entry(l1, routeEmail, klaxonv1.NotificationFailed, 1, pt0),
			entry(l1, routeSMS, klaxonv1.NotificationPending, 3, pt0),
		},
		candidates: []Candidate{l1},
		want:       []string{"0/0 Skip failed", "0/1 GiveUp retries exhausted -> Failed", "0/-1 Exhausted every contact method failed"},
	}, {
		name:       "a pending delivery waits for its backoff",
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationPending, 2, pt0)},
		candidates: []Candidate{l1},
		at:         5 * time.Second,
		want:       []string{"0/0 Wait retry backoff +15s"},
	}, {
		name:       "then is attempted again, keeping its reason",
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationPending, 2, pt0)},
		candidates: []Candidate{l1},
		at:         21 * time.Second,
		want:       []string{"0/0 Send first #3 -> Pending"},
	}, {
		name:       "a claim without a result may be under way elsewhere: it is not repeated",
		log:        []klaxonv1.NotificationRecord{inFlight(entry(l1, routeEmail, klaxonv1.NotificationPending, 1, pt0))},
		candidates: []Candidate{l1},
		at:         30 * time.Second,
		want:       []string{"0/0 Wait attempt in flight +10s"},
	}, {
		name:       "until its sender must have died: then it is sent again",
		log:        []klaxonv1.NotificationRecord{inFlight(entry(l1, routeEmail, klaxonv1.NotificationPending, 1, pt0))},
		candidates: []Candidate{l1},
		at:         InFlightLease,
		want:       []string{"0/0 Send first #2 -> Pending"},
	}, {
		name:       "rate limit: one Slack message per second per channel",
		candidates: []Candidate{notice, {Event: klaxonv1.EventTriggered, Target: "StakeholderGroup/team-a/cs", Routes: []Route{routeSlack}}},
		want:       []string{"0/0 Send first #1 -> Pending", "1/0 Wait rate limited +1s"},
	}, {
		name:       "a maintenance window mutes through the hook",
		candidates: []Candidate{l1},
		muters: []Muter{MuterFunc(func(inc IncidentSummary, c Candidate, now time.Time) (bool, string) {
			return inc.Service == "" && c.Page, "muted: maintenance window nightly"
		})},
		want: []string{"0/0 Mute muted: maintenance window nightly -> Held"},
	}, {
		name:       "a held page stays held, written once",
		candidates: []Candidate{l1},
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationHeld, 0, time.Time{})},
		muters: []Muter{MuterFunc(func(IncidentSummary, Candidate, time.Time) (bool, string) {
			return true, "muted: maintenance window nightly"
		})},
		want: []string{"0/-1 Mute muted: maintenance window nightly"},
	}, {
		name:       "a held page goes out when the window closes, as a first attempt",
		candidates: []Candidate{l1},
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationHeld, 0, time.Time{})},
		want:       []string{"0/0 Send first #1 -> Pending"},
	}, {
		name:       "a held page is suppressed for good when the incident is resolved",
		state:      klaxonv1.StateResolved,
		candidates: []Candidate{l1},
		log:        []klaxonv1.NotificationRecord{entry(l1, routeEmail, klaxonv1.NotificationHeld, 0, time.Time{})},
		want:       []string{"0/0 Mute muted: incident resolved -> Suppressed"},
	}, {
		name:       "a candidate listed twice is planned once",
		candidates: []Candidate{l1, l2, l1},
		want:       []string{"0/0 Send first #1 -> Pending", "1/0 Send escalated #1 -> Pending", "2/-1 Skip duplicate candidate"},
	}, {
		name:       "no routes",
		candidates: []Candidate{{Event: klaxonv1.EventTriggered, Target: "Responder/team-a/nobody"}},
		want:       []string{"0/-1 Skip no route"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state := c.state
			if state == "" {
				state = klaxonv1.StateTriggered
			}
			p := &Pipeline{Muters: c.muters, Limiter: NewRateLimiter(), Retry: retry}
			in := Input{Incident: incidentIn(state), Log: c.log, Candidates: c.candidates}
			now := pt0.Add(c.at)
			plan := p.Plan(in, now)
			if got := brief(plan, now); !slices.Equal(got, c.want) {
				t.Errorf("Plan\n  got  %q\n  want %q", got, c.want)
			}
			var next time.Time
			for _, o := range plan.Outcomes {
				if o.Action == ActionWait && (next.IsZero() || o.At.Before(next)) {
					next = o.At
				}
				if o.Record != nil && (o.Record.Key != o.Key || len(o.Record.Key) > 512) {
					t.Errorf("record key %q for outcome key %q", o.Record.Key, o.Key)
				}
			}
			if !plan.Next.Equal(next) {
				t.Errorf("Next = %s, want %s", plan.Next, next)
			}
		})
	}
}

func TestPlanClaim(t *testing.T) {
	p := &Pipeline{}
	c := pageOf(2, routeEmail)
	c.Cycle = 1
	plan := p.Plan(Input{Incident: IncidentSummary{State: klaxonv1.StateTriggered, ReopenCount: 3}, Candidates: []Candidate{c}}, pt0)
	rec := plan.Outcomes[0].Record
	want := klaxonv1.NotificationRecord{
		Key:   "r3/Escalated/l2/c1/Responder/team-a/alice/team-a/routeEmail#ff8d9819",
		Event: klaxonv1.EventEscalated, Target: "Responder/team-a/alice", Channel: "team-a/routeEmail#ff8d9819",
		Reason: ReasonRepeat, Phase: klaxonv1.NotificationPending, Attempts: 1,
	}
	got := *rec
	got.LastAttemptAt, got.FirstAttemptAt = nil, nil
	if got != want || !rec.LastAttemptAt.Time.Equal(pt0) || !rec.FirstAttemptAt.Time.Equal(pt0) {
		t.Errorf("claim = %+v, want %+v at %s", *rec, want, pt0)
	}
}

// TestDeliveryLifecycle drives one page the way the controller does: plan, claim,
// send, record, requeue. The channel answers 500 twice and then 200: one delivery,
// three attempts recorded, never two attempts at once, never before the backoff.
func TestDeliveryLifecycle(t *testing.T) {
	p := &Pipeline{Limiter: NewRateLimiter()}
	c := pageOf(1, routeEmail, routeSMS)
	var log []klaxonv1.NotificationRecord
	answers := []error{
		&SendError{Err: errors.New("internal server error"), StatusCode: 500},
		&SendError{Err: errors.New("bad gateway"), StatusCode: 502},
		nil,
	}
	now := pt0
	sends := 0
	var lastRetryAt time.Time
	for step := 0; step < 20; step++ {
		plan := p.Plan(Input{Incident: incidentIn(klaxonv1.StateTriggered), Log: log, Candidates: []Candidate{c}}, now)
		o := plan.Outcomes[0]
		switch o.Action {
		case ActionSkip:
			if o.Reason != ReasonAlreadySent {
				t.Fatalf("skip: %s", o.Reason)
			}
			if sends != 3 {
				t.Fatalf("delivered after %d attempts", sends)
			}
			rec := Find(log, o.Key)
			if rec.Phase != klaxonv1.NotificationSent || rec.Attempts != 3 || rec.Message != "" {
				t.Errorf("final record %+v", rec)
			}
			return
		case ActionWait:
			now = o.At
			continue
		case ActionSend:
		default:
			t.Fatalf("unexpected %s %s", o.Action, o.Reason)
		}
		if now.Before(lastRetryAt) {
			t.Fatalf("attempt at %s before the retry time %s", now, lastRetryAt)
		}
		log = Upsert(log, *o.Record) // the conditional update before sending
		err := answers[sends]
		sends++
		res := p.Record(*o.Record, c.Routes[o.Route], err, now)
		log = Upsert(log, res.Record)
		if err != nil {
			if res.Record.Phase != klaxonv1.NotificationPending || res.RetryIn <= 0 || !strings.Contains(res.Record.Message, "failed, retrying") {
				t.Fatalf("after %v: %+v", err, res)
			}
			lastRetryAt = now.Add(res.RetryIn)
		}
	}
	t.Fatal("never delivered")
}

func TestRecord(t *testing.T) {
	l := NewRateLimiter()
	p := &Pipeline{Limiter: l}
	claimed := klaxonv1.NotificationRecord{Key: "k", Phase: klaxonv1.NotificationPending, Attempts: 1}

	res := p.Record(claimed, routeEmail, &SendError{Err: errors.New("no such user"), Permanent: true, StatusCode: 404}, pt0)
	if !res.GaveUp || res.Record.Phase != klaxonv1.NotificationFailed ||
		res.Record.Message != "failed after 1 attempt(s): permanent failure (HTTP 404): no such user" {
		t.Errorf("permanent: %+v", res)
	}

	res = p.Record(claimed, routeSlack, &SendError{Err: errors.New("slow down"), StatusCode: 429, RetryAfter: 30 * time.Second}, pt0)
	if res.GaveUp || res.RetryIn != 30*time.Second {
		t.Errorf("429: %+v", res)
	}
	// The whole Slack channel waits, not only this delivery.
	if w := l.Reserve(routeSlack.Channel, DefaultLimit(klaxonv1.ChannelSlack), pt0.Add(time.Second)); w != 29*time.Second {
		t.Errorf("after a 429 the bucket waits %s", w)
	}

	long := strings.Repeat("x", 2000)
	res = p.Record(claimed, routeEmail, errors.New(long), pt0)
	if len(res.Record.Message) > 512 {
		t.Errorf("message of %d bytes", len(res.Record.Message))
	}
	res = p.Record(claimed, routeEmail, nil, pt0.Add(time.Second))
	if res.Record.Phase != klaxonv1.NotificationSent || !res.Record.LastAttemptAt.Time.Equal(pt0.Add(time.Second)) {
		t.Errorf("success: %+v", res.Record)
	}
	if claimed.LastAttemptAt != nil {
		t.Error("Record changed its input")
	}
}

// TestPlanAfterCrash: a claim written before a crash (Pending, result unknown) is
// sent again after the backoff: at least once, and once per crash at most.
func TestPlanAfterCrash(t *testing.T) {
	p := &Pipeline{}
	c := pageOf(1, routeEmail)
	log := []klaxonv1.NotificationRecord{entry(c, routeEmail, klaxonv1.NotificationPending, 1, pt0)}
	plan := p.Plan(Input{Incident: incidentIn(klaxonv1.StateTriggered), Log: log, Candidates: []Candidate{c}}, pt0.Add(100*time.Millisecond))
	if o := plan.Outcomes[0]; o.Action != ActionWait {
		t.Fatalf("right after the claim: %s %s", o.Action, o.Reason)
	}
	plan = p.Plan(Input{Incident: incidentIn(klaxonv1.StateTriggered), Log: log, Candidates: []Candidate{c}}, plan.Next)
	if o := plan.Outcomes[0]; o.Action != ActionSend || o.Attempt != 2 {
		t.Fatalf("after the backoff: %s %s #%d", o.Action, o.Reason, o.Attempt)
	}
	// The same input plans the same (the controller's restart sees what we see).
	again := p.Plan(Input{Incident: incidentIn(klaxonv1.StateTriggered), Log: log, Candidates: []Candidate{c}}, plan.Outcomes[0].Record.LastAttemptAt.Time)
	if fmt.Sprint(brief(again, pt0)) != fmt.Sprint(brief(plan, pt0)) {
		t.Errorf("plans differ: %v vs %v", brief(again, pt0), brief(plan, pt0))
	}
}

func TestStateMute(t *testing.T) {
	events := []klaxonv1.IncidentEvent{klaxonv1.EventTriggered, klaxonv1.EventEscalated, klaxonv1.EventAcknowledged,
		klaxonv1.EventStageChanged, klaxonv1.EventResolved, klaxonv1.EventPostmortemPublished}
	// table[state] lists, per event in the order above, whether a page / a notice
	// passes. Pages announce Triggered or Escalated; the other events are never pages.
	type row struct{ page, notice string }
	table := map[klaxonv1.IncidentState]row{
		klaxonv1.StateTriggered:    {page: "yyyyyy", notice: "yyyyyy"},
		klaxonv1.StateAcknowledged: {page: "nnnnnn", notice: "yyyyyy"},
		klaxonv1.StateResolved:     {page: "nnnyyy", notice: "nnnyyy"},
	}
	for state, r := range table {
		for i, ev := range events {
			for _, isPage := range []bool{true, false} {
				want := r.notice[i] == 'y'
				if isPage {
					want = r.page[i] == 'y'
				}
				muted, reason := StateMute(IncidentSummary{State: state}, Candidate{Event: ev, Page: isPage})
				if muted == want || (muted && reason == "") {
					t.Errorf("%s, %s, page %v: muted %v (%q)", state, ev, isPage, muted, reason)
				}
			}
		}
	}
}
