package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
)

// pendingRetry is how soon a reconcile comes back to store decision records the API
// server refused.
const pendingRetry = 5 * time.Second

// decisionObject is the IncidentDecision, owned by inc, that keeps spec.
func (r *IncidentReconciler) decisionObject(inc *klaxonv1.Incident, spec klaxonv1.IncidentDecisionSpec) (*klaxonv1.IncidentDecision, error) {
	obj := incident.DecisionObject(inc, spec)
	if err := controllerutil.SetControllerReference(inc, obj, r.Client.Scheme()); err != nil {
		return nil, fmt.Errorf("owning decision %s: %w", obj.Name, err)
	}
	return obj, nil
}

// createDecision stores obj; it reports whether this call created it (false when it
// was there already).
func (r *IncidentReconciler) createDecision(ctx context.Context, obj *klaxonv1.IncidentDecision) (bool, error) {
	err := r.Client.Create(ctx, obj)
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("storing decision %s: %w", obj.Name, err)
	}
	return true, nil
}

// storeRecords creates the IncidentDecisions of specs, all at once. It returns the
// record ids (incident.RecordID) of those that exist now, and which of them this call
// created.
func (r *IncidentReconciler) storeRecords(ctx context.Context, inc *klaxonv1.Incident, specs []klaxonv1.IncidentDecisionSpec) (stored map[string]bool, created []*klaxonv1.IncidentDecision) {
	objs := make([]*klaxonv1.IncidentDecision, len(specs))
	made := make([]bool, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		obj, err := r.decisionObject(inc, spec)
		if err != nil {
			errs[i] = err
			continue
		}
		objs[i] = obj
		wg.Go(func() { made[i], errs[i] = r.createDecision(ctx, obj) })
	}
	wg.Wait()
	stored = map[string]bool{}
	for i, spec := range specs {
		id := incident.RecordID(spec)
		if errs[i] != nil {
			log.FromContext(ctx).Error(errs[i], "decision record not stored; status keeps it until it is", "record", id)
			r.Recorder.Eventf(inc, nil, corev1.EventTypeWarning, "DecisionNotStored", "Decide",
				"the record of decisions %s is kept in status.pendingDecisions until it can be stored: %v", decisionList(spec), errs[i])
			continue
		}
		stored[id] = true
		if made[i] {
			created = append(created, objs[i])
		}
	}
	return stored, created
}

// storePending stores the records an earlier reconcile wrote ahead in
// status.pendingDecisions and did not store (a crash, a refusal), and drops those it
// stored from inc's status; the caller's status write clears them. Records this
// process stored and cleared a moment ago, which a cache not yet up to date still
// shows, are left alone: the API server has them cleared already.
func (r *IncidentReconciler) storePending(ctx context.Context, inc *klaxonv1.Incident) {
	rest := r.unstored(ctx, inc)
	if len(rest) == 0 {
		return
	}
	stored, _ := r.storeRecords(ctx, inc, rest)
	if err := r.clearStored(inc, stored); err != nil {
		log.FromContext(ctx).Error(err, "clearing stored decision records from status")
	}
}

// unstored are the records in inc's status.pendingDecisions that this process has
// not stored and cleared.
func (r *IncidentReconciler) unstored(ctx context.Context, inc *klaxonv1.Incident) []klaxonv1.IncidentDecisionSpec {
	specs, err := incident.Pending(&inc.Status)
	if err != nil {
		log.FromContext(ctx).Error(err, "status.pendingDecisions unreadable; left as it is")
		return nil
	}
	var rest []klaxonv1.IncidentDecisionSpec
	for _, s := range specs {
		if !r.recent.has(incident.RecordID(s)) {
			rest = append(rest, s)
		}
	}
	return rest
}

// clearStored drops the records whose ids are in stored from inc's
// status.pendingDecisions.
func (r *IncidentReconciler) clearStored(inc *klaxonv1.Incident, stored map[string]bool) error {
	specs, err := incident.Pending(&inc.Status)
	if err != nil || len(specs) == 0 {
		return err
	}
	_, err = incident.SetPending(&inc.Status, incident.WithoutStored(specs, stored))
	return err
}

// recentRecords remembers the ids of the decision records this process stored and
// cleared from status in the last minute.
type recentRecords struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

func (rr *recentRecords) add(id string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	now := time.Now()
	if rr.ids == nil {
		rr.ids = map[string]time.Time{}
	}
	if len(rr.ids) >= 4096 {
		for k, at := range rr.ids {
			if now.Sub(at) > time.Minute {
				delete(rr.ids, k)
			}
		}
	}
	rr.ids[id] = now
}

func (rr *recentRecords) has(id string) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	at, ok := rr.ids[id]
	return ok && time.Since(at) <= time.Minute
}

// commit writes a reconcile's status with its decisions. Every decision's record
// (its input, kept for the post-mortem and replay) is durable no later than the
// status that refers to it:
//
//   - With deliveries to make (ahead), the records go into status.pendingDecisions,
//     in the one status write that claims the deliveries: a page waits for one write,
//     not two. The returned records are stored as objects once the deliveries are
//     under way, and cleared from status with their results.
//   - Otherwise the objects are created first, all at once, then the status. One the
//     API server refuses goes into status.pendingDecisions instead, so it does not
//     hold status back and is stored again later. When the status write conflicts,
//     the objects created for it are deleted again: the retry takes its decisions
//     anew, and none is left behind.
func (r *IncidentReconciler) commit(ctx context.Context, inc, orig *klaxonv1.Incident, decisions []incident.Decision, ahead bool) (toStore []klaxonv1.IncidentDecisionSpec, err error) {
	if len(decisions) == 0 {
		return nil, writeStatus(ctx, r.Client, inc, orig, true)
	}
	specs, err := incident.DecisionRecords(inc, decisions)
	if err != nil {
		return nil, err
	}
	earlier, err := incident.Pending(&inc.Status)
	if err != nil {
		return nil, err
	}
	if ahead {
		fits, err := incident.SetPending(&inc.Status, append(earlier, specs...))
		if err != nil {
			return nil, err
		}
		if fits {
			if err := writeStatus(ctx, r.Client, inc, orig, true); err != nil {
				return nil, err
			}
			return specs, nil
		}
	}
	stored, created := r.storeRecords(ctx, inc, specs)
	fits, err := incident.SetPending(&inc.Status, append(earlier, incident.WithoutStored(specs, stored)...))
	if err == nil && !fits {
		err = fmt.Errorf("decision records of %s/%s refused, and too large to keep in status meanwhile", inc.Namespace, inc.Name)
	}
	if err == nil {
		err = writeStatus(ctx, r.Client, inc, orig, true)
	}
	if err != nil && (apierrors.IsConflict(err) || !fits) {
		r.unstore(ctx, created)
	}
	return nil, err
}

// unstore deletes the decision objects a status write that failed would have
// referred to.
func (r *IncidentReconciler) unstore(ctx context.Context, objs []*klaxonv1.IncidentDecision) {
	for _, obj := range objs {
		if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &obj.UID}); err != nil && !apierrors.IsNotFound(err) {
			// Owned by the incident: the garbage collector removes it with it.
			log.FromContext(ctx).Error(err, "removing a decision its status write lost", "decision", obj.Name)
		}
	}
}

// decisionList names a record's decisions for a message: "triage a, escalation b".
func decisionList(spec klaxonv1.IncidentDecisionSpec) string {
	parts := make([]string, len(spec.Decisions))
	for i, d := range spec.Decisions {
		parts[i] = d.Point + " " + d.ID
	}
	return strings.Join(parts, ", ")
}
