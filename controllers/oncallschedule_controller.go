package controllers

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/oncall"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// handoffMargin is added to the requeue at a handoff so the reconcile that publishes
// the new responder never runs a moment before the handoff.
const handoffMargin = 50 * time.Millisecond

// OnCallScheduleReconciler publishes who is on call now and at the next handoff, and
// comes back at the handoff.
type OnCallScheduleReconciler struct {
	Client   client.Client
	Refs     references.Resolver
	Recorder events.EventRecorder
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=oncallschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=oncallschedules/status,verbs=get;update;patch

// Reconcile resolves the schedule at the current time.
func (r *OnCallScheduleReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var s klaxonv1.OnCallSchedule
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	orig := s.DeepCopy()
	s.Status.ObservedGeneration = s.Generation

	compiled, err := oncall.Compile(s.Spec)
	if err != nil {
		// Only an edit fixes a schedule that does not compile: Stalled, no requeue.
		msg := "invalid schedule: " + err.Error()
		setCondition(&s, klaxonv1.ConditionReady, metav1.ConditionFalse, klaxonv1.ReasonInvalidSpec, msg)
		setCondition(&s, klaxonv1.ConditionStalled, metav1.ConditionTrue, klaxonv1.ReasonInvalidSpec, msg)
		s.Status.OnCall, s.Status.Layer, s.Status.NextHandoff, s.Status.NextOnCall = nil, "", nil, nil
		if err := writeStatus(ctx, r.Client, &s, orig, false); err != nil {
			return reconcile.Result{}, err
		}
		announceReadiness(r.Recorder, orig.Status.Conditions, &s)
		return reconcile.Result{}, nil
	}

	// Who is on call is published even while a responder is missing: the schedule
	// still says who should be paged, and Ready says what is wrong.
	now := r.Now()
	shift := compiled.At(now)
	s.Status.OnCall = responderNames(s.Namespace, shift.Responders)
	s.Status.Layer = shift.Layer
	result := reconcile.Result{}
	if h, ok := compiled.NextHandoff(now); ok {
		at := metav1.NewTime(h.At)
		s.Status.NextHandoff = &at
		s.Status.NextOnCall = responderNames(s.Namespace, h.Next.Responders)
		result.RequeueAfter = h.At.Sub(now) + handoffMargin
	} else {
		s.Status.NextHandoff, s.Status.NextOnCall = nil, nil
	}

	refErr := r.Refs.Check(ctx, r.Client, &s)
	var problem *references.Problem
	if refErr != nil && !errors.As(refErr, &problem) {
		return reconcile.Result{}, refErr
	}
	if _, err := applyReadiness(&s, refErr); err != nil {
		return reconcile.Result{}, err
	}

	if err := writeStatus(ctx, r.Client, &s, orig, false); err != nil {
		return reconcile.Result{}, err
	}
	announceReadiness(r.Recorder, orig.Status.Conditions, &s)
	if before, after := strings.Join(orig.Status.OnCall, ", "), strings.Join(s.Status.OnCall, ", "); before != after && orig.Status.ObservedGeneration != 0 {
		r.Recorder.Eventf(&s, nil, corev1.EventTypeNormal, "Handoff", "Resolve", "on call: %s (was %s)", orDash(after), orDash(before))
	}
	return result, nil
}

// responderNames renders references for status: the name, or namespace/name for the
// provider's responders.
func responderNames(ns string, refs []klaxonv1.ObjectReference) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if r.Namespace != "" && r.Namespace != ns {
			out = append(out, r.Namespace+"/"+r.Name)
			continue
		}
		out = append(out, r.Name)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
