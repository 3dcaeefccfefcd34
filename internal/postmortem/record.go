package postmortem

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// SchemaV1 versions the front matter. A change that renames or retypes a field gets a
// new version, so `kubectl incident replay` can read records written years ago.
const SchemaV1 = "klaxon.dev/postmortem/v1"

// Record is the machine-readable post-mortem of one incident: what the YAML front matter
// of the committed Markdown file holds (SCHEMA.md documents it field by field). The
// yaml tags are the schema; field order is the order in the file.
type Record struct {
	// Schema is SchemaV1.
	Schema string `yaml:"schema"`
	// Incident identifies the Incident object.
	Incident IncidentRef `yaml:"incident"`
	// Title is the one-line summary.
	Title string `yaml:"title"`
	// Description of what happened.
	Description string `yaml:"description,omitempty"`
	// Severity in effect (SEV1..SEV5).
	Severity string `yaml:"severity,omitempty"`
	// Category in effect, e.g. security, availability.
	Category string `yaml:"category,omitempty"`
	// Service affected.
	Service string `yaml:"service,omitempty"`
	// Customer affected (an MSP's customer).
	Customer string `yaml:"customer,omitempty"`
	// State of the incident when the record was made (Resolved, normally).
	State string `yaml:"state,omitempty"`
	// Stage of the response when the record was made.
	Stage string `yaml:"stage,omitempty"`
	// Assignee is the incident commander.
	Assignee string `yaml:"assignee,omitempty"`
	// AcknowledgedBy names who acknowledged.
	AcknowledgedBy string `yaml:"acknowledgedBy,omitempty"`
	// Source is what opened the incident, with the alert's labels and annotations.
	Source *Source `yaml:"source,omitempty"`
	// Times: when it was triggered, acknowledged and resolved, and MTTA and MTTR.
	Times Times `yaml:"times"`
	// ReopenCount counts reopens.
	ReopenCount int32 `yaml:"reopenCount"`
	// EscalationPolicy in effect, as namespace/name.
	EscalationPolicy string `yaml:"escalationPolicy,omitempty"`
	// Escalation is how far the escalation went; absent when no level was paged.
	Escalation *Escalation `yaml:"escalation,omitempty"`
	// StakeholderGroups that heard about the incident, as namespace/name.
	StakeholderGroups []string `yaml:"stakeholderGroups,omitempty"`
	// Runbooks attached, as namespace/name.
	Runbooks []string `yaml:"runbooks,omitempty"`
	// Alerts deduplicated into the incident.
	Alerts *Alerts `yaml:"alerts,omitempty"`
	// Affected apps, servers and networks.
	Affected *Affected `yaml:"affected,omitempty"`
	// Timeline is the whole history, archived segments included, oldest first.
	Timeline []TimelineEntry `yaml:"timeline,omitempty"`
	// Notifications is who was notified of what, when, with which result.
	Notifications []Notification `yaml:"notifications,omitempty"`
	// Decisions is every policy decision with its input, so it can be replayed.
	Decisions []Decision `yaml:"decisions,omitempty"`
	// RootCause found by the investigation.
	RootCause string `yaml:"rootCause,omitempty"`
	// Resolution: what fixed it.
	Resolution string `yaml:"resolution,omitempty"`
	// ActionItems are the follow-ups.
	ActionItems []ActionItem `yaml:"actionItems,omitempty"`
	// Notes added by responders, oldest first.
	Notes []Note `yaml:"notes,omitempty"`
}

// IncidentRef identifies the Incident a record belongs to. It is never redacted: the
// record is useless for replay without it.
type IncidentRef struct {
	// Namespace (the tenant).
	Namespace string `yaml:"namespace"`
	// Name of the Incident.
	Name string `yaml:"name"`
	// UID of the Incident object, which tells apart two incidents of the same name.
	UID string `yaml:"uid,omitempty"`
}

// Source records what opened the incident.
type Source struct {
	// Kind: Manual, AlertSource or Heartbeat.
	Kind string `yaml:"kind,omitempty"`
	// Name of the AlertSource or Heartbeat.
	Name string `yaml:"name,omitempty"`
	// Labels of the alert.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Annotations of the alert.
	Annotations map[string]string `yaml:"annotations,omitempty"`
	// SuggestedSeverity the alert suggested.
	SuggestedSeverity string `yaml:"suggestedSeverity,omitempty"`
	// GroupKey of the alert group.
	GroupKey string `yaml:"groupKey,omitempty"`
}

// Times are the incident's milestones in UTC, and the derived MTTA and MTTR both as Go
// durations (readable) and whole seconds (for queries across records).
type Times struct {
	// Triggered is when the incident was first opened.
	Triggered *time.Time `yaml:"triggered,omitempty"`
	// Reopened is when it was last reopened.
	Reopened *time.Time `yaml:"reopened,omitempty"`
	// Acknowledged is when it was acknowledged (since the last reopen).
	Acknowledged *time.Time `yaml:"acknowledged,omitempty"`
	// Resolved is when it was resolved.
	Resolved *time.Time `yaml:"resolved,omitempty"`
	// MTTA is the time from (re)trigger to acknowledgement.
	MTTA *time.Duration `yaml:"mtta,omitempty"`
	// MTTASeconds is MTTA in whole seconds.
	MTTASeconds *int64 `yaml:"mttaSeconds,omitempty"`
	// MTTR is the time from the first trigger to resolution.
	MTTR *time.Duration `yaml:"mttr,omitempty"`
	// MTTRSeconds is MTTR in whole seconds.
	MTTRSeconds *int64 `yaml:"mttrSeconds,omitempty"`
}

// Escalation is how far escalation went.
type Escalation struct {
	// Level last paged, counting from 1.
	Level int32 `yaml:"level"`
	// Cycle through the policy's levels, counting from 0.
	Cycle int32 `yaml:"cycle"`
	// Exhausted is true when every level of every cycle was paged.
	Exhausted bool `yaml:"exhausted,omitempty"`
}

// Alerts counts the alerts deduplicated into the incident.
type Alerts struct {
	// Count of alerts received.
	Count int64 `yaml:"count"`
	// FirstSeen is when the first alert arrived.
	FirstSeen *time.Time `yaml:"firstSeen,omitempty"`
	// LastSeen is when the latest alert arrived.
	LastSeen *time.Time `yaml:"lastSeen,omitempty"`
	// Fingerprints of the distinct alerts.
	Fingerprints []string `yaml:"fingerprints,omitempty"`
}

// Affected lists what the incident touched.
type Affected struct {
	// Apps affected.
	Apps []string `yaml:"apps,omitempty"`
	// Servers affected.
	Servers []string `yaml:"servers,omitempty"`
	// Networks affected.
	Networks []string `yaml:"networks,omitempty"`
}

// TimelineEntry is one thing that happened.
type TimelineEntry struct {
	// Time it happened.
	Time time.Time `yaml:"time"`
	// Type of entry, e.g. Triggered, Acknowledged, StageChanged.
	Type string `yaml:"type"`
	// Actor is who did it.
	Actor string `yaml:"actor,omitempty"`
	// Message describes it.
	Message string `yaml:"message,omitempty"`
}

// Notification is one delivery of the notification log: who heard of what, when, and
// whether it reached them.
type Notification struct {
	// Time of the last attempt.
	Time *time.Time `yaml:"time,omitempty"`
	// Event announced.
	Event string `yaml:"event"`
	// Target is the responder or stakeholder group notified.
	Target string `yaml:"target"`
	// Channel is the NotificationChannel used.
	Channel string `yaml:"channel"`
	// Reason it was sent: first, escalated, repeat, resolved, ...
	Reason string `yaml:"reason,omitempty"`
	// Result is the delivery phase: Sent, Failed, Suppressed or Pending.
	Result string `yaml:"result"`
	// Attempts made.
	Attempts int32 `yaml:"attempts,omitempty"`
	// Message is the outcome of the last attempt.
	Message string `yaml:"message,omitempty"`
	// Key identifies the delivery in the notification log.
	Key string `yaml:"key,omitempty"`
}

// Decision is one policy decision with the input it was evaluated on.
type Decision struct {
	// ID of the decision, as recorded on the incident.
	ID string `yaml:"id"`
	// Point is the decision point: triage, escalation, notify, actions.
	Point string `yaml:"point,omitempty"`
	// Time of the decision.
	Time *time.Time `yaml:"time,omitempty"`
	// Summary of the outcome.
	Summary string `yaml:"summary,omitempty"`
	// Input is the policy input (JSON), written as YAML in the front matter.
	Input JSONValue `yaml:"input,omitempty"`
}

// ActionItem is follow-up work.
type ActionItem struct {
	// Description of the work.
	Description string `yaml:"description"`
	// Owner of the work.
	Owner string `yaml:"owner,omitempty"`
	// URL of the ticket.
	URL string `yaml:"url,omitempty"`
	// Done is true once finished.
	Done bool `yaml:"done,omitempty"`
}

// Note is a responder's note.
type Note struct {
	// Time the note was written.
	Time *time.Time `yaml:"time,omitempty"`
	// Author of the note.
	Author string `yaml:"author,omitempty"`
	// Text of the note.
	Text string `yaml:"text"`
}

// FromIncident builds the record of inc. history is the incident's timeline as the
// caller gathered it from the archived IncidentTimeline segments (oldest first); it is
// merged with status.timeline, so passing the archive alone or the full history both
// work. decisionInputs maps decision ids to the policy input each was evaluated on;
// inputs for ids no longer in status.decisions (which is bounded) are kept too.
func FromIncident(inc *v1alpha1.Incident, history []v1alpha1.TimelineEntry, decisionInputs map[string]json.RawMessage) Record {
	spec, st := inc.Spec, inc.Status
	rec := Record{
		Schema: SchemaV1,
		Incident: IncidentRef{
			Namespace: inc.Namespace,
			Name:      inc.Name,
			UID:       string(inc.UID),
		},
		Title:             spec.Title,
		Description:       spec.Description,
		Severity:          string(firstNonEmpty(st.Severity, spec.Severity)),
		Category:          firstNonEmpty(st.Category, spec.Category),
		Service:           spec.Service,
		Customer:          spec.Customer,
		State:             string(spec.State),
		Stage:             string(firstNonEmpty(spec.Stage, st.Stage)),
		Assignee:          spec.Assignee,
		AcknowledgedBy:    spec.AcknowledgedBy,
		ReopenCount:       st.ReopenCount,
		EscalationPolicy:  st.EscalationPolicy,
		StakeholderGroups: slices.Clone(st.StakeholderGroups),
		Runbooks:          slices.Clone(st.Runbooks),
		RootCause:         spec.RootCause,
		Resolution:        spec.Resolution,
	}
	if s := spec.Source; s != nil {
		rec.Source = &Source{
			Kind:              string(s.Kind),
			Name:              s.Name,
			Labels:            cloneMap(s.Labels),
			Annotations:       cloneMap(s.Annotations),
			SuggestedSeverity: string(s.SuggestedSeverity),
			GroupKey:          s.GroupKey,
		}
	}
	rec.Times = incidentTimes(st)
	// Level 0 is nothing paged: no policy covered the incident, or it never existed.
	if e := st.Escalation; e != nil && e.Level > 0 {
		rec.Escalation = &Escalation{Level: e.Level, Cycle: e.Cycle, Exhausted: e.Exhausted}
	}
	if a := st.Alerts; a != nil {
		rec.Alerts = &Alerts{
			Count:        a.Count,
			FirstSeen:    timePtr(a.FirstSeen),
			LastSeen:     timePtr(a.LastSeen),
			Fingerprints: slices.Clone(a.Fingerprints),
		}
	}
	if a := spec.Affected; a != nil && len(a.Apps)+len(a.Servers)+len(a.Networks) > 0 {
		rec.Affected = &Affected{
			Apps:     slices.Clone(a.Apps),
			Servers:  slices.Clone(a.Servers),
			Networks: slices.Clone(a.Networks),
		}
	}
	rec.Timeline = mergeTimeline(history, st.Timeline)
	for _, n := range st.Notifications {
		rec.Notifications = append(rec.Notifications, Notification{
			Time:     timePtr(n.LastAttemptAt),
			Event:    string(n.Event),
			Target:   n.Target,
			Channel:  n.Channel,
			Reason:   n.Reason,
			Result:   string(n.Phase),
			Attempts: n.Attempts,
			Message:  n.Message,
			Key:      n.Key,
		})
	}
	rec.Decisions = decisions(st.Decisions, decisionInputs)
	for _, a := range spec.ActionItems {
		rec.ActionItems = append(rec.ActionItems, ActionItem{
			Description: a.Description, Owner: a.Owner, URL: a.URL, Done: a.Done,
		})
	}
	for _, n := range spec.Notes {
		rec.Notes = append(rec.Notes, Note{Time: timePtr(n.Time), Author: n.Author, Text: n.Text})
	}
	return rec
}

// incidentTimes copies the milestones and derives MTTA and MTTR when the status lacks
// them (an incident resolved while the controller was down still gets both).
func incidentTimes(st v1alpha1.IncidentStatus) Times {
	t := Times{
		Triggered:    timePtr(st.TriggeredAt),
		Reopened:     timePtr(st.ReopenedAt),
		Acknowledged: timePtr(st.AcknowledgedAt),
		Resolved:     timePtr(st.ResolvedAt),
	}
	if st.TimeToAcknowledge != nil {
		t.MTTA = durationPtr(st.TimeToAcknowledge.Duration)
	} else if t.Acknowledged != nil && t.Triggered != nil {
		from := *t.Triggered
		if t.Reopened != nil && t.Reopened.Before(*t.Acknowledged) {
			from = *t.Reopened
		}
		t.MTTA = durationPtr(t.Acknowledged.Sub(from))
	}
	if st.TimeToResolve != nil {
		t.MTTR = durationPtr(st.TimeToResolve.Duration)
	} else if t.Resolved != nil && t.Triggered != nil {
		t.MTTR = durationPtr(t.Resolved.Sub(*t.Triggered))
	}
	return t
}

// mergeTimeline joins the archived history and the live timeline in time order. The
// controller moves entries from the live timeline to the archive, so a caller that read
// both at slightly different moments may see an entry twice; exact duplicates are
// dropped.
func mergeTimeline(history, live []v1alpha1.TimelineEntry) []TimelineEntry {
	type key struct {
		t                   int64
		typ, actor, message string
	}
	seen := make(map[key]bool, len(history)+len(live))
	var out []TimelineEntry
	for _, list := range [][]v1alpha1.TimelineEntry{history, live} {
		for _, e := range list {
			k := key{e.Time.Unix(), e.Type, e.Actor, e.Message}
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, TimelineEntry{Time: e.Time.UTC(), Type: e.Type, Actor: e.Actor, Message: e.Message})
		}
	}
	// Stable: entries of the same second keep the order they were recorded in.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// decisions pairs each recorded decision with its input, then appends inputs whose
// decision has left the bounded status list, sorted by id so the record is stable.
func decisions(recorded []v1alpha1.DecisionRecord, inputs map[string]json.RawMessage) []Decision {
	var out []Decision
	seen := make(map[string]bool, len(recorded))
	for _, d := range recorded {
		seen[d.ID] = true
		out = append(out, Decision{
			ID:      d.ID,
			Point:   d.Point,
			Time:    timePtr(d.Time),
			Summary: d.Summary,
			Input:   JSONValue(inputs[d.ID]),
		})
	}
	var extra []string
	for id := range inputs {
		if !seen[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		out = append(out, Decision{ID: id, Input: JSONValue(inputs[id])})
	}
	return out
}

func firstNonEmpty[T ~string](a, b T) T {
	if a != "" {
		return a
	}
	return b
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func durationPtr(d time.Duration) *time.Duration { return &d }

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
