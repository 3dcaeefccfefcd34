package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// AlertSourceReconciler reports whether an AlertSource can receive alerts: Ready when
// its spec can parse alerts and its Secret holds the keys its auth type needs;
// Stalled when only an edit of the spec helps. It publishes the endpoint's path.
// Receiving alerts is internal/intake/receiver's, on every replica.
type AlertSourceReconciler struct {
	Client client.Client
	// APIReader reads Secrets uncached: their contents never enter the cache.
	APIReader client.Reader
	Refs      references.Resolver
	Recorder  events.EventRecorder
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=alertsources,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=alertsources/status,verbs=get;update;patch

// Reconcile checks one AlertSource.
func (r *AlertSourceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var src klaxonv1.AlertSource
	if err := r.Client.Get(ctx, req.NamespacedName, &src); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !src.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	orig := src.DeepCopy()
	src.Status.Endpoint = "/api/v1/alerts/" + src.Namespace + "/" + src.Name

	err := specProblem(intake.ValidateSpec(src.Spec))
	if err == nil {
		err = checkEndpoint(ctx, r.APIReader, r.Refs, &src, src.Spec.Auth, src.Spec.EscalationPolicyRef)
	}
	result, retErr := applyReadiness(&src, err)
	src.Status.ObservedGeneration = src.Generation
	if perr := writeStatus(ctx, r.Client, &src, orig, false); perr != nil {
		return reconcile.Result{}, perr
	}
	announceReadiness(r.Recorder, orig.Status.Conditions, &src)
	return result, retErr
}

// specProblem turns a spec that cannot work as written into a terminal problem.
func specProblem(err error) error {
	if err == nil {
		return nil
	}
	return &references.Problem{Reason: klaxonv1.ReasonInvalidSpec, Message: "invalid spec: " + err.Error(), Terminal: true}
}

// checkEndpoint checks what an intake endpoint (an AlertSource or a Heartbeat) needs:
// its escalation policy is in its tenant or the provider's namespace, its Secret
// exists and holds the keys its auth type needs. The Secret is read uncached and
// never reported or logged beyond its key names.
func checkEndpoint(ctx context.Context, apiReader client.Reader, refs references.Resolver, obj client.Object,
	auth klaxonv1.EndpointAuth, ep *klaxonv1.ObjectReference) error {
	if ep != nil && ep.Namespace != "" && ep.Namespace != obj.GetNamespace() && ep.Namespace != refs.SystemNamespace {
		return &references.Problem{Reason: klaxonv1.ReasonCrossTenantReference, Terminal: true,
			Message: fmt.Sprintf("spec.escalationPolicyRef: EscalationPolicy %s/%s is in another tenant's namespace; reference objects in %q or %q only",
				ep.Namespace, ep.Name, obj.GetNamespace(), refs.SystemNamespace)}
	}
	var s corev1.Secret
	key := client.ObjectKey{Namespace: obj.GetNamespace(), Name: auth.SecretRef.Name}
	if err := apiReader.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return &references.Problem{Reason: klaxonv1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %s/%s not found (spec.auth.secretRef)", key.Namespace, key.Name)}
		}
		return fmt.Errorf("reading Secret %s/%s: %w", key.Namespace, key.Name, err)
	}
	if err := intake.CheckSecret(auth, s.Data); err != nil {
		if errors.Is(err, intake.ErrSecretIncomplete) {
			return &references.Problem{Reason: klaxonv1.ReasonSecretKeyMissing, Message: err.Error()}
		}
		return specProblem(err)
	}
	return nil
}
