package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// pingCoalesce: a ping within this long of the stored one, with the heartbeat up,
// is answered without a write, so a pinger gone wild costs the API server at most a
// write a second. The stored deadline is then at most this much earlier than the
// pings allow, which the grace absorbs.
const pingCoalesce = time.Second

// pingResult is what a ping did.
type pingResult struct {
	state      klaxonv1.HeartbeatState
	deadlineAt time.Time
	resolved   string // the incident the ping resolved
	coalesced  bool
}

// ping records a heartbeat's ping at now: it resolves the incident of a down
// heartbeat, then stores the ping and the next deadline. Both are persisted before it
// returns. Its status writes carry the resourceVersion they were computed from, so a
// ping racing the controller's miss never leaves the heartbeat up with an open
// incident: whichever loses re-reads and acts on what the other did.
func (r *Receiver) ping(ctx context.Context, hb *klaxonv1.Heartbeat, now time.Time) (pingResult, error) {
	key := client.ObjectKeyFromObject(hb)
	for attempt := range maxAttempts {
		if attempt > 0 {
			hb = &klaxonv1.Heartbeat{}
			if err := r.reader.Get(ctx, key, hb); err != nil {
				return pingResult{}, fmt.Errorf("reading heartbeat %s: %w", key, err)
			}
		}
		st := hb.Status
		if st.State == klaxonv1.HeartbeatUp && st.Incident == "" && st.LastPingAt != nil && st.DeadlineAt != nil {
			if since := now.Sub(st.LastPingAt.Time); since >= 0 && since < pingCoalesce {
				return pingResult{state: st.State, deadlineAt: st.DeadlineAt.Time, coalesced: true}, nil
			}
		}
		var res pingResult
		if st.Incident != "" {
			if err := r.resolveHeartbeatIncident(ctx, hb, now); err != nil {
				return pingResult{}, err
			}
			res.resolved = st.Incident
		}
		res.state, res.deadlineAt = klaxonv1.HeartbeatUp, intake.HeartbeatDeadline(hb, now)
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": hb.ResourceVersion},
			"status": map[string]any{
				"state":      res.state,
				"lastPingAt": metav1.NewTime(now),
				"deadlineAt": metav1.NewTime(res.deadlineAt),
				"incident":   nil,
			},
		})
		if err != nil {
			return pingResult{}, fmt.Errorf("encoding the ping: %w", err)
		}
		if err := r.c.Status().Patch(ctx, hb.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			return pingResult{}, fmt.Errorf("recording the ping of heartbeat %s: %w", key, err)
		}
		return res, nil
	}
	return pingResult{}, fmt.Errorf("heartbeat %s: gave up after %d attempts that raced other writers", key, maxAttempts)
}

// resolveHeartbeatIncident resolves the incident of a down heartbeat, naming the
// heartbeat as who resolved it. When the controller recorded the miss but has not
// created the incident yet, the incident is created resolved: the miss happened, and
// the controller's create then finds it.
func (r *Receiver) resolveHeartbeatIncident(ctx context.Context, hb *klaxonv1.Heartbeat, now time.Time) error {
	key := types.NamespacedName{Namespace: hb.Namespace, Name: hb.Status.Incident}
	actor := intake.Actor(klaxonv1.SourceHeartbeat, hb.Name)
	for range maxAttempts {
		var inc klaxonv1.Incident
		err := r.reader.Get(ctx, key, &inc)
		if apierrors.IsNotFound(err) {
			deadline := now
			if hb.Status.DeadlineAt != nil {
				deadline = hb.Status.DeadlineAt.Time
			}
			missed := intake.HeartbeatIncident(hb, deadline, klaxonv1.StateResolved, now)
			missed.Name = key.Name
			err = r.c.Create(ctx, missed)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("recording incident %s of heartbeat %s: %w", key, hb.Name, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading incident %s: %w", key, err)
		}
		if inc.Spec.State == klaxonv1.StateResolved {
			return nil
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": inc.ResourceVersion, "annotations": map[string]any{
				klaxonv1.AnnotationStateChangedBy: actor,
				klaxonv1.AnnotationStateChangedAt: now.UTC().Format(time.RFC3339Nano),
			}},
			"spec": map[string]any{"state": klaxonv1.StateResolved},
		})
		if err != nil {
			return fmt.Errorf("encoding the resolution: %w", err)
		}
		err = r.c.Patch(ctx, &inc, client.RawPatch(types.MergePatchType, patch))
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("resolving incident %s of heartbeat %s: %w", key, hb.Name, err)
		}
		return nil
	}
	return fmt.Errorf("incident %s: gave up after %d attempts that raced other writers", key, maxAttempts)
}
