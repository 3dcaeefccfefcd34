package controllers

import (
	"context"
	"errors"
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
	"github.com/klaxon-ops/klaxon/internal/notify"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// retryAfterAPIError is how soon a reconcile that failed on an API call is retried
// when the error is not returned (status was written instead).
const retryAfterAPIError = 10 * time.Second

// ReferenceReconciler reconciles a kind whose readiness is that everything it
// references exists: Responder, EscalationPolicy, StakeholderGroup and
// NotificationChannel. It sets Ready (and Stalled for problems only a person can
// fix) and emits an event when Ready flips.
type ReferenceReconciler[T conditioned] struct {
	Client   client.Client
	Refs     references.Resolver
	Recorder events.EventRecorder
	// New returns an empty object of the kind.
	New func() T
	// Check, when set, runs after the references resolve (a channel's Secret keys).
	// It returns a *references.Problem for what the object's owner must fix.
	Check func(ctx context.Context, obj T) error
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=responders;escalationpolicies;stakeholdergroups;notificationchannels,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=responders/status;escalationpolicies/status;stakeholdergroups/status;notificationchannels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile checks the object's references and reports them in its conditions.
func (r *ReferenceReconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj := r.New()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return reconcile.Result{}, nil
	}
	orig := obj.DeepCopyObject().(T)

	err := r.Refs.Check(ctx, r.Client, obj)
	if err == nil && r.Check != nil {
		err = r.Check(ctx, obj)
	}
	result, retErr := applyReadiness(obj, err)
	obj.SetObservedGeneration(obj.GetGeneration())

	if perr := writeStatus(ctx, r.Client, obj, orig, false); perr != nil {
		return reconcile.Result{}, perr
	}
	announceReadiness(r.Recorder, orig.GetConditions(), obj)
	return result, retErr
}

// applyReadiness turns the outcome of the reference checks into Ready and Stalled.
// A missing object waits for a watch event; an API failure is retried.
func applyReadiness(obj conditioned, err error) (reconcile.Result, error) {
	var problem *references.Problem
	switch {
	case err == nil:
		setCondition(obj, klaxonv1.ConditionReady, metav1.ConditionTrue, klaxonv1.ReasonReconciled, "all references resolve")
		removeCondition(obj, klaxonv1.ConditionStalled)
		return reconcile.Result{}, nil
	case errors.As(err, &problem):
		setCondition(obj, klaxonv1.ConditionReady, metav1.ConditionFalse, problem.Reason, problem.Message)
		if problem.Terminal {
			setCondition(obj, klaxonv1.ConditionStalled, metav1.ConditionTrue, problem.Reason, problem.Message)
		} else {
			removeCondition(obj, klaxonv1.ConditionStalled)
		}
		// No requeue: a watch on the referenced kind brings the object back when
		// what it waits for appears.
		return reconcile.Result{}, nil
	default:
		return reconcile.Result{}, err
	}
}

// announceReadiness emits an event when the Ready condition changed, and only then.
func announceReadiness(rec events.EventRecorder, before []metav1.Condition, obj conditioned) {
	if rec == nil || !readyFlipped(before, obj.GetConditions()) {
		return
	}
	for _, c := range obj.GetConditions() {
		if c.Type != klaxonv1.ConditionReady {
			continue
		}
		typ := corev1.EventTypeNormal
		if c.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		rec.Eventf(obj, nil, typ, c.Reason, "Reconcile", "%s", c.Message)
	}
}

// channelSecretCheck verifies a NotificationChannel's Secret holds the keys its type
// needs. It reads the Secret through an uncached reader, so Secret contents never
// sit in the controller's cache; it never logs or reports a value.
func channelSecretCheck(apiReader client.Reader) func(context.Context, *klaxonv1.NotificationChannel) error {
	return func(ctx context.Context, nc *klaxonv1.NotificationChannel) error {
		if nc.Spec.SecretRef == nil {
			return nil
		}
		var s corev1.Secret
		key := client.ObjectKey{Namespace: nc.Namespace, Name: nc.Spec.SecretRef.Name}
		if err := apiReader.Get(ctx, key, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return &references.Problem{Reason: klaxonv1.ReasonSecretNotFound,
					Message: fmt.Sprintf("Secret %s/%s not found (spec.secretRef)", key.Namespace, key.Name)}
			}
			return fmt.Errorf("reading Secret %s/%s: %w", key.Namespace, key.Name, err)
		}
		if err := notify.CheckSecret(nc.Spec, s.Data); err != nil {
			log.FromContext(ctx).V(1).Info("channel secret incomplete", "secret", key.Name)
			return &references.Problem{Reason: klaxonv1.ReasonSecretKeyMissing, Message: err.Error()}
		}
		return nil
	}
}
