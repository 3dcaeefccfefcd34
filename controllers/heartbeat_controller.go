package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// HeartbeatReconciler watches a Heartbeat's deadline: it comes back at deadlineAt
// (never before), and if no ping moved the deadline by then it marks the heartbeat
// Down and opens an incident. Pings arrive at internal/intake/receiver on any
// replica, which resolves that incident and sets the heartbeat Up. The deadline lives
// in status, so a restart neither forgets nor repeats a miss.
type HeartbeatReconciler struct {
	Client client.Client
	// APIReader reads Secrets and missing incidents uncached.
	APIReader client.Reader
	Refs      references.Resolver
	Recorder  events.EventRecorder
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=heartbeats,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=heartbeats/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents,verbs=create

// Reconcile checks one Heartbeat's configuration and deadline.
func (r *HeartbeatReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var hb klaxonv1.Heartbeat
	if err := r.Client.Get(ctx, req.NamespacedName, &hb); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !hb.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	orig := hb.DeepCopy()
	now := r.Now()

	// Timing does not wait for readiness: a heartbeat nobody can ping (its Secret is
	// missing) is as down as one whose pinger died, and its incident says so.
	specErr := intake.CheckHeartbeat(hb.Spec)
	err := specErr
	if err != nil {
		err = specProblem(err)
	} else {
		err = checkEndpoint(ctx, r.APIReader, r.Refs, &hb, hb.Spec.Auth, hb.Spec.EscalationPolicyRef)
	}
	result, retErr := applyReadiness(&hb, err)
	hb.Status.ObservedGeneration = hb.Generation
	if specErr != nil {
		return r.finish(ctx, &hb, orig, result, retErr)
	}

	st := &hb.Status
	if st.State == "" {
		st.State = klaxonv1.HeartbeatPending
	}
	if st.State == klaxonv1.HeartbeatDown {
		// The missed deadline stays: it names the incident. A ping brings the
		// heartbeat back; meanwhile make sure the incident exists (a restart between
		// recording the miss and opening the incident).
		if err := r.ensureIncident(ctx, &hb, now); err != nil {
			return reconcile.Result{}, err
		}
		return r.finish(ctx, &hb, orig, result, retErr)
	}

	// A ping stores its own deadline, computed from the exact time of the ping; keep
	// it unless the spec changed. Otherwise count from the last ping, which status
	// stores to the second (rounded down: a second later, so never early), or from
	// the heartbeat's creation.
	if st.DeadlineAt == nil || orig.Status.ObservedGeneration != hb.Generation {
		base := hb.CreationTimestamp.Time
		if st.LastPingAt != nil {
			base = st.LastPingAt.Time.Add(time.Second)
		}
		st.DeadlineAt = &metav1.Time{Time: intake.HeartbeatDeadline(&hb, base)}
	}
	deadline := st.DeadlineAt.Time
	if now.Before(deadline) {
		if result.RequeueAfter == 0 || deadline.Sub(now)+handoffMargin < result.RequeueAfter {
			result.RequeueAfter = deadline.Sub(now) + handoffMargin
		}
		return r.finish(ctx, &hb, orig, result, retErr)
	}

	// Missed. The miss is recorded before the incident is opened, with the
	// resourceVersion it was decided on: a ping that raced it wins, and this
	// reconcile starts over from the ping.
	st.State = klaxonv1.HeartbeatDown
	st.Incident = intake.HeartbeatIncidentName(hb.Name, deadline)
	if err := writeStatus(ctx, r.Client, &hb, orig, true); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return reconcile.Result{}, err
	}
	if err := r.ensureIncident(ctx, &hb, now); err != nil {
		return reconcile.Result{}, err
	}
	log.FromContext(ctx).Info("heartbeat missed", "deadline", deadline, "incident", st.Incident)
	r.Recorder.Eventf(&hb, nil, corev1.EventTypeWarning, "HeartbeatMissed", "Miss",
		"no ping by %s; opened incident %s", deadline.UTC().Format(time.RFC3339), st.Incident)
	announceReadiness(r.Recorder, orig.Status.Conditions, &hb)
	return result, retErr
}

// finish writes status (with the resourceVersion read, since pings write it too) and
// announces a change of readiness.
func (r *HeartbeatReconciler) finish(ctx context.Context, hb, orig *klaxonv1.Heartbeat, result reconcile.Result, retErr error) (reconcile.Result, error) {
	if err := writeStatus(ctx, r.Client, hb, orig, true); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return reconcile.Result{}, err
	}
	announceReadiness(r.Recorder, orig.Status.Conditions, hb)
	return result, retErr
}

// ensureIncident opens the incident of a down heartbeat unless it exists. A ping
// that came first may have created it already resolved; AlreadyExists is success.
func (r *HeartbeatReconciler) ensureIncident(ctx context.Context, hb *klaxonv1.Heartbeat, now time.Time) error {
	if hb.Status.Incident == "" || hb.Status.DeadlineAt == nil {
		return nil
	}
	key := client.ObjectKey{Namespace: hb.Namespace, Name: hb.Status.Incident}
	if err := r.APIReader.Get(ctx, key, &klaxonv1.Incident{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading incident %s: %w", key, err)
	}
	inc := intake.HeartbeatIncident(hb, hb.Status.DeadlineAt.Time, klaxonv1.StateTriggered, now)
	inc.Name = key.Name
	if err := r.Client.Create(ctx, inc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("opening incident %s for heartbeat %s: %w", key.Name, hb.Name, err)
	}
	return nil
}
