package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
)

// IncidentReconciler tracks an incident's lifecycle: it turns changes of state, stage,
// assignee and notes into stamps, durations, conditions, timeline entries and events,
// and keeps the incident small by archiving old timeline entries.
type IncidentReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidenttimelines,verbs=get;list;watch;create

// Reconcile observes one incident.
func (r *IncidentReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var inc klaxonv1.Incident
	if err := r.Client.Get(ctx, req.NamespacedName, &inc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !inc.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	orig := inc.DeepCopy()

	transitions := incident.Observe(&inc, r.Now())
	if err := r.archiveTimeline(ctx, &inc); err != nil {
		return reconcile.Result{}, err
	}
	setCondition(&inc, klaxonv1.ConditionReady, metav1.ConditionTrue, klaxonv1.ReasonReconciled, "incident reconciled")
	inc.Status.ObservedGeneration = inc.Generation

	// The optimistic lock makes a concurrent status writer (intake, a second replica)
	// fail this patch instead of losing its write; the retry observes both.
	if err := patchStatus(ctx, r.Client, &inc, orig, true); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: time.Millisecond}, nil
		}
		return reconcile.Result{}, err
	}
	// Events go out only once the transition is stored, so a failed write never
	// announces a transition twice.
	for _, t := range transitions {
		typ := corev1.EventTypeNormal
		if t.Reason == klaxonv1.ReasonReopened {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(&inc, nil, typ, t.Reason, "Transition", "%s", eventNote(t))
	}
	return reconcile.Result{}, nil
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

// eventNote is the event message for a transition.
func eventNote(t incident.Transition) string {
	if t.Actor == "" {
		return t.Message
	}
	return t.Message + " (by " + t.Actor + ")"
}
