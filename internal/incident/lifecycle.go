package incident

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// maxClockSkew is how far in the future a stamped change time may be before it is
// distrusted and replaced by the time the controller observes the change.
const maxClockSkew = time.Minute

// Transition is one change the controller observed. It becomes a timeline entry and a
// Kubernetes Event.
type Transition struct {
	// Reason is the event reason and timeline type, e.g. Acknowledged.
	Reason string
	// Actor is who made the change, when known.
	Actor string
	// At is when the change was made.
	At time.Time
	// Message describes the change for people.
	Message string
}

// Observe brings inc.Status up to date with inc.Spec as of now and returns the
// transitions it found, oldest first. It is idempotent: observing again without a
// change in spec returns nothing and leaves status as it is.
func Observe(inc *klaxonv1.Incident, now time.Time) []Transition {
	// Status times are stored with second precision; compute durations from the times
	// as stored so what status shows adds up.
	now = now.Truncate(time.Second)
	st := &inc.Status
	var out []Transition
	record := func(t Transition) {
		out = append(out, t)
		AppendTimeline(st, klaxonv1.TimelineEntry{
			Time:    metav1.NewTime(t.At),
			Type:    t.Reason,
			Actor:   t.Actor,
			Message: t.Message,
		})
	}

	if st.TriggeredAt == nil {
		// First sight: the incident was opened when it was created, whatever the
		// controller's delay in seeing it.
		at := inc.CreationTimestamp.Time.Truncate(time.Second)
		if at.IsZero() || at.After(now) {
			at = now
		}
		st.TriggeredAt = ptrTime(at)
		st.State = klaxonv1.StateTriggered
		st.Stage = klaxonv1.StageTriage
		record(Transition{Reason: klaxonv1.ReasonTriggered, Actor: openedBy(inc), At: at,
			Message: truncate(fmt.Sprintf("incident opened: %s", inc.Spec.Title))})
	}

	// A resolution is recorded after the stage, assignee and notes written with it
	// ("moved to Monitor, then resolved"); other state changes come first.
	resolving := specState(inc) == klaxonv1.StateResolved && st.State != klaxonv1.StateResolved
	if !resolving {
		observeState(inc, now, record)
	}

	if want := specStage(inc); want != st.Stage {
		actor, at := changeStamp(inc, klaxonv1.AnnotationStageChangedBy, klaxonv1.AnnotationStageChangedAt, now)
		record(Transition{Reason: klaxonv1.ReasonStageChanged, Actor: actor, At: at,
			Message: fmt.Sprintf("stage %s -> %s", st.Stage, want)})
		st.Stage = want
	}

	if inc.Spec.Assignee != st.Assignee {
		actor, at := changeStamp(inc, klaxonv1.AnnotationAssigneeChangedBy, klaxonv1.AnnotationAssigneeChangedAt, now)
		msg := fmt.Sprintf("assigned to %s", inc.Spec.Assignee)
		if inc.Spec.Assignee == "" {
			msg = fmt.Sprintf("unassigned from %s", st.Assignee)
		}
		record(Transition{Reason: klaxonv1.ReasonAssigned, Actor: actor, At: at, Message: truncate(msg)})
		st.Assignee = inc.Spec.Assignee
	}

	if n := int32(len(inc.Spec.Notes)); n < st.NotesSeen {
		// Notes were removed from spec; the timeline keeps what they said.
		st.NotesSeen = n
	}
	for _, note := range inc.Spec.Notes[st.NotesSeen:] {
		at := now
		if note.Time != nil && !note.Time.After(now.Add(maxClockSkew)) {
			at = note.Time.Time.Truncate(time.Second)
		}
		record(Transition{Reason: klaxonv1.ReasonNoteAdded, Actor: note.Author, At: at, Message: truncate(note.Text)})
		st.NotesSeen++
	}

	if resolving {
		observeState(inc, now, record)
	}

	setConditions(inc)
	return out
}

// observeState records a change of spec.state, if any.
func observeState(inc *klaxonv1.Incident, now time.Time, record func(Transition)) {
	st := &inc.Status
	want := specState(inc)
	if want == st.State {
		return
	}
	actor, at := changeStamp(inc, klaxonv1.AnnotationStateChangedBy, klaxonv1.AnnotationStateChangedAt, now)
	if want == klaxonv1.StateAcknowledged && inc.Spec.AcknowledgedBy != "" {
		actor = inc.Spec.AcknowledgedBy
	}
	for _, t := range stateTransitions(st, want, actor, at) {
		record(t)
	}
}

// stateTransitions moves st from its state to want and says what happened. A jump the
// controller saw in one step (Triggered straight to Resolved, or a reopen straight to
// Acknowledged) is recorded as the steps it implies.
func stateTransitions(st *klaxonv1.IncidentStatus, want klaxonv1.IncidentState, actor string, at time.Time) []Transition {
	var out []Transition
	if st.State == klaxonv1.StateResolved {
		st.ReopenCount++
		st.ReopenedAt = ptrTime(at)
		st.AcknowledgedAt, st.TimeToAcknowledge = nil, nil
		st.ResolvedAt, st.TimeToResolve = nil, nil
		st.Escalation = nil
		st.State = klaxonv1.StateTriggered
		out = append(out, Transition{Reason: klaxonv1.ReasonReopened, Actor: actor, At: at,
			Message: fmt.Sprintf("incident reopened (reopen #%d)", st.ReopenCount)})
	}
	switch want {
	case klaxonv1.StateAcknowledged:
		st.AcknowledgedAt = ptrTime(at)
		st.TimeToAcknowledge = since(episodeStart(st), at)
		st.State = want
		out = append(out, Transition{Reason: klaxonv1.ReasonAcknowledged, Actor: actor, At: at,
			Message: fmt.Sprintf("acknowledged after %s", st.TimeToAcknowledge.Duration.Round(time.Second))})
	case klaxonv1.StateResolved:
		st.ResolvedAt = ptrTime(at)
		st.TimeToResolve = since(st.TriggeredAt.Time, at)
		st.State = want
		out = append(out, Transition{Reason: klaxonv1.ReasonResolved, Actor: actor, At: at,
			Message: fmt.Sprintf("resolved after %s", st.TimeToResolve.Duration.Round(time.Second))})
	case klaxonv1.StateTriggered:
		if st.State == klaxonv1.StateAcknowledged {
			st.AcknowledgedAt, st.TimeToAcknowledge = nil, nil
			st.State = want
			out = append(out, Transition{Reason: "Unacknowledged", Actor: actor, At: at,
				Message: "acknowledgement withdrawn; paging resumes"})
		}
	}
	return out
}

// setConditions derives the lifecycle conditions from status.
func setConditions(inc *klaxonv1.Incident) {
	st := &inc.Status
	gen := inc.Generation
	set := func(typ string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason,
			Message: msg, ObservedGeneration: gen})
	}
	if st.AcknowledgedAt != nil {
		set(klaxonv1.ConditionAcknowledged, true, klaxonv1.ReasonAcknowledged, "acknowledged")
	} else {
		set(klaxonv1.ConditionAcknowledged, false, klaxonv1.ReasonNotAcknowledged, "nobody has acknowledged the incident")
	}
	if st.State == klaxonv1.StateResolved {
		set(klaxonv1.ConditionResolved, true, klaxonv1.ReasonResolved, "resolved; paging has stopped")
	} else {
		set(klaxonv1.ConditionResolved, false, klaxonv1.ReasonNotResolved, "the incident is open")
	}
}

// episodeStart is when the current episode began: the reopen, or the first trigger.
func episodeStart(st *klaxonv1.IncidentStatus) time.Time {
	if st.ReopenedAt != nil {
		return st.ReopenedAt.Time
	}
	return st.TriggeredAt.Time
}

// changeStamp returns who made a change and when, from the annotations the admission
// webhook stamps; without them the change is the controller's observation at now.
func changeStamp(inc *klaxonv1.Incident, byKey, atKey string, now time.Time) (string, time.Time) {
	by := inc.Annotations[byKey]
	at := now
	if raw, ok := inc.Annotations[atKey]; ok {
		// A stamp older than the incident or from the future is not trusted.
		if t, err := time.Parse(time.RFC3339Nano, raw); err == nil &&
			!t.After(now.Add(maxClockSkew)) && !t.Before(inc.CreationTimestamp.Time) {
			at = t.Truncate(time.Second)
		}
	}
	return by, at
}

// openedBy names what opened the incident for the first timeline entry.
func openedBy(inc *klaxonv1.Incident) string {
	if s := inc.Spec.Source; s != nil && s.Kind != "" && s.Kind != klaxonv1.SourceManual {
		return string(s.Kind) + "/" + s.Name
	}
	return inc.Annotations[klaxonv1.AnnotationStateChangedBy]
}

func specState(inc *klaxonv1.Incident) klaxonv1.IncidentState {
	if inc.Spec.State == "" {
		return klaxonv1.StateTriggered
	}
	return inc.Spec.State
}

func specStage(inc *klaxonv1.Incident) klaxonv1.IncidentStage {
	if inc.Spec.Stage == "" {
		return klaxonv1.StageTriage
	}
	return inc.Spec.Stage
}

func since(from, to time.Time) *metav1.Duration {
	d := to.Sub(from)
	if d < 0 {
		d = 0
	}
	return &metav1.Duration{Duration: d}
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// maxMessage is the CRD's bound on a timeline message.
const maxMessage = 512

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	// Cut on a rune boundary so the API server accepts the string.
	cut := maxMessage - len("…")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
