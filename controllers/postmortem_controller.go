package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/klaxon-ops/klaxon/internal/postmortem"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// settleTimeout bounds how long a resolved incident's record waits for its last
// deliveries (the Resolved notices) to finish, so the record says they were sent; the
// notification pipeline gives up on a delivery within 10 minutes.
const settleTimeout = 15 * time.Minute

// settleRecheck is how soon an unsettled incident is looked at again when no write
// of the incident controller brings it back first.
const settleRecheck = 30 * time.Second

// PostmortemReconciler commits the post-mortem record of each resolved incident to the
// PostmortemRepository that applies to its namespace (the tenant's own, else the
// provider's). Its finalizer keeps an incident whose record is not in git yet; a spec
// edit after the commit (root cause, resolution, action items) commits a new version;
// a committed incident is deleted once the repository's retention has passed.
//
// Conditions: PostmortemCommitted (True with the commit; False with why not yet:
// AwaitingResolution, AwaitingDeliveries, RepositoryNotReady, NoRepository, or the
// kind of a failed commit such as RemoteUnavailable).
type PostmortemReconciler struct {
	Client client.Client
	// APIReader reads what only a commit needs (archived timeline, decision inputs)
	// past the cache, and incidents again after a write conflict.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Repos     *repositories
	// Engine evaluates the redact policy; nil masks only what the repository says.
	Engine *policy.Engine
	// Dispatcher sends the PostmortemPublished notice; nil sends none.
	Dispatcher *dispatch.Dispatcher
	// PoliciesLoaded reports whether the engine holds every IncidentPolicy, so no
	// record goes to git before a tenant's redact policy is in force.
	PoliciesLoaded func() bool
	// SystemNamespace holds the provider's repository, used by tenants without one.
	SystemNamespace string
	// Now is the clock; tests inject one.
	Now func() time.Time

	backoff commitBackoff
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents/finalizers,verbs=update
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidenttimelines;incidentdecisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=postmortemrepositories,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=postmortemrepositories/status,verbs=get;update;patch

// Reconcile looks after one incident's record.
func (r *PostmortemReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var inc klaxonv1.Incident
	if err := r.Client.Get(ctx, req.NamespacedName, &inc); err != nil {
		if apierrors.IsNotFound(err) {
			r.backoff.reset(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	pmr, err := r.repositoryFor(ctx, inc.Namespace)
	if err != nil {
		return reconcile.Result{}, err
	}
	committed := pmr != nil && committedCurrent(&inc, pmr)
	released := inc.Annotations[klaxonv1.AnnotationReleasePostmortem] == "true"

	if !inc.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &inc, pmr, committed, released)
	}
	if inc.Status.ObservedGeneration == 0 {
		// The incident controller's first pass (triage, the first pages) comes first:
		// a finalizer written meanwhile would make its write conflict and start over.
		// Its status write brings the incident back here.
		return reconcile.Result{}, nil
	}
	// The finalizer guards exactly what is not in git yet.
	if res, err := r.syncFinalizer(ctx, &inc, pmr != nil && !committed && !released, committed); err != nil || !res.IsZero() {
		return res, err
	}
	switch {
	case pmr == nil:
		return r.orphaned(ctx, &inc)
	case committed:
		return r.retain(ctx, &inc, pmr)
	case inc.Status.State != klaxonv1.StateResolved || inc.Status.ResolvedAt == nil:
		return r.awaitResolution(ctx, &inc)
	}
	if until, wait := r.unsettled(&inc); wait {
		return r.awaitDeliveries(ctx, &inc, until)
	}
	return r.commit(ctx, &inc, pmr, true)
}

// finalize lets a deleted incident go once its record is in git (committing it now,
// whatever its state, if it is not), when no repository applies, or when a person
// released it.
func (r *PostmortemReconciler) finalize(ctx context.Context, inc *klaxonv1.Incident, pmr *klaxonv1.PostmortemRepository, committed, released bool) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(inc, klaxonv1.FinalizerPostmortem) {
		return reconcile.Result{}, nil
	}
	if pmr == nil || committed || released {
		return r.syncFinalizer(ctx, inc, false, committed)
	}
	return r.commit(ctx, inc, pmr, false)
}

// syncFinalizer adds or removes the finalizer as want says. A release by annotation
// of a record not committed is announced with a Warning event.
func (r *PostmortemReconciler) syncFinalizer(ctx context.Context, inc *klaxonv1.Incident, want, committed bool) (reconcile.Result, error) {
	if controllerutil.ContainsFinalizer(inc, klaxonv1.FinalizerPostmortem) == want {
		return reconcile.Result{}, nil
	}
	orig := inc.DeepCopy()
	if want {
		controllerutil.AddFinalizer(inc, klaxonv1.FinalizerPostmortem)
	} else {
		controllerutil.RemoveFinalizer(inc, klaxonv1.FinalizerPostmortem)
	}
	// The optimistic lock keeps a concurrent change of the finalizer list (another
	// controller's) from being overwritten.
	if err := r.Client.Patch(ctx, inc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: time.Millisecond}, nil
		}
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("updating the post-mortem finalizer of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	if !want && !committed && inc.Annotations[klaxonv1.AnnotationReleasePostmortem] == "true" {
		r.Recorder.Eventf(inc, nil, corev1.EventTypeWarning, "PostmortemReleased", "Release",
			"released by the %s annotation before its post-mortem record was committed", klaxonv1.AnnotationReleasePostmortem)
	}
	return reconcile.Result{}, nil
}

// orphaned says so on an incident that was waiting for a repository that is gone.
// Incidents that never had one are left alone.
func (r *PostmortemReconciler) orphaned(ctx context.Context, inc *klaxonv1.Incident) (reconcile.Result, error) {
	c := meta.FindStatusCondition(inc.Status.Conditions, klaxonv1.ConditionPostmortemCommitted)
	if c == nil || c.Status == metav1.ConditionTrue {
		return reconcile.Result{}, nil
	}
	return r.setPending(ctx, inc, klaxonv1.ReasonNoRepository,
		fmt.Sprintf("no PostmortemRepository in %s or %s", inc.Namespace, r.SystemNamespace), 0)
}

// awaitResolution marks a reopened incident's record as pending. A new incident gets no
// condition until it resolves: writing one would only race the incident controller.
func (r *PostmortemReconciler) awaitResolution(ctx context.Context, inc *klaxonv1.Incident) (reconcile.Result, error) {
	if meta.FindStatusCondition(inc.Status.Conditions, klaxonv1.ConditionPostmortemCommitted) == nil {
		return reconcile.Result{}, nil
	}
	return r.setPending(ctx, inc, klaxonv1.ReasonAwaitingResolution,
		"the post-mortem record is committed once the incident is resolved", 0)
}

// unsettled reports whether the incident controller has yet to observe the incident's
// spec or finish its last deliveries, and until when to wait for them.
func (r *PostmortemReconciler) unsettled(inc *klaxonv1.Incident) (time.Time, bool) {
	now := r.Now()
	if inc.Status.ObservedGeneration != inc.Generation {
		return now.Add(settleRecheck), true
	}
	deadline := inc.Status.ResolvedAt.Add(settleTimeout)
	if !now.Before(deadline) || !deliveriesPending(&inc.Status) {
		return time.Time{}, false
	}
	return earliest(deadline, now.Add(settleRecheck)), true
}

// deliveriesPending reports whether a delivery of the current episode is claimed and
// not finished.
func deliveriesPending(st *klaxonv1.IncidentStatus) bool {
	prefix := fmt.Sprintf("r%d/", st.ReopenCount)
	for _, n := range st.Notifications {
		if n.Phase == klaxonv1.NotificationPending && len(n.Key) >= len(prefix) && n.Key[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

func (r *PostmortemReconciler) awaitDeliveries(ctx context.Context, inc *klaxonv1.Incident, until time.Time) (reconcile.Result, error) {
	if inc.Status.ObservedGeneration == inc.Generation {
		if _, err := r.setPending(ctx, inc, klaxonv1.ReasonAwaitingDeliveries,
			"waiting for the incident's last notifications to be delivered, so the record holds their outcome", 0); err != nil {
			return reconcile.Result{}, err
		}
	}
	return requeueAt(until, r.Now()), nil
}

// commit renders, redacts and commits the incident's record, then writes where it
// went, announces it and lets the incident go. announce is false for an incident being
// deleted.
func (r *PostmortemReconciler) commit(ctx context.Context, inc *klaxonv1.Incident, pmr *klaxonv1.PostmortemRepository, announce bool) (reconcile.Result, error) {
	if r.PoliciesLoaded != nil && !r.PoliciesLoaded() {
		return reconcile.Result{RequeueAfter: 500 * time.Millisecond}, nil
	}
	key := client.ObjectKeyFromObject(inc)
	repoKey := pmr.Namespace + "/" + pmr.Name
	repo, err := r.Repos.open(ctx, pmr)
	if err != nil {
		var problem *references.Problem
		if errors.As(err, &problem) {
			// The repository's watch brings the incident back once it is fixed.
			return r.setPending(ctx, inc, klaxonv1.ReasonRepositoryNotReady,
				fmt.Sprintf("PostmortemRepository %s: %s", repoKey, problem.Message), r.backoff.next(key, postmortem.Permanent))
		}
		return reconcile.Result{}, err
	}
	change, err := r.prepare(ctx, inc, pmr, repo)
	if err != nil {
		if postmortem.KindOf(err) == postmortem.Permanent {
			return r.setPending(ctx, inc, postmortem.Permanent.String(), err.Error(), r.backoff.next(key, postmortem.Permanent))
		}
		return reconcile.Result{}, err
	}
	generation := inc.Generation
	results, err := repo.Commit(ctx, []postmortem.Change{change})
	if len(results) == 0 {
		if err == nil {
			err = errors.New("the repository returned no result")
		}
		kind := postmortem.KindOf(err)
		log.FromContext(ctx).Info("post-mortem commit failed; retrying", "repository", repoKey, "reason", kind.String(), "error", err.Error())
		return r.setPending(ctx, inc, kind.String(), truncateMessage(err.Error(), maxConditionMessage), r.backoff.next(key, kind))
	}
	// With results, an error means the record is pushed but its pull request is not
	// open yet: the next attempt commits nothing and opens it.
	res, prErr := results[0], err

	work, stale, err := r.recordCommitted(ctx, inc, repoKey, generation, res, prErr, announce)
	if err != nil || stale {
		// Stale: the spec changed while committing; the new version is next.
		return reconcile.Result{RequeueAfter: time.Millisecond}, err
	}
	if prErr != nil {
		kind := postmortem.KindOf(prErr)
		log.FromContext(ctx).Info("post-mortem pull request failed; retrying", "repository", repoKey, "reason", kind.String(), "error", prErr.Error())
		return reconcile.Result{RequeueAfter: r.backoff.next(key, kind)}, nil
	}
	r.backoff.reset(key)
	if res.Committed {
		r.recordPush(ctx, pmr, res.Commit)
	}
	if res, err := r.syncFinalizer(ctx, inc, false, true); err != nil || !res.IsZero() {
		return res, err
	}
	if len(work.Sends) > 0 {
		// The claims are stored: deliver and record the results as the incident
		// controller does. A failure here leaves them Pending for its retries.
		deliverer := &IncidentReconciler{Client: r.Client, APIReader: r.APIReader, Dispatcher: r.Dispatcher, Now: r.Now}
		if _, err := deliverer.deliver(ctx, inc, work.Sends, nil); err != nil && !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Error(err, "recording the PostmortemPublished deliveries")
		}
	}
	if !inc.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	return r.retain(ctx, inc, pmr)
}

// errStale stops writing a commit's outcome onto an incident whose spec moved on.
var errStale = errors.New("the incident changed while its record was committed")

// recordCommitted writes status.postmortem and PostmortemCommitted for the commit of
// the incident at generation, with a timeline entry for a new version, and claims the
// PostmortemPublished notice when the record is first published in this episode. A
// write conflict is retried on a fresh read; stale is true when the spec moved on.
func (r *PostmortemReconciler) recordCommitted(ctx context.Context, inc *klaxonv1.Incident, repoKey string, generation int64,
	res postmortem.Result, prErr error, announce bool) (work dispatch.Work, stale bool, err error) {
	now := r.Now()
	var published, newVersion bool
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if inc.Generation != generation {
			return errStale
		}
		orig := inc.DeepCopy()
		wasCommitted := meta.IsStatusConditionTrue(orig.Status.Conditions, klaxonv1.ConditionPostmortemCommitted)
		prev := orig.Status.Postmortem
		newVersion = prev == nil || prev.Commit != res.Commit || prev.Path != res.Path
		pm := &klaxonv1.PostmortemStatus{Repository: repoKey, Path: res.Path, Branch: res.Branch, Commit: res.Commit, URL: res.PullRequestURL}
		if !newVersion {
			pm.CommittedAt = prev.CommittedAt
			if pm.URL == "" {
				pm.URL = prev.URL
			}
		}
		if pm.CommittedAt == nil {
			t := metav1.NewTime(now)
			pm.CommittedAt = &t
		}
		inc.Status.Postmortem = pm
		if newVersion {
			incident.AppendTimeline(&inc.Status, klaxonv1.TimelineEntry{Time: metav1.NewTime(now.Truncate(time.Second)),
				Type: "PostmortemCommitted", Actor: "klaxon",
				Message: fmt.Sprintf("post-mortem record %s committed as %s to %s", res.Path, shortCommit(res.Commit), repoKey)})
		}
		work = dispatch.Work{}
		if prErr != nil {
			setCondition(inc, klaxonv1.ConditionPostmortemCommitted, metav1.ConditionFalse, postmortem.KindOf(prErr).String(),
				truncateMessage(fmt.Sprintf("record %s pushed to branch %s as %s; the pull request is not open yet: %v",
					res.Path, res.Branch, shortCommit(res.Commit), prErr), maxConditionMessage))
		} else {
			setCondition(inc, klaxonv1.ConditionPostmortemCommitted, metav1.ConditionTrue, klaxonv1.ReasonCommitted,
				fmt.Sprintf("record %s committed as %s to %s", res.Path, shortCommit(res.Commit), repoKey))
			published = !wasCommitted
			if published && announce && r.Dispatcher != nil {
				var claimErr error
				if work, claimErr = r.claimNotice(ctx, inc); claimErr != nil {
					return claimErr
				}
			}
		}
		// The notice's decisions are stored with the status that refers to them, and
		// deleted again when it loses to another writer.
		_, err := r.lifecycle().commit(ctx, inc, orig, work.Decisions, false)
		if apierrors.IsConflict(err) {
			if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(inc), inc); gerr != nil {
				return gerr
			}
		}
		return err
	})
	if errors.Is(err, errStale) {
		return dispatch.Work{}, true, nil
	}
	if err != nil {
		return dispatch.Work{}, false, fmt.Errorf("recording the post-mortem commit of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	// Events go out once the commit is recorded, and only for news.
	if newVersion || published {
		r.Recorder.Eventf(inc, nil, corev1.EventTypeNormal, "PostmortemCommitted", "Commit",
			"post-mortem record %s committed to %s (branch %s) at revision %s", res.Path, repoKey, res.Branch, res.Commit)
	}
	raiseWarnings(r.Recorder, inc, work.Warnings)
	return work, false, nil
}

// lifecycle lends the incident controller's helpers that write next to status.
func (r *PostmortemReconciler) lifecycle() *IncidentReconciler {
	return &IncidentReconciler{Client: r.Client, Recorder: r.Recorder}
}

// claimNotice plans the PostmortemPublished notice for the stakeholder groups that
// hear it and claims its deliveries in inc's status, to be written, with the
// decisions taken for it, by the caller.
func (r *PostmortemReconciler) claimNotice(ctx context.Context, inc *klaxonv1.Incident) (dispatch.Work, error) {
	now := r.Now()
	work, err := r.Dispatcher.Plan(ctx, inc, []dispatch.Notice{{Event: klaxonv1.EventPostmortemPublished, Actor: "klaxon"}}, now)
	if err != nil {
		return dispatch.Work{}, fmt.Errorf("planning the PostmortemPublished notice: %w", err)
	}
	for _, d := range work.Decisions {
		incident.AppendDecision(&inc.Status, d)
	}
	if err := r.lifecycle().archiveTimeline(ctx, inc); err != nil {
		return dispatch.Work{}, err
	}
	return work, nil
}

// setPending sets PostmortemCommitted to False with reason and message, when that
// changes it, with a Warning event when the reason changes, and asks to come back
// after retryIn (never, when zero).
func (r *PostmortemReconciler) setPending(ctx context.Context, inc *klaxonv1.Incident, reason, message string, retryIn time.Duration) (reconcile.Result, error) {
	result := reconcile.Result{RequeueAfter: retryIn}
	c := meta.FindStatusCondition(inc.Status.Conditions, klaxonv1.ConditionPostmortemCommitted)
	if c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason && c.Message == message {
		return result, nil
	}
	orig := inc.DeepCopy()
	setCondition(inc, klaxonv1.ConditionPostmortemCommitted, metav1.ConditionFalse, reason, message)
	if err := writeStatus(ctx, r.Client, inc, orig, true); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return reconcile.Result{RequeueAfter: time.Millisecond}, nil
		}
		return reconcile.Result{}, err
	}
	if c == nil || c.Reason != reason {
		typ := corev1.EventTypeWarning
		switch reason {
		case klaxonv1.ReasonAwaitingResolution, klaxonv1.ReasonAwaitingDeliveries:
			typ = corev1.EventTypeNormal
		}
		r.Recorder.Eventf(inc, nil, typ, reason, "Commit", "post-mortem record not committed: %s", message)
	}
	return result, nil
}

// retain deletes a resolved incident whose record is committed once the repository's
// retention has passed since it resolved, and otherwise comes back then.
func (r *PostmortemReconciler) retain(ctx context.Context, inc *klaxonv1.Incident, pmr *klaxonv1.PostmortemRepository) (reconcile.Result, error) {
	retention := pmr.Spec.RetentionPeriod()
	if retention <= 0 || inc.Status.State != klaxonv1.StateResolved || inc.Status.ResolvedAt == nil {
		return reconcile.Result{}, nil
	}
	due := inc.Status.ResolvedAt.Add(retention)
	if now := r.Now(); now.Before(due) {
		return reconcile.Result{RequeueAfter: due.Sub(now)}, nil
	}
	// The preconditions make a concurrent edit (a reopen) win over the deletion.
	uid, rv := inc.UID, inc.ResourceVersion
	err := r.Client.Delete(ctx, inc, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	switch {
	case apierrors.IsNotFound(err):
		return reconcile.Result{}, nil
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: time.Millisecond}, nil
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("deleting %s/%s after its retention: %w", inc.Namespace, inc.Name, err)
	}
	log.FromContext(ctx).Info("deleted a resolved incident after its retention; the record in git is the archive",
		"retention", retention.String(), "path", inc.Status.Postmortem.Path)
	r.Recorder.Eventf(inc, nil, corev1.EventTypeNormal, "RetentionElapsed", "Delete",
		"deleted %s after it resolved; its post-mortem record is %s in %s", retention, inc.Status.Postmortem.Path, inc.Status.Postmortem.Repository)
	return reconcile.Result{}, nil
}

// prepare gathers the incident's whole history and decision inputs, applies the
// repository's and the tenant's redaction, and returns the change that commits it.
func (r *PostmortemReconciler) prepare(ctx context.Context, inc *klaxonv1.Incident, pmr *klaxonv1.PostmortemRepository, repo *postmortem.Repository) (postmortem.Change, error) {
	history, err := incident.History(ctx, r.APIReader, inc)
	if err != nil {
		return postmortem.Change{}, err
	}
	inputs, err := r.decisionInputs(ctx, inc)
	if err != nil {
		return postmortem.Change{}, err
	}
	extra, err := r.policyRedaction(ctx, inc)
	if err != nil {
		return postmortem.Change{}, err
	}
	redactor, err := postmortem.NewRedactor(pmr.Spec.Redaction, extra)
	if err != nil {
		return postmortem.Change{}, &postmortem.Error{Kind: postmortem.Permanent, Op: "redact", Err: err}
	}
	change, err := repo.Prepare(postmortem.FromIncident(inc, history, inputs), redactor)
	if err != nil {
		return postmortem.Change{}, err
	}
	if pm := inc.Status.Postmortem; pm != nil && slices.Contains(change.Paths(), pm.Path) {
		change.KnownCommit = pm.Commit
	}
	return change, nil
}

// decisionInputs maps the ids of the incident's decisions to their inputs, from the
// IncidentDecisions it owns (one of an earlier incident of the same name is not its)
// and the records status still keeps in pendingDecisions.
func (r *PostmortemReconciler) decisionInputs(ctx context.Context, inc *klaxonv1.Incident) (map[string]json.RawMessage, error) {
	var list klaxonv1.IncidentDecisionList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(inc.Namespace),
		client.MatchingLabels{klaxonv1.LabelIncident: incident.LabelValue(inc.Name)}); err != nil {
		return nil, fmt.Errorf("listing the decisions of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	out := map[string]json.RawMessage{}
	for i := range list.Items {
		d := &list.Items[i]
		if d.Spec.Incident != inc.Name || !metav1.IsControlledBy(d, inc) {
			continue
		}
		addInputs(out, d.Spec)
	}
	// Records not stored as objects yet are in status, written ahead.
	pending, err := incident.Pending(&inc.Status)
	if err != nil {
		return nil, fmt.Errorf("the decisions of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	for _, spec := range pending {
		addInputs(out, spec)
	}
	return out, nil
}

// addInputs adds the inputs of a record's decisions to out, by decision id.
func addInputs(out map[string]json.RawMessage, spec klaxonv1.IncidentDecisionSpec) {
	for _, d := range spec.Decisions {
		out[d.ID] = json.RawMessage(d.Input)
	}
}

// policyRedaction asks the tenant's redact policy what else to mask. Its now is the
// resolution time, so the same incident always gets the same answer.
func (r *PostmortemReconciler) policyRedaction(ctx context.Context, inc *klaxonv1.Incident) (klaxonv1.Redaction, error) {
	if r.Engine == nil {
		return klaxonv1.Redaction{}, nil
	}
	now := r.Now()
	if inc.Status.ResolvedAt != nil {
		now = inc.Status.ResolvedAt.Time
	}
	d, _, err := r.Engine.Redact(ctx, policy.RedactInput{Input: policy.Input{Incident: inc, Tenant: inc.Namespace, Now: now}})
	if err != nil {
		return klaxonv1.Redaction{}, fmt.Errorf("redact decision for %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	return postmortem.PolicyRedaction(d.Patterns, d.Fields), nil
}

// recordPush notes the last commit pushed on the repository's status. It is
// informational: a failure is logged, never retried.
func (r *PostmortemReconciler) recordPush(ctx context.Context, pmr *klaxonv1.PostmortemRepository, commit string) {
	orig := pmr.DeepCopy()
	now := metav1.NewTime(r.Now())
	pmr.Status.LastCommit, pmr.Status.LastPushAt = commit, &now
	if err := r.Client.Status().Patch(ctx, pmr, client.MergeFrom(orig)); err != nil && !apierrors.IsNotFound(err) {
		log.FromContext(ctx).Error(err, "recording the last push on the post-mortem repository", "repository", pmr.Namespace+"/"+pmr.Name)
	}
}

// repositoryFor is the PostmortemRepository for incidents of ns: the tenant's own,
// else the provider's; the first by name when a namespace has several.
func (r *PostmortemReconciler) repositoryFor(ctx context.Context, ns string) (*klaxonv1.PostmortemRepository, error) {
	for _, candidate := range []string{ns, r.SystemNamespace} {
		var list klaxonv1.PostmortemRepositoryList
		if err := r.Client.List(ctx, &list, client.InNamespace(candidate)); err != nil {
			return nil, fmt.Errorf("listing post-mortem repositories in %s: %w", candidate, err)
		}
		if len(list.Items) > 0 {
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			return &list.Items[0], nil
		}
	}
	return nil, nil
}

// committedCurrent reports whether the record of the incident's current spec is in
// pmr: PostmortemCommitted is True for this generation.
func committedCurrent(inc *klaxonv1.Incident, pmr *klaxonv1.PostmortemRepository) bool {
	c := meta.FindStatusCondition(inc.Status.Conditions, klaxonv1.ConditionPostmortemCommitted)
	pm := inc.Status.Postmortem
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == inc.Generation &&
		pm != nil && pm.Repository == pmr.Namespace+"/"+pmr.Name
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// commitBackoff spaces the retries of an incident's failing commit: from 1s for a
// remote that is down (5s for what needs a person: credentials, a rejected push, the
// configuration), doubling to 5 minutes. It lives in memory; a restart retries at once.
type commitBackoff struct {
	mu       sync.Mutex
	failures map[types.NamespacedName]int
}

const maxCommitBackoff = 5 * time.Minute

func (b *commitBackoff) next(key types.NamespacedName, kind postmortem.ErrorKind) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures == nil {
		b.failures = map[types.NamespacedName]int{}
	}
	n := b.failures[key]
	b.failures[key] = n + 1
	d := time.Second
	if kind != postmortem.Transient {
		d = 5 * time.Second
	}
	for ; n > 0 && d < maxCommitBackoff; n-- {
		d *= 2
	}
	return min(d, maxCommitBackoff)
}

func (b *commitBackoff) reset(key types.NamespacedName) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.failures, key)
}
