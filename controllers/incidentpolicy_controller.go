package controllers

import (
	"context"
	"fmt"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

// ReasonPolicyInvalid: the latest spec of an IncidentPolicy does not compile or fails
// its checks; the previous revision stays in force.
const ReasonPolicyInvalid = "PolicyInvalid"

// IncidentPolicyReconciler compiles IncidentPolicies into the policy engine. It runs
// on every replica, because admission (on every replica) evaluates them too. A policy
// that does not compile leaves its last good revision in force and says why in its
// status.
type IncidentPolicyReconciler struct {
	Client   client.Client
	Engine   *policy.Engine
	Recorder events.EventRecorder
	// loaded is set once every IncidentPolicy that existed at start is compiled.
	loaded atomic.Bool
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=incidentpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidentpolicies/status,verbs=get;update;patch

// Reconcile compiles one policy into the engine.
func (r *IncidentPolicyReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var p klaxonv1.IncidentPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		if apierrors.IsNotFound(err) {
			r.Engine.Delete(req.Namespace, req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !p.DeletionTimestamp.IsZero() {
		r.Engine.Delete(p.Namespace, p.Name)
		return reconcile.Result{}, nil
	}
	orig := p.DeepCopy()
	r.load(ctx, &p)
	p.Status.ObservedGeneration = p.Generation
	if err := writeStatus(ctx, r.Client, &p, orig, false); err != nil {
		return reconcile.Result{}, err
	}
	announceReadiness(r.Recorder, orig.Status.Conditions, &p)
	return reconcile.Result{}, nil
}

// load compiles p into the engine and writes the outcome into p's status.
func (r *IncidentPolicyReconciler) load(ctx context.Context, p *klaxonv1.IncidentPolicy) {
	rev, problems := r.Engine.Upsert(ctx, policy.SourceOf(p))
	if len(problems) == 0 {
		p.Status.Revision, p.Status.Errors = rev, nil
		setCondition(p, klaxonv1.ConditionReady, metav1.ConditionTrue, klaxonv1.ReasonReconciled, "in force at revision "+shortRev(rev))
		removeCondition(p, klaxonv1.ConditionStalled)
		return
	}
	p.Status.Errors = nil
	for i, pr := range problems {
		if i == 20 {
			break
		}
		p.Status.Errors = append(p.Status.Errors, klaxonv1.PolicyError{File: pr.File, Line: int32(pr.Line), Column: int32(pr.Column), Message: truncateMessage(pr.Message, 1024)})
	}
	msg := policy.ProblemText(problems)
	if good, ok := r.Engine.Revision(p.Namespace, p.Name); ok {
		p.Status.Revision = good
		msg += "; revision " + shortRev(good) + " stays in force"
	} else {
		p.Status.Revision = ""
		msg += "; the policy is not in force"
	}
	setCondition(p, klaxonv1.ConditionReady, metav1.ConditionFalse, ReasonPolicyInvalid, truncateMessage(msg, 32768))
	setCondition(p, klaxonv1.ConditionStalled, metav1.ConditionTrue, ReasonPolicyInvalid, "fix the policy: "+truncateMessage(policy.ProblemText(problems[:1]), 1024))
}

// LoadAll compiles every IncidentPolicy once, before reconcilers decide anything,
// so the first decisions after a start already see the providers' and tenants'
// policies. Readers wait on Loaded.
func (r *IncidentPolicyReconciler) LoadAll(ctx context.Context, reader client.Reader) error {
	var list klaxonv1.IncidentPolicyList
	if err := reader.List(ctx, &list); err != nil {
		return fmt.Errorf("listing incident policies: %w", err)
	}
	for i := range list.Items {
		r.Engine.Upsert(ctx, policy.SourceOf(&list.Items[i]))
	}
	r.loaded.Store(true)
	return nil
}

// Loaded reports whether LoadAll has finished.
func (r *IncidentPolicyReconciler) Loaded() bool { return r.loaded.Load() }

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func truncateMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
