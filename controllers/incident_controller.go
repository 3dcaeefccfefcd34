package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/incident"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

// IncidentReconciler tracks an incident's lifecycle: it turns changes of state, stage,
// assignee and notes into stamps, durations, conditions, timeline entries and events,
// and keeps the incident small by archiving old timeline entries.
type IncidentReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Engine takes the policy decisions.
	Engine *policy.Engine
	// Dispatcher pages and notifies; nil disables notifications.
	Dispatcher *dispatch.Dispatcher
	// APIReader reads incidents past the cache when a write conflicts.
	APIReader client.Reader
	// PoliciesLoaded reports whether the engine holds every IncidentPolicy yet; until
	// it does, decisions wait rather than be taken on the defaults alone.
	PoliciesLoaded func() bool
	// Now is the clock; tests inject one.
	Now func() time.Time

	recent recentRecords
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidenttimelines,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidentdecisions,verbs=get;list;watch;create

// Reconcile observes one incident.
func (r *IncidentReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var inc klaxonv1.Incident
	if err := r.Client.Get(ctx, req.NamespacedName, &inc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !inc.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	if r.PoliciesLoaded != nil && !r.PoliciesLoaded() {
		return reconcile.Result{RequeueAfter: 500 * time.Millisecond}, nil
	}
	orig := inc.DeepCopy()
	now := r.Now()
	r.storePending(ctx, &inc)

	transitions := incident.Observe(&inc, now)
	decisions, triaged, err := r.triage(ctx, &inc, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	transitions = append(transitions, triaged...)

	var work dispatch.Work
	if r.Dispatcher != nil {
		if work, err = r.Dispatcher.Plan(ctx, &inc, notices(transitions), now); err != nil {
			return reconcile.Result{}, err
		}
		for _, d := range work.Decisions {
			incident.AppendDecision(&inc.Status, d)
		}
		decisions = append(decisions, work.Decisions...)
	}
	if err := r.archiveTimeline(ctx, &inc); err != nil {
		return reconcile.Result{}, err
	}
	setCondition(&inc, klaxonv1.ConditionReady, metav1.ConditionTrue, klaxonv1.ReasonReconciled, "incident reconciled")
	inc.Status.ObservedGeneration = inc.Generation

	// The optimistic lock makes a concurrent status writer (intake, a second replica)
	// fail this patch instead of losing its write; the retry observes both.
	toStore, err := r.commit(ctx, &inc, orig, decisions, len(work.Sends) > 0)
	if err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: time.Millisecond}, nil
		}
		return reconcile.Result{}, err
	}
	// Events go out only once the transition is stored, so a failed write never
	// announces a transition twice.
	for _, t := range eventsOf(transitions) {
		typ := corev1.EventTypeNormal
		if t.Reason == klaxonv1.ReasonReopened {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(&inc, nil, typ, t.Reason, "Transition", "%s", eventNote(t))
	}
	raiseWarnings(r.Recorder, &inc, work.Warnings)

	// The claims are stored: deliver, then record the results.
	next := work.Next
	if len(work.Sends) > 0 {
		retryAt, err := r.deliver(ctx, &inc, work.Sends, toStore)
		if err != nil {
			return reconcile.Result{}, err
		}
		next = earliest(next, retryAt)
	}
	if len(r.unstored(ctx, &inc)) > 0 {
		next = earliest(next, r.Now().Add(pendingRetry))
	}
	return requeueAt(next, r.Now()), nil
}

// deliver makes the claimed deliveries and, meanwhile, stores the decision records
// written ahead with their claims (toStore); then it records the results and clears
// the stored records from status, re-reading the incident when someone else wrote it
// meanwhile (an acknowledgement, intake): the results are entries keyed by delivery,
// so applying them again is safe.
func (r *IncidentReconciler) deliver(ctx context.Context, inc *klaxonv1.Incident, sends []dispatch.Send, toStore []klaxonv1.IncidentDecisionSpec) (time.Time, error) {
	// Deliveries under way finish, and are recorded, even when the manager is
	// stopping: a delivery cut off or not recorded is sent again after the restart.
	// Each attempt is bounded by its channel's timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var stored map[string]bool
	var wg sync.WaitGroup
	if len(toStore) > 0 {
		wg.Go(func() { stored, _ = r.storeRecords(ctx, inc.DeepCopy(), toStore) })
	}
	results := r.Dispatcher.Deliver(ctx, sends)
	wg.Wait()
	done := r.Now()
	var next time.Time
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		orig := inc.DeepCopy()
		next = r.Dispatcher.Apply(&inc.Status, results, done)
		if len(stored) > 0 {
			if err := r.clearStored(inc, stored); err != nil {
				return err
			}
		}
		if err := r.archiveTimeline(ctx, inc); err != nil {
			return err
		}
		err := writeStatus(ctx, r.Client, inc, orig, true)
		if apierrors.IsConflict(err) {
			if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(inc), inc); gerr != nil {
				return gerr
			}
		}
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("recording deliveries of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	for id := range stored {
		r.recent.add(id)
	}
	return next, nil
}

// notices are the transitions stakeholders may hear of.
func notices(ts []incident.Transition) []dispatch.Notice {
	var out []dispatch.Notice
	for _, t := range ts {
		switch t.Reason {
		case klaxonv1.ReasonTriggered, klaxonv1.ReasonReopened:
			out = append(out, dispatch.Notice{Event: klaxonv1.EventTriggered, Actor: t.Actor})
		case klaxonv1.ReasonAcknowledged:
			out = append(out, dispatch.Notice{Event: klaxonv1.EventAcknowledged, Actor: t.Actor})
		case klaxonv1.ReasonResolved:
			out = append(out, dispatch.Notice{Event: klaxonv1.EventResolved, Actor: t.Actor})
		case klaxonv1.ReasonStageChanged:
			out = append(out, dispatch.Notice{Event: klaxonv1.EventStageChanged, Actor: t.Actor, Variant: stageOf(t.Message)})
		}
	}
	return out
}

// stageOf reads the stage a StageChanged moved to from its message ("stage A -> B").
func stageOf(msg string) string {
	if i := strings.LastIndex(msg, "-> "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// requeueAt asks to come back at t (never before it); nothing when t is zero.
func requeueAt(t, now time.Time) reconcile.Result {
	if t.IsZero() {
		return reconcile.Result{}
	}
	d := t.Sub(now)
	if d <= 0 {
		d = time.Millisecond
	}
	return reconcile.Result{RequeueAfter: d}
}

// triage runs the triage decision point when the incident is new or what triage
// decides on has changed and applies the decision; the caller stores it with status.
func (r *IncidentReconciler) triage(ctx context.Context, inc *klaxonv1.Incident, now time.Time) ([]incident.Decision, []incident.Transition, error) {
	hash := incident.TriageHash(inc)
	if incident.LastTriageHash(&inc.Status) == hash {
		return nil, nil, nil
	}
	d, rec, err := r.Engine.Triage(ctx, policy.TriageInput{Input: policy.Input{Incident: inc, Tenant: inc.Namespace, Now: now}})
	if err != nil {
		return nil, nil, fmt.Errorf("triage of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	dec := incident.Decision{Point: string(rec.Point), ID: rec.ID, Time: rec.Time, Summary: rec.Summary,
		InputHash: hash, Input: rec.Input, Output: d, Fallback: rec.Fallback, Errors: rec.Errors}
	incident.AppendDecision(&inc.Status, dec)
	before := inc.Status.Runbooks
	transitions := incident.ApplyTriage(inc, incident.Triage{Severity: d.Severity, Category: d.Category, Service: d.Service,
		EscalationPolicy: d.EscalationPolicy, StakeholderGroups: d.StakeholderGroups, Runbooks: d.Runbooks,
		Enforced: d.Enforced}, now)
	// The policy's runbooks, and those whose selector matches what triage decided.
	if err := r.attachRunbooks(ctx, inc, before, now); err != nil {
		return nil, nil, err
	}
	return []incident.Decision{dec}, transitions, nil
}

// archiveTimeline moves the oldest timeline entries into owned IncidentTimeline
// objects while the timeline is over its bound. Each segment is stored before status
// drops its entries, so a crash in between repeats the creation (found by its
// deterministic name) and never loses an entry.
func (r *IncidentReconciler) archiveTimeline(ctx context.Context, inc *klaxonv1.Incident) error {
	segs, rest := incident.Segments(inc)
	for i := range segs {
		seg := &segs[i]
		if err := controllerutil.SetControllerReference(inc, seg, r.Client.Scheme()); err != nil {
			return fmt.Errorf("owning timeline segment %s: %w", seg.Name, err)
		}
		err := r.Client.Create(ctx, seg)
		if apierrors.IsAlreadyExists(err) {
			var existing klaxonv1.IncidentTimeline
			if err := r.Client.Get(ctx, client.ObjectKeyFromObject(seg), &existing); err != nil {
				return fmt.Errorf("reading timeline segment %s: %w", seg.Name, err)
			}
			if !metav1.IsControlledBy(&existing, inc) {
				// Left by an earlier incident of the same name (intake reuses names
				// once retention deleted the old one) before the garbage collector
				// removed it: its owner is gone and its record is in git.
				if err := r.Client.Delete(ctx, &existing, client.Preconditions{UID: &existing.UID}); err != nil && !apierrors.IsNotFound(err) {
					return fmt.Errorf("removing orphaned timeline segment %s: %w", seg.Name, err)
				}
				return fmt.Errorf("timeline segment %s belonged to an earlier incident of the same name; removed it, archiving again", seg.Name)
			}
			if !equality.Semantic.DeepEqual(existing.Spec, seg.Spec) {
				return fmt.Errorf("timeline segment %s exists with other entries; refusing to overwrite history", seg.Name)
			}
			err = nil
		}
		if err != nil {
			return fmt.Errorf("archiving timeline segment %s: %w", seg.Name, err)
		}
		log.FromContext(ctx).V(1).Info("archived timeline segment", "segment", seg.Name, "entries", len(seg.Spec.Entries))
	}
	incident.RecordArchived(&inc.Status, segs, rest)
	return nil
}

// eventsOf are the transitions announced as events: all of them, except that the
// triage of an incident opened (or reopened) in the same reconcile joins that event's
// message. A new incident is then one event, not two: an alert storm opening hundreds
// of incidents costs the API server one write less for each, and the timeline keeps
// both entries.
func eventsOf(ts []incident.Transition) []incident.Transition {
	out := make([]incident.Transition, 0, len(ts))
	opened := -1
	for _, t := range ts {
		switch {
		case t.Reason == klaxonv1.ReasonTriggered || t.Reason == klaxonv1.ReasonReopened:
			opened = len(out)
		case t.Reason == klaxonv1.ReasonTriaged && opened >= 0:
			// "incident opened: X (by alertmanager); triaged SEV2; ..."
			out[opened].Message, out[opened].Actor = eventNote(out[opened])+"; "+t.Message, ""
			continue
		}
		out = append(out, t)
	}
	return out
}

// raiseWarnings raises what a dispatch found wrong (a template that failed, an incident
// nobody is paged for) as Warning events on the incident, once its status is written.
func raiseWarnings(rec events.EventRecorder, inc *klaxonv1.Incident, ws []dispatch.Warning) {
	for _, w := range ws {
		rec.Eventf(inc, nil, corev1.EventTypeWarning, w.Reason, "Notify", "%s", w.Note)
	}
}

// eventNote is the event message for a transition.
func eventNote(t incident.Transition) string {
	if t.Actor == "" {
		return t.Message
	}
	return t.Message + " (by " + t.Actor + ")"
}
