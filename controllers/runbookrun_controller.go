package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
	"github.com/klaxon-ops/klaxon/internal/notify"
	"github.com/klaxon-ops/klaxon/internal/runbook"
)

// RunbookRunReconciler runs an incident's runbooks: when the incident is in a stage,
// the automatic steps of that stage run once (each gated by the actions policy), the
// other steps become its checklist, and responders' ticks are recorded. Each action
// is claimed in status with a conditional write before it runs, so two replicas, a
// retry or a restart never run it twice.
type RunbookRunReconciler struct {
	Client client.Client
	// APIReader reads incidents past the cache when a write conflicts.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Gate asks the actions policy.
	Gate runbook.Gate
	// Executors run the actions.
	Executors runbook.Executors
	// SystemNamespace is the provider's namespace, whose runbooks every tenant uses.
	SystemNamespace string
	// PoliciesLoaded reports whether the engine holds every IncidentPolicy yet: a
	// tenant's allow must not be missed, since a denial is final.
	PoliciesLoaded func() bool
	// Now is the clock.
	Now func() time.Time

	// unrecorded keeps outcomes whose status write failed, by incident, so the
	// next reconcile records them instead of calling the actions interrupted.
	mu         sync.Mutex
	unrecorded map[types.UID]outcomes
}

// outcomes are the results of claimed actions, parallel slices.
type outcomes struct {
	claims   []runbook.Claim
	outcomes []runbook.Outcome
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=runbooks,verbs=get;list;watch

// Reconcile plans, claims, runs and records the runbook steps due for one incident.
func (r *RunbookRunReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var inc klaxonv1.Incident
	if err := r.Client.Get(ctx, req.NamespacedName, &inc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	late := r.takeUnrecorded(inc.UID)
	if !inc.DeletionTimestamp.IsZero() || inc.Status.TriggeredAt == nil ||
		(len(inc.Status.Runbooks) == 0 && len(inc.Status.RunbookSteps) == 0 && len(inc.Spec.Checklist) == 0) {
		return reconcile.Result{}, nil
	}
	if r.PoliciesLoaded != nil && !r.PoliciesLoaded() {
		r.keepUnrecorded(inc.UID, late)
		return reconcile.Result{RequeueAfter: 500 * time.Millisecond}, nil
	}
	rbs, err := r.attached(ctx, &inc)
	if err != nil {
		r.keepUnrecorded(inc.UID, late)
		return reconcile.Result{}, err
	}
	now := r.Now()
	orig := inc.DeepCopy()
	runbook.Record(&inc.Status, late.claims, late.outcomes, now)
	plan := runbook.PlanSteps(&inc, rbs, now)
	if plan.Full {
		r.Recorder.Eventf(&inc, nil, corev1.EventTypeWarning, "RunbookStepsFull", "Runbook",
			"status.runbookSteps holds %d entries of this episode; further steps wait", runbook.MaxSteps)
	}
	if plan.Empty() && len(late.claims) == 0 {
		return requeueAt(plan.Next, r.Now()), nil
	}

	verdicts := make([]runbook.Verdict, len(plan.Due))
	var decisions []incident.Decision
	for i, s := range plan.Due {
		v, dec, err := r.Gate.Ask(ctx, &inc, s, now)
		if err != nil {
			r.keepUnrecorded(inc.UID, late)
			return reconcile.Result{}, err
		}
		incident.AppendDecision(&inc.Status, dec)
		decisions = append(decisions, dec)
		verdicts[i] = v
	}
	claimed := runbook.ClaimSteps(&inc, plan, verdicts, now)
	if err := r.lifecycle().archiveTimeline(ctx, &inc); err != nil {
		r.keepUnrecorded(inc.UID, late)
		return reconcile.Result{}, err
	}
	// The claim: with the resourceVersion read, so that of two writers only one
	// claims a step; the loser sees the claim on its next read and runs nothing. Its
	// actions decisions are stored with it as the incident controller stores its own:
	// none is left behind by a claim that loses.
	if _, err := r.lifecycle().commit(ctx, &inc, orig, decisions, false); err != nil {
		r.keepUnrecorded(inc.UID, late)
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: time.Millisecond}, nil
		}
		return reconcile.Result{}, err
	}
	for _, s := range claimed.Denied {
		r.Recorder.Eventf(&inc, nil, corev1.EventTypeWarning, "RunbookActionDenied", "Runbook",
			"runbook %s step %s: the actions policy denied it", s.Name(), s.Step.Name)
	}

	if len(claimed.Claims) > 0 {
		done := r.run(ctx, &inc, claimed.Claims)
		if err := r.record(ctx, &inc, done); err != nil {
			r.keepUnrecorded(inc.UID, done)
			return reconcile.Result{}, err
		}
		for i, c := range done.claims {
			typ, reason := corev1.EventTypeNormal, "RunbookAction"
			if done.outcomes[i].State == klaxonv1.StepFailed {
				typ, reason = corev1.EventTypeWarning, "RunbookActionFailed"
			}
			r.Recorder.Eventf(&inc, nil, typ, reason, "Runbook", "runbook %s step %s: %s", c.Name(), c.Step.Step.Name, done.outcomes[i].Message)
		}
	}
	return requeueAt(plan.Next, r.Now()), nil
}

// run executes the claimed actions in order. They finish, and are recorded, even
// when the manager is stopping: an action cut off would be interrupted for good.
func (r *RunbookRunReconciler) run(ctx context.Context, inc *klaxonv1.Incident, claims []runbook.Claim) outcomes {
	ctx = context.WithoutCancel(ctx)
	out := outcomes{claims: claims}
	for _, c := range claims {
		// Receivers see the key with the incident's UID: the claim's key names the
		// step only within this incident, and they drop keys they have seen.
		a := runbook.Action{Incident: inc.DeepCopy(), Step: c.Step, DryRun: c.DryRun, Key: notify.DeliveryKey(inc.UID, c.Key), Now: r.Now()}
		o := r.Executors.Execute(ctx, a)
		log.FromContext(ctx).V(1).Info("runbook action", "runbook", c.Name(), "step", c.Step.Step.Name, "state", o.State)
		out.outcomes = append(out.outcomes, o)
	}
	return out
}

// record writes outcomes into status, re-reading the incident when someone wrote it
// meanwhile (a setStage action does): entries are found by step, so applying them
// again is safe.
func (r *RunbookRunReconciler) record(ctx context.Context, inc *klaxonv1.Incident, done outcomes) error {
	ctx = context.WithoutCancel(ctx)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		orig := inc.DeepCopy()
		runbook.Record(&inc.Status, done.claims, done.outcomes, r.Now())
		if err := r.lifecycle().archiveTimeline(ctx, inc); err != nil {
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
		return fmt.Errorf("recording runbook actions of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	return nil
}

// attached returns the incident's runbooks that exist, read from the cache. A
// runbook in another tenant's namespace is never used; a missing one is skipped
// (the watch on Runbooks brings the incident back when it appears).
func (r *RunbookRunReconciler) attached(ctx context.Context, inc *klaxonv1.Incident) ([]klaxonv1.Runbook, error) {
	var out []klaxonv1.Runbook
	for _, key := range inc.Status.Runbooks {
		ns, name, ok := strings.Cut(key, "/")
		if !ok || (ns != inc.Namespace && ns != r.SystemNamespace) {
			continue
		}
		var rb klaxonv1.Runbook
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rb); err != nil {
			if apierrors.IsNotFound(err) {
				log.FromContext(ctx).V(1).Info("attached runbook not found", "runbook", key)
				continue
			}
			return nil, fmt.Errorf("reading runbook %s: %w", key, err)
		}
		out = append(out, rb)
	}
	return out, nil
}

// lifecycle lends the incident controller's helpers that write next to status: the
// IncidentDecision objects and the timeline archive. They use the client and the
// recorder only.
func (r *RunbookRunReconciler) lifecycle() *IncidentReconciler {
	return &IncidentReconciler{Client: r.Client, Recorder: r.Recorder}
}

func (r *RunbookRunReconciler) takeUnrecorded(uid types.UID) outcomes {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.unrecorded[uid]
	delete(r.unrecorded, uid)
	return o
}

func (r *RunbookRunReconciler) keepUnrecorded(uid types.UID, o outcomes) {
	if len(o.claims) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unrecorded == nil {
		r.unrecorded = map[types.UID]outcomes{}
	}
	prev := r.unrecorded[uid]
	r.unrecorded[uid] = outcomes{claims: append(prev.claims, o.claims...), outcomes: append(prev.outcomes, o.outcomes...)}
}
