package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// A Runbook is Ready when what it references exists (the ServiceAccount its
// kubernetes steps run as, the stakeholder groups its notify steps message, the
// Secrets of its webhook steps) and runbookCheck finds it usable. The
// ReferenceReconciler does the work; setupRunbooks wires the watches, so a Runbook
// turns Ready by itself when what it waits for appears.

// +kubebuilder:rbac:groups=klaxon.dev,resources=runbooks,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=runbooks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch

// runbookCheck verifies what references cannot: every notify step's message parses
// as a template, and a webhook step that names no URL finds one in its Secret. The
// Secret is read uncached; its values are never logged or reported.
func runbookCheck(apiReader client.Reader) func(context.Context, *klaxonv1.Runbook) error {
	return func(ctx context.Context, rb *klaxonv1.Runbook) error {
		for i, s := range rb.Spec.Steps {
			a := s.Action
			if a == nil {
				continue
			}
			if a.Notify != nil {
				if err := notify.Validate(klaxonv1.MessageTemplate{Body: a.Notify.Message}); err != nil {
					return &references.Problem{Reason: klaxonv1.ReasonInvalidSpec, Terminal: true,
						Message: fmt.Sprintf("spec.steps[%d].action.notify.message: %v", i, err)}
				}
			}
			if w := a.Webhook; w != nil && w.URL == "" && w.SecretRef != nil {
				if err := secretHasURL(ctx, apiReader, rb.Namespace, w.SecretRef.Name, i); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func secretHasURL(ctx context.Context, r client.Reader, ns, name string, step int) error {
	var s corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return &references.Problem{Reason: klaxonv1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %s/%s not found (spec.steps[%d].action.webhook.secretRef)", ns, name, step)}
		}
		return fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	if len(s.Data[klaxonv1.SecretKeyURL]) == 0 {
		return &references.Problem{Reason: klaxonv1.ReasonSecretKeyMissing,
			Message: fmt.Sprintf("Secret %s/%s has no %q key, and spec.steps[%d].action.webhook names no url", ns, name, klaxonv1.SecretKeyURL, step)}
	}
	return nil
}
