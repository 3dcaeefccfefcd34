package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/maintenance"
)

// MaintenanceWindowReconciler publishes whether a window is open and when it next
// opens and closes, and comes back at that boundary. Intake (on every replica)
// applies windows by reading their specs, not this status, so a late reconcile never
// lets an alert through a window that is open; the status is for people, and for the
// suppressed and downgraded counts intake adds to it.
type MaintenanceWindowReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=maintenancewindows,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=maintenancewindows/status,verbs=get;update;patch

// Reconcile evaluates one window at the current time.
func (r *MaintenanceWindowReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var mw klaxonv1.MaintenanceWindow
	if err := r.Client.Get(ctx, req.NamespacedName, &mw); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !mw.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	orig := mw.DeepCopy()
	mw.Status.ObservedGeneration = mw.Generation
	st := &mw.Status

	w, err := maintenance.Compile(mw.Spec)
	if err != nil {
		// Only an edit fixes a window that does not compile: Stalled, no requeue.
		msg := "invalid window: " + err.Error()
		setCondition(&mw, klaxonv1.ConditionReady, metav1.ConditionFalse, klaxonv1.ReasonInvalidSpec, msg)
		setCondition(&mw, klaxonv1.ConditionStalled, metav1.ConditionTrue, klaxonv1.ReasonInvalidSpec, msg)
		st.Active, st.NextStart, st.NextEnd = false, nil, nil
		return reconcile.Result{}, r.finish(ctx, &mw, orig)
	}
	setCondition(&mw, klaxonv1.ConditionReady, metav1.ConditionTrue, klaxonv1.ReasonReconciled, "window compiled")
	removeCondition(&mw, klaxonv1.ConditionStalled)

	now := r.Now()
	st.Active = w.Active(now)
	var result reconcile.Result
	if start, end, ok := w.Next(now); ok {
		st.NextStart, st.NextEnd = &metav1.Time{Time: start}, &metav1.Time{Time: end}
		// The next boundary: the close of the open period, or the next opening. The
		// margin makes the reconcile that flips Active run just after it, never before.
		boundary := start
		if st.Active {
			boundary = end
		}
		result.RequeueAfter = boundary.Sub(now) + handoffMargin
	} else {
		st.NextStart, st.NextEnd = nil, nil
	}
	return result, r.finish(ctx, &mw, orig)
}

// finish writes status (a merge patch of what changed, which leaves intake's counts
// alone) and announces transitions: readiness, and the window opening or closing.
func (r *MaintenanceWindowReconciler) finish(ctx context.Context, mw, orig *klaxonv1.MaintenanceWindow) error {
	if err := writeStatus(ctx, r.Client, mw, orig, false); err != nil {
		return err
	}
	announceReadiness(r.Recorder, orig.Status.Conditions, mw)
	if mw.Status.Active != orig.Status.Active {
		reason, note := "MaintenanceStarted", "window opened: matching alerts are "+actionOf(mw)
		if !mw.Status.Active {
			reason, note = "MaintenanceEnded", "window closed"
		}
		r.Recorder.Eventf(mw, nil, corev1.EventTypeNormal, reason, "Maintenance", "%s", note)
	}
	return nil
}

func actionOf(mw *klaxonv1.MaintenanceWindow) string {
	switch mw.Spec.Action {
	case klaxonv1.MaintenanceDowngrade:
		return "downgraded to " + string(mw.Spec.DowngradeTo)
	}
	return "suppressed"
}
