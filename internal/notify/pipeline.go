package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Route is one way to deliver a candidate: a channel and an address on it.
type Route struct {
	// Channel is the NotificationChannel, "namespace/name".
	Channel string
	// Type of the channel.
	Type klaxonv1.ChannelType
	// Address on the channel; may be empty.
	Address string
	// Bucket is the rate-limit bucket (BucketKey); Channel when empty.
	Bucket string
	// Limit of the bucket; DefaultLimit(Type) when zero.
	Limit Limit
}

// Destination is the route as the log names it.
func (r Route) Destination() string { return Destination(r.Channel, r.Address) }

// Candidate is a message the controller wants one recipient to get.
type Candidate struct {
	// Event announced.
	Event klaxonv1.IncidentEvent
	// Variant tells apart repeats of the event that must each be sent, e.g. the stage
	// of a StageChanged (see LogKey).
	Variant string
	// Level and Cycle of an escalation page; 0 otherwise.
	Level int32
	Cycle int32
	// Page is true for an escalation level paging its targets (see StateMute).
	Page bool
	// FollowUp is true for a message to someone paged (Acknowledged, Resolved): it
	// goes only through the routes that delivered a page to them since the last
	// reopen, and only if one did.
	FollowUp bool
	// Target is the recipient's ID, e.g. "Responder/team-a/alice".
	Target string
	// Reason overrides the reason Decide derives, e.g. the escalation Page's.
	Reason string
	// Routes in order of preference: a person's contact methods, or a group
	// channel's one. A route is used only when those before it failed for good.
	Routes []Route
}

// Action is what to do with a candidate now.
type Action string

// Actions.
const (
	// ActionSend: claim the delivery (write Record) and send it now.
	ActionSend Action = "Send"
	// ActionWait: come back at At (rate limit or retry backoff).
	ActionWait Action = "Wait"
	// ActionMute: a mute stage holds it; Record, when set, closes a pending entry.
	ActionMute Action = "Mute"
	// ActionSkip: nothing to do (already sent, suppressed, not paged).
	ActionSkip Action = "Skip"
	// ActionGiveUp: the route failed for good; write Record (Failed). The next route,
	// if any, follows in the same Plan; the timeline should say so.
	ActionGiveUp Action = "GiveUp"
	// ActionExhausted: every route failed for good; nothing more can be done.
	ActionExhausted Action = "Exhausted"
)

// Outcome is the pipeline's decision for one candidate and route.
type Outcome struct {
	// Candidate is the index in Input.Candidates.
	Candidate int
	// Route is the index in the candidate's Routes; -1 when the decision is not about
	// one route.
	Route int
	// Key of the delivery in the log; empty when Route is -1.
	Key string
	// Action to take.
	Action Action
	// Reason for it: why it is sent (first, escalated, repeat, resolved, ...) or why
	// not (already sent, rate limited, retry backoff, muted: ...).
	Reason string
	// Attempt is the number of the attempt a Send makes, from 1.
	Attempt int32
	// At is when to come back, for Wait.
	At time.Time
	// Record is the log entry to write before acting, when there is one: Pending for
	// Send, Failed for GiveUp, Suppressed for a final Mute of a pending delivery.
	Record *klaxonv1.NotificationRecord
}

// Input is what the pipeline plans from.
type Input struct {
	// Incident as of now; its State drives StateMute and its ReopenCount the keys.
	Incident IncidentSummary
	// Log is the incident's notification log (status.notifications).
	Log []klaxonv1.NotificationRecord
	// Candidates to consider.
	Candidates []Candidate
}

// Plan is the pipeline's decision for one incident at one time.
type Plan struct {
	// Outcomes in candidate order.
	Outcomes []Outcome
	// Next is the earliest At of the Wait outcomes: when to reconcile again. Zero when
	// nothing waits.
	Next time.Time
}

// InFlightLease is how long a claimed delivery without a recorded result is taken to
// be under way. It is longer than any sender's bound on an attempt (the incident
// controller gives its deliveries 30 s), so a delivery is repeated only when its
// sender died: after a crash, the unrecorded delivery goes out again this long after
// it was claimed.
const InFlightLease = 40 * time.Second

// Pipeline decides, for one incident at one time, which deliveries to attempt now
// and when to come back. Its stages run in order for each candidate:
//
//  1. mute: StateMute, then Muters;
//  2. dedup: Decide against the notification log, per route in preference order, so a
//     route whose delivery failed for good hands over to the next;
//  3. retry: a Pending entry (a claimed attempt that failed, or whose result was lost
//     in a restart) is due again when Retry says, or gives up;
//  4. rate limit: a delivery due now takes a token from its bucket, or waits;
//  5. record: the controller writes each Outcome's Record before sending, then the
//     attempt's result from Record.
//
// The retry stage comes before the rate limit so that a delivery still backing off
// does not spend a token. Everything but the rate limiter's buckets is a function
// of the input and now.
//
// The controller drives it on each reconcile:
//
//  1. Candidates: the pages of escalation.Advance's Step (one per recipient, its
//     contact methods as Routes), notices of the transitions it observed, FollowUp
//     candidates for Acknowledged and Resolved to those paged, and Outstanding(log)
//     with their routes resolved again.
//  2. Plan, then write every Outcome's Record (Upsert, then Compact) together with
//     the new escalation status in one status update with the resourceVersion it
//     read. On a conflict nothing was sent: requeue. So two controllers never both
//     claim a delivery.
//  3. Send each ActionSend outcome (Delivery.Key = DeliveryKey(the incident's UID,
//     Outcome.Key)), then write Record's result. GaveUp: plan again at once for the
//     next route, and say so in the timeline.
//  4. Requeue after the earliest of Plan.Next, Recorded.RetryIn and the escalation's
//     Step.Next.
//
// A crash between sending and recording leaves the entry Pending and the retry stage
// sends it again: at least once, and at most one repeat per crash.
//
// The zero value has no extra Muters, no rate limit and DefaultRetryPolicy.
type Pipeline struct {
	// Muters run after StateMute.
	Muters []Muter
	// Limiter applies the per-bucket rate limits; nil for none.
	Limiter *RateLimiter
	// Retry bounds the retries of a delivery.
	Retry RetryPolicy
}

// Plan runs the stages for each candidate of in at now.
func (p *Pipeline) Plan(in Input, now time.Time) Plan {
	var out Plan
	seen := map[string]bool{}
	for ci, c := range in.Candidates {
		// A candidate listed twice (a page also among the outstanding ones) is planned
		// once: two Sends of one key would be two deliveries.
		dup := false
		for ri := range c.Routes {
			k := p.key(in, c, ri)
			dup = dup || seen[k]
			seen[k] = true
		}
		if dup {
			out.Outcomes = append(out.Outcomes, Outcome{Candidate: ci, Route: -1, Action: ActionSkip, Reason: "duplicate candidate"})
			continue
		}
		for _, o := range p.candidate(in, ci, c, now) {
			if o.Action == ActionWait && (out.Next.IsZero() || o.At.Before(out.Next)) {
				out.Next = o.At
			}
			out.Outcomes = append(out.Outcomes, o)
		}
	}
	return out
}

func (p *Pipeline) candidate(in Input, ci int, c Candidate, now time.Time) []Outcome {
	routes := make([]int, 0, len(c.Routes))
	for ri, r := range c.Routes {
		if !c.FollowUp || delivered(in.Log, in.Incident.ReopenCount, c.Target, r.Destination()) {
			routes = append(routes, ri)
		}
	}
	if len(routes) == 0 {
		reason := "no route"
		if c.FollowUp {
			reason = "not paged"
		}
		return []Outcome{{Candidate: ci, Route: -1, Action: ActionSkip, Reason: reason}}
	}

	if muted, reason, final, hold := p.mute(in.Incident, c, now); muted {
		var out []Outcome
		for _, ri := range routes {
			key := p.key(in, c, ri)
			rec := Find(in.Log, key)
			if final && rec != nil && (rec.Phase == klaxonv1.NotificationPending || rec.Phase == klaxonv1.NotificationHeld) {
				closed := *rec.DeepCopy()
				closed.Phase, closed.Message = klaxonv1.NotificationSuppressed, reason
				out = append(out, Outcome{Candidate: ci, Route: ri, Key: key, Action: ActionMute, Reason: reason, Record: &closed})
			}
		}
		// A page a Muter holds is written to the log as Held (its first route's key),
		// so later plans find it among the Outstanding ones and send it once the
		// mute lifts: the escalation that produced it has moved on and will not
		// produce it again.
		if hold && c.Page && len(out) == 0 {
			key := p.key(in, c, routes[0])
			if Find(in.Log, key) == nil {
				lk := p.logKey(in, c, routes[0])
				why := c.Reason
				if why == "" {
					why = lk.Reason()
				}
				held := p.claim(c, routes[0], lk, why, nil, now)
				held.Phase, held.Attempts, held.LastAttemptAt, held.FirstAttemptAt = klaxonv1.NotificationHeld, 0, nil, nil
				held.Message = shorten(reason, 256)
				out = append(out, Outcome{Candidate: ci, Route: routes[0], Key: key, Action: ActionMute, Reason: reason, Record: &held})
			}
		}
		if len(out) == 0 {
			out = append(out, Outcome{Candidate: ci, Route: -1, Action: ActionMute, Reason: reason})
		}
		return out
	}

	var out []Outcome
	for _, ri := range routes {
		o, next := p.route(in, ci, c, ri, now)
		out = append(out, o)
		if !next {
			return out
		}
	}
	return append(out, Outcome{Candidate: ci, Route: -1, Action: ActionExhausted, Reason: "every contact method failed"})
}

// route decides one route; next reports whether the following route is to be tried.
func (p *Pipeline) route(in Input, ci int, c Candidate, ri int, now time.Time) (o Outcome, next bool) {
	lk := p.logKey(in, c, ri)
	key := lk.String()
	o = Outcome{Candidate: ci, Route: ri, Key: key}
	send, reason := Decide(in.Log, lk)
	switch {
	case send:
		if c.Reason != "" {
			reason = c.Reason
		}
		return p.limit(o, c.Routes[ri], p.claim(c, ri, lk, reason, nil, now), now), false
	case reason == ReasonFailed:
		o.Action, o.Reason = ActionSkip, reason
		return o, true
	case reason != ReasonPending:
		o.Action, o.Reason = ActionSkip, reason
		return o, false
	}

	// Retry stage: the last attempt failed, or its result was lost.
	rec := Find(in.Log, key)
	last := now
	if rec.LastAttemptAt != nil {
		last = rec.LastAttemptAt.Time
	}
	// A claim with no result yet may be an attempt still under way, by this
	// controller's previous reconcile or by another sender (a post-mortem notice, a
	// runbook step): only once it has had time to finish is its result lost.
	if rec.Message == "" {
		if due := last.Add(InFlightLease); now.Before(due) {
			o.Action, o.Reason, o.At = ActionWait, "attempt in flight", due
			return o, false
		}
	}
	wait, giveUp := p.Retry.NextAttempt(key, int(rec.Attempts), nil, firstAttempt(rec), last)
	if giveUp {
		failed := *rec.DeepCopy()
		failed.Phase = klaxonv1.NotificationFailed
		failed.Message = truncateMessage(fmt.Sprintf("gave up after %d attempts: %s", rec.Attempts, rec.Message))
		o.Action, o.Reason, o.Record = ActionGiveUp, "retries exhausted", &failed
		return o, true
	}
	if due := last.Add(wait); now.Before(due) {
		o.Action, o.Reason, o.At = ActionWait, "retry backoff", due
		return o, false
	}
	return p.limit(o, c.Routes[ri], p.claim(c, ri, lk, rec.Reason, rec, now), now), false
}

// limit is the rate-limit stage for a delivery due now: Send with the claim, or Wait.
func (p *Pipeline) limit(o Outcome, r Route, claim klaxonv1.NotificationRecord, now time.Time) Outcome {
	if p.Limiter != nil {
		bucket, limit := r.Bucket, r.Limit
		if bucket == "" {
			bucket = r.Channel
		}
		if limit == (Limit{}) {
			limit = DefaultLimit(r.Type)
		}
		if wait := p.Limiter.Reserve(bucket, limit, now); wait > 0 {
			o.Action, o.Reason, o.At = ActionWait, "rate limited", now.Add(wait)
			return o
		}
	}
	o.Action, o.Reason, o.Attempt, o.Record = ActionSend, claim.Reason, claim.Attempts, &claim
	return o
}

// claim is the Pending entry written before an attempt: the attempt counted before
// it is made, so a crash mid-send still counts it.
func (p *Pipeline) claim(c Candidate, ri int, lk LogKey, reason string, prev *klaxonv1.NotificationRecord, now time.Time) klaxonv1.NotificationRecord {
	rec := klaxonv1.NotificationRecord{
		Key:     lk.String(),
		Event:   c.Event,
		Target:  shorten(c.Target, maxLogTarget),
		Channel: shorten(c.Routes[ri].Destination(), maxLogTarget),
		Reason:  shorten(reason, 64),
	}
	if prev != nil {
		rec = *prev.DeepCopy()
	}
	// No message until the attempt's result is recorded: that is how the retry
	// stage tells an attempt under way from one that failed.
	rec.Message = ""
	rec.Phase = klaxonv1.NotificationPending
	rec.Attempts++
	t := metav1.NewTime(now)
	rec.LastAttemptAt = &t
	if rec.FirstAttemptAt == nil {
		rec.FirstAttemptAt = &t
	}
	return rec
}

// firstAttempt is when a delivery was first attempted; zero when unknown.
func firstAttempt(rec *klaxonv1.NotificationRecord) time.Time {
	if rec.FirstAttemptAt == nil {
		return time.Time{}
	}
	return rec.FirstAttemptAt.Time
}

func (p *Pipeline) logKey(in Input, c Candidate, ri int) LogKey {
	variant := c.Variant
	if c.FollowUp {
		variant = followUpVariant
		if c.Variant != "" {
			variant += "." + c.Variant
		}
	}
	return LogKey{ReopenCount: in.Incident.ReopenCount, Event: c.Event, Variant: variant, Level: c.Level, Cycle: c.Cycle,
		Target: c.Target, Destination: c.Routes[ri].Destination()}
}

func (p *Pipeline) key(in Input, c Candidate, ri int) string { return p.logKey(in, c, ri).String() }

// mute runs the mute stages; final is true when the mute lasts (a resolved incident).
// mute runs the mute stage: final when the mute never lifts (the incident is
// resolved), hold when a Muter (a maintenance window) holds the candidate for later.
func (p *Pipeline) mute(inc IncidentSummary, c Candidate, now time.Time) (muted bool, reason string, final, hold bool) {
	if muted, reason := StateMute(inc, c); muted {
		return true, reason, inc.State == klaxonv1.StateResolved, false
	}
	for _, m := range p.Muters {
		if muted, reason := m.Mute(inc, c, now); muted {
			return true, reason, false, true
		}
	}
	return false, "", false, false
}

// delivered reports whether the log holds a page to target through destination since
// the reopen that may have reached them: sent, or attempted with the result unknown.
func delivered(log []klaxonv1.NotificationRecord, reopenCount int32, target, destination string) bool {
	prefix := fmt.Sprintf("r%d/", reopenCount)
	target, destination = shorten(target, maxLogTarget), shorten(destination, maxLogTarget)
	for _, r := range log {
		if !strings.HasPrefix(r.Key, prefix) || r.Target != target || r.Channel != destination {
			continue
		}
		if r.Event != klaxonv1.EventTriggered && r.Event != klaxonv1.EventEscalated {
			continue
		}
		if r.Phase == klaxonv1.NotificationSent || (r.Phase == klaxonv1.NotificationPending && r.Attempts > 0) {
			return true
		}
	}
	return false
}

// Recorded is the result of an attempt as the record stage saw it.
type Recorded struct {
	// Record is the log entry to write: Sent, Pending (to retry) or Failed.
	Record klaxonv1.NotificationRecord
	// RetryIn is how long until the retry, for a Pending record.
	RetryIn time.Duration
	// GaveUp is true when the delivery failed for good; plan again to try the next
	// route, and put it in the timeline.
	GaveUp bool
}

// Record is the record stage: from the Pending entry claimed for an attempt through
// route and the attempt's error (nil for success) at now, the entry to write and
// whether to retry. A 429 or 503 with Retry-After also stops the route's rate-limit
// bucket for that long, since the limit is the receiver's.
func (p *Pipeline) Record(claimed klaxonv1.NotificationRecord, route Route, err error, now time.Time) Recorded {
	rec := *claimed.DeepCopy()
	// The retry stage counts the backoff from the end of the attempt, as RetryIn does.
	t := metav1.NewTime(now)
	rec.LastAttemptAt = &t
	if err == nil {
		rec.Phase, rec.Message = klaxonv1.NotificationSent, ""
		return Recorded{Record: rec}
	}
	var se *SendError
	if p.Limiter != nil && errors.As(err, &se) && se.RetryAfter > 0 {
		bucket := route.Bucket
		if bucket == "" {
			bucket = route.Channel
		}
		p.Limiter.Block(bucket, now.Add(se.RetryAfter))
	}
	wait, giveUp := p.Retry.NextAttempt(rec.Key, int(rec.Attempts), err, firstAttempt(&rec), now)
	if giveUp {
		rec.Phase = klaxonv1.NotificationFailed
		rec.Message = truncateMessage(fmt.Sprintf("failed after %d attempt(s): %v", rec.Attempts, err))
		return Recorded{Record: rec, GaveUp: true}
	}
	rec.Phase = klaxonv1.NotificationPending
	rec.Message = truncateMessage(fmt.Sprintf("attempt %d failed, retrying in %s: %v", rec.Attempts, wait.Round(time.Millisecond), err))
	return Recorded{Record: rec, RetryIn: wait}
}

// truncateMessage fits s in a log entry's message (512 bytes).
func truncateMessage(s string) string {
	const maxMessage = 512
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("…")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
