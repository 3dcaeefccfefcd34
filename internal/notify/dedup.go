package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Reasons a delivery is sent, recorded in the notification log entry.
const (
	// ReasonFirst: the first page of the incident or of a reopen.
	ReasonFirst = "first"
	// ReasonEscalated: a later level of the escalation policy.
	ReasonEscalated = "escalated"
	// ReasonRepeat: a repeat cycle of the escalation policy.
	ReasonRepeat = "repeat"
	// ReasonResolved: the incident was resolved.
	ReasonResolved = "resolved"
)

// Reasons Decide gives for not sending.
const (
	// ReasonAlreadySent: the log says the delivery went out.
	ReasonAlreadySent = "already sent"
	// ReasonPending: a delivery was claimed and may be in flight or awaiting a retry;
	// the retry stage decides when it is attempted again.
	ReasonPending = "pending"
	// ReasonFailed: the delivery failed for good; the next contact method is next.
	ReasonFailed = "failed"
	// ReasonSuppressed: the delivery was muted for good (the incident was resolved).
	ReasonSuppressed = "suppressed"
)

// Bounds of the notification log's fields (the CRD's maxLength).
const (
	maxKey       = 512
	maxLogTarget = 253
	// maxKeyPart bounds each free-form part of a key, so a key of two of them and
	// the fixed parts stays under maxKey.
	maxKeyPart = 200
)

// LogKey identifies one delivery in an incident's notification log: one per reopen,
// event, escalation level and cycle, target and destination. The reopen count in it
// makes a reopened incident page again; the level and cycle make each escalation step
// a delivery of its own.
type LogKey struct {
	// ReopenCount of the incident (status.reopenCount).
	ReopenCount int32
	// Event announced.
	Event klaxonv1.IncidentEvent
	// Variant tells apart repeats of one event that must each be sent, e.g. the stage
	// a StageChanged moved to; empty for most events.
	Variant string
	// Level and Cycle of the escalation page; 0 for messages outside escalation.
	Level int32
	Cycle int32
	// Target is the recipient's ID, e.g. "Responder/team-a/alice" or
	// "StakeholderGroup/team-a/customers".
	Target string
	// Destination is where it went: Destination(channel, address).
	Destination string
}

// String is the key as the log stores it, e.g.
// "r0/Escalated/l2/c0/Responder/team-a/alice/team-a/email#ff8d9819", or
// "r0/StageChanged.Contain/l0/c0/..." with a variant. It is stable, readable and at
// most 512 bytes: target and destination longer than 200 bytes are shortened with a
// hash.
func (k LogKey) String() string {
	ev := string(k.Event)
	if k.Variant != "" {
		ev += "." + k.Variant
	}
	return fmt.Sprintf("r%d/%s/l%d/c%d/%s/%s", k.ReopenCount, shorten(ev, 64), k.Level, k.Cycle,
		shorten(k.Target, maxKeyPart), shorten(k.Destination, maxKeyPart))
}

// Key returns the notification log key of a delivery; see LogKey.
func Key(reopenCount int32, event klaxonv1.IncidentEvent, level, cycle int32, target, channel string) string {
	return LogKey{ReopenCount: reopenCount, Event: event, Level: level, Cycle: cycle, Target: target, Destination: channel}.String()
}

// Destination names a channel and an address on it for the log: "namespace/name",
// followed by "#" and a short hash of the address when there is one. The address is
// hashed because it is often personal (an e-mail address, a phone number) and the
// log is readable by everyone who can read the incident; the hash still tells two
// addresses on one channel apart (a person's two e-mail addresses, a group's two
// Slack channels).
func Destination(channel, address string) string {
	if address == "" {
		return channel
	}
	sum := sha256.Sum256([]byte(address))
	return channel + "#" + hex.EncodeToString(sum[:4])
}

// Reason is why a first delivery of k is sent: ReasonResolved for Resolved,
// ReasonFirst for Triggered, ReasonRepeat for a page of a repeat cycle,
// ReasonEscalated for other pages, and the event in kebab case for the rest
// ("acknowledged", "stage-changed", "postmortem-published").
func (k LogKey) Reason() string {
	switch k.Event {
	case klaxonv1.EventResolved:
		return ReasonResolved
	case klaxonv1.EventTriggered:
		return ReasonFirst
	case klaxonv1.EventEscalated:
		if k.Cycle > 0 {
			return ReasonRepeat
		}
		return ReasonEscalated
	}
	return kebab(string(k.Event))
}

// Decide says whether the delivery k should be sent, given the incident's log, and
// why: a key the log does not hold is sent (for k.Reason()); one it holds is not,
// and the reason says what the entry records. A Pending entry is the retry stage's
// to decide.
func Decide(log []klaxonv1.NotificationRecord, k LogKey) (send bool, reason string) {
	rec := Find(log, k.String())
	if rec == nil {
		return true, k.Reason()
	}
	switch rec.Phase {
	case klaxonv1.NotificationSent:
		return false, ReasonAlreadySent
	case klaxonv1.NotificationFailed:
		return false, ReasonFailed
	case klaxonv1.NotificationSuppressed:
		return false, ReasonSuppressed
	case klaxonv1.NotificationHeld:
		// Held by a mute that has lifted: never attempted, so this is its first send.
		return true, k.Reason()
	}
	return false, ReasonPending
}

// Outstanding returns the deliveries of reopen episode reopenCount that the log holds
// but that are not finished: one Candidate per event, variant, level, cycle and
// target none of whose entries is Sent or Suppressed, without Routes. The controller
// adds the routes (resolving the target again) and plans them with the new
// candidates, so a delivery claimed before a restart, or whose next route was not
// yet claimed when a write failed, is neither lost nor sent twice. A candidate whose
// routes have all failed comes back too; Plan answers it with ActionExhausted.
func Outstanding(log []klaxonv1.NotificationRecord, reopenCount int32) []Candidate {
	type group struct {
		c    Candidate
		done bool
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range log {
		k, ok := parseKey(r)
		if !ok || k.ReopenCount != reopenCount {
			continue
		}
		id := fmt.Sprintf("%s.%s/%d/%d/%s", k.Event, k.Variant, k.Level, k.Cycle, r.Target)
		g, ok := groups[id]
		if !ok {
			variant, followUp := strings.CutPrefix(k.Variant, followUpVariant)
			g = &group{c: Candidate{Event: k.Event, Variant: strings.TrimPrefix(variant, "."), Level: k.Level, Cycle: k.Cycle,
				Target: r.Target, Reason: r.Reason, FollowUp: followUp,
				Page: k.Level > 0 && (k.Event == klaxonv1.EventTriggered || k.Event == klaxonv1.EventEscalated)}}
			groups[id] = g
			order = append(order, id)
		}
		if r.Phase == klaxonv1.NotificationSent || r.Phase == klaxonv1.NotificationSuppressed {
			g.done = true
		}
	}
	var out []Candidate
	for _, id := range order {
		if g := groups[id]; !g.done {
			out = append(out, g.c)
		}
	}
	return out
}

// followUpVariant marks the keys of FollowUp candidates, so they are told apart from
// the same event sent to a stakeholder group's member, and Outstanding restores them.
const followUpVariant = "followup"

// parseKey reads the fixed part of a record's key (reopen count, event, variant,
// level, cycle); target and destination are the record's own fields.
func parseKey(r klaxonv1.NotificationRecord) (LogKey, bool) {
	parts := strings.SplitN(r.Key, "/", 5)
	if len(parts) < 5 {
		return LogKey{}, false
	}
	var k LogKey
	if _, err := fmt.Sscanf(parts[0]+" "+parts[2]+" "+parts[3], "r%d l%d c%d", &k.ReopenCount, &k.Level, &k.Cycle); err != nil {
		return LogKey{}, false
	}
	ev, variant, _ := strings.Cut(parts[1], ".")
	k.Event, k.Variant = klaxonv1.IncidentEvent(ev), variant
	k.Target, k.Destination = r.Target, r.Channel
	return k, true
}

// Compact returns log cut to at most limit entries, dropping what dedup no longer
// needs, oldest first: finished entries of earlier reopens, then finished entries of
// this one, keeping while it can the newest Sent page per target and destination
// (Resolved messages follow it) and the Failed entries of deliveries not yet sent
// another way (the next route follows them). Pending and Held entries are never dropped, so
// the result may still be longer than limit: then claim nothing new until it shrinks.
// Dropped entries stay in the timeline, which keeps the whole history.
func Compact(log []klaxonv1.NotificationRecord, reopenCount int32, limit int) []klaxonv1.NotificationRecord {
	if len(log) <= limit {
		return log
	}
	keep := make([]bool, len(log))
	for i := range keep {
		keep[i] = true
	}
	n := len(log)
	drop := func(pass func(i int, k LogKey) bool) {
		for i := 0; i < len(log) && n > limit; i++ {
			if !keep[i] || log[i].Phase == klaxonv1.NotificationPending || log[i].Phase == klaxonv1.NotificationHeld {
				continue
			}
			k, ok := parseKey(log[i])
			if pass(i, k) || !ok {
				keep[i] = false
				n--
			}
		}
	}
	protected := protectedEntries(log, reopenCount)
	drop(func(_ int, k LogKey) bool { return k.ReopenCount != reopenCount })
	drop(func(i int, _ LogKey) bool { return !protected[i] })
	drop(func(int, LogKey) bool { return true })
	out := make([]klaxonv1.NotificationRecord, 0, n)
	for i, r := range log {
		if keep[i] {
			out = append(out, r)
		}
	}
	return out
}

// protectedEntries marks the entries Compact keeps longest: the newest Sent page per
// target and destination, and the Failed entries of outstanding deliveries.
func protectedEntries(log []klaxonv1.NotificationRecord, reopenCount int32) map[int]bool {
	out := map[int]bool{}
	newestPage := map[string]int{}
	outstanding := map[string]bool{}
	for _, c := range Outstanding(log, reopenCount) {
		outstanding[fmt.Sprintf("%s.%s/%d/%d/%s", c.Event, c.Variant, c.Level, c.Cycle, c.Target)] = true
	}
	for i, r := range log {
		k, ok := parseKey(r)
		if !ok || k.ReopenCount != reopenCount {
			continue
		}
		switch {
		case r.Phase == klaxonv1.NotificationSent && k.Level > 0:
			newestPage[r.Target+"|"+r.Channel] = i
		case r.Phase == klaxonv1.NotificationFailed &&
			outstanding[fmt.Sprintf("%s.%s/%d/%d/%s", k.Event, k.Variant, k.Level, k.Cycle, r.Target)]:
			out[i] = true
		}
	}
	for _, i := range newestPage {
		out[i] = true
	}
	return out
}

// Find returns the log entry with key, or nil.
func Find(log []klaxonv1.NotificationRecord, key string) *klaxonv1.NotificationRecord {
	for i := range log {
		if log[i].Key == key {
			return &log[i]
		}
	}
	return nil
}

// Upsert returns log with rec in place of the entry with the same key, or appended.
// The caller writes the result with a conditional update.
func Upsert(log []klaxonv1.NotificationRecord, rec klaxonv1.NotificationRecord) []klaxonv1.NotificationRecord {
	out := make([]klaxonv1.NotificationRecord, 0, len(log)+1)
	found := false
	for _, r := range log {
		if r.Key == rec.Key {
			r, found = rec, true
		}
		out = append(out, r)
	}
	if !found {
		out = append(out, rec)
	}
	return out
}

// DeliveryKey is a delivery's key outside the incident (Delivery.Key): the webhook
// Idempotency-Key, the e-mail Message-ID and X-Klaxon-Key. A log key names a delivery
// only within one incident's log; two incidents paging the same person at the same
// level through the same channel have the same log key, and a receiver dropping keys
// it has processed would drop the second page. The incident's UID tells them apart,
// also from an incident deleted and created again under the same name.
func DeliveryKey(incident types.UID, logKey string) string {
	return string(incident) + "/" + logKey
}

// DedupKey is PagerDuty's dedup_key for an incident: one per incident and reopen,
// so trigger, acknowledge and resolve reach the same PagerDuty alert, and a reopen
// opens a new one. It is at most 255 bytes, PagerDuty's limit.
func DedupKey(namespace, name string, reopenCount int32) string {
	return shorten(fmt.Sprintf("klaxon/%s/%s/%d", namespace, name, reopenCount), 255)
}

// shorten returns s, or when longer than n a prefix of it and a hash of the whole,
// n bytes in all: readable, stable and still distinct.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	h := "~" + hex.EncodeToString(sum[:8])
	cut := max(n-len(h), 0)
	// Cut on a rune boundary so the API server accepts the string.
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + h
}

// kebab turns "StageChanged" into "stage-changed".
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
