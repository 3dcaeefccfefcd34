package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// maxAttempts bounds how often one group is decided again after losing a race (an
// AlreadyExists, a conflict); each retry starts from a fresher view, so a few suffice.
const maxAttempts = 10

// groupParallelism is how many groups of one request are written at once: a batch of
// new alerts costs the latency of a few writes, not of one per group.
const groupParallelism = 8

// errStale means the index moved on between two reads of one decision; decide again.
var errStale = errors.New("the incident changed while intake decided")

// store turns a source's alert groups into Incidents. It persists what a sender must
// be able to rely on once answered (new incidents, firing alerts, resolutions,
// reopens) before returning, and leaves counts to the coalescer.
//
// Replicas never open two incidents for one group: an incident's name follows from
// its source, group key and sequence number, so two replicas (or two requests) that
// decide to open the same incident race to create the same object, and the loser gets
// AlreadyExists, reads the winner and decides again (usually: attach to it). Updates
// carry the resourceVersion they were decided on; a conflict means someone changed
// the incident meanwhile (a person resolved it, another replica tracked an alert),
// so the store re-reads it and decides again. Within a replica, a group's alerts are
// decided one request at a time.
type store struct {
	c      client.Client
	reader client.Reader // uncached: what the index has not seen yet
	index  *index
	locks  [256]sync.Mutex
}

// group is the alerts of one request that share a group key, in the order sent.
type group struct {
	key    string
	alerts []intake.Alert
	// downgrades are parallel to alerts: what a maintenance window did to each.
	downgrades []downgrade
}

// downgrade is a maintenance window's Downgrade of one alert.
type downgrade struct {
	to     klaxonv1.Severity
	window string // namespace/name
}

// outcome is what one group's alerts did.
type outcome struct {
	// incident the alerts went to; empty when they were ignored.
	incident                   types.NamespacedName
	opened, reopened, resolved bool
	ignored                    bool
}

// ingest persists every group of a request; it fails if any group fails, after the
// others have finished (what they persisted stays: a retry finds it).
func (s *store) ingest(ctx context.Context, src *klaxonv1.AlertSource, groups []group, now time.Time) ([]outcome, error) {
	out := make([]outcome, len(groups))
	var eg errgroup.Group
	eg.SetLimit(groupParallelism)
	for i := range groups {
		eg.Go(func() error {
			o, err := s.ingestGroup(ctx, src, &groups[i], now)
			out[i] = o
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// ingestGroup decides what one group's alerts do and persists it.
func (s *store) ingestGroup(ctx context.Context, src *klaxonv1.AlertSource, g *group, now time.Time) (outcome, error) {
	lock := &s.locks[lockIndex(src.Namespace, intake.GroupHash(src.Name, g.key))]
	lock.Lock()
	defer lock.Unlock()

	policy := intake.PolicyOf(src.Spec)
	for range maxAttempts {
		cur, rv := s.index.current(src.Namespace, src.Name, g.key)
		plan := intake.Decide(cur, g.alerts, policy, now)
		switch plan.Action {
		case intake.ActionIgnore:
			return outcome{ignored: true}, nil
		case intake.ActionCount:
			return outcome{incident: types.NamespacedName{Namespace: src.Namespace, Name: cur.Name}}, nil
		case intake.ActionOpen:
			d := g.downgrades[plan.Lead]
			inc := intake.NewIncident(src, g.alerts[plan.Lead], plan, d.to, d.window, now)
			key := client.ObjectKeyFromObject(inc)
			err := s.c.Create(ctx, inc)
			if err == nil {
				incidentWrites.WithLabelValues("create").Inc()
				s.index.observe(inc)
				return outcome{incident: key, opened: true, resolved: plan.State == klaxonv1.StateResolved}, nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return outcome{}, fmt.Errorf("opening incident %s: %w", key, err)
			}
			// Another replica or request opened it first, or the informer has not
			// shown it yet: read it, then decide again (usually: attach to it).
			if err := s.read(ctx, key); err != nil {
				return outcome{}, err
			}
		case intake.ActionUpdate:
			key := types.NamespacedName{Namespace: src.Namespace, Name: cur.Name}
			err := s.update(ctx, src, key, rv, plan, now)
			if err == nil {
				incidentWrites.WithLabelValues("update").Inc()
				return outcome{incident: key, reopened: plan.Reopen, resolved: plan.Resolve}, nil
			}
			switch {
			case errors.Is(err, errStale):
			case apierrors.IsConflict(err), apierrors.IsNotFound(err):
				if err := s.read(ctx, key); err != nil {
					return outcome{}, err
				}
			default:
				return outcome{}, fmt.Errorf("updating incident %s: %w", key, err)
			}
		}
	}
	return outcome{}, fmt.Errorf("alert group %q of %s/%s: gave up after %d attempts that raced other writers",
		g.key, src.Namespace, src.Name, maxAttempts)
}

// update writes a plan's firing set and change of state, on the resourceVersion the
// plan was decided on. Annotations and state go in one write, so a resolution and
// the firing set it follows from are never apart.
func (s *store) update(ctx context.Context, src *klaxonv1.AlertSource, key types.NamespacedName, rv string, plan intake.Plan, now time.Time) error {
	annotations := map[string]any{
		klaxonv1.AnnotationFiring:         intake.EncodeFiring(plan.Firing.List()),
		klaxonv1.AnnotationFiringOverflow: nil, // a merge patch's null removes it
	}
	if plan.Firing.Overflow {
		annotations[klaxonv1.AnnotationFiringOverflow] = "true"
	}
	spec := map[string]any{}
	actor := intake.Actor(klaxonv1.SourceAlertSource, src.Name)
	if plan.Resolve || plan.Reopen {
		// Klaxon's own identity may name the actor; the timeline then says which
		// source resolved or reopened the incident rather than "klaxon".
		annotations[klaxonv1.AnnotationStateChangedBy] = actor
		annotations[klaxonv1.AnnotationStateChangedAt] = now.UTC().Format(time.RFC3339Nano)
		spec["state"] = plan.State
	}
	if plan.FlapNote != "" {
		notes, notesRV, ok := s.index.notes(key)
		if !ok || notesRV != rv {
			return errStale
		}
		at := metav1.NewTime(now)
		spec["notes"] = append(notes, klaxonv1.IncidentNote{Author: actor, Time: &at, Text: plan.FlapNote})
	}
	body := map[string]any{"metadata": map[string]any{"resourceVersion": rv, "annotations": annotations}}
	if len(spec) > 0 {
		body["spec"] = spec
	}
	patch, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding the update: %w", err)
	}
	inc := &klaxonv1.Incident{}
	inc.Namespace, inc.Name = key.Namespace, key.Name
	if err := s.c.Patch(ctx, inc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return err
	}
	s.index.observe(inc)
	return nil
}

// read refreshes the index with an incident as the API server has it now.
func (s *store) read(ctx context.Context, key types.NamespacedName) error {
	var inc klaxonv1.Incident
	if err := s.reader.Get(ctx, key, &inc); err != nil {
		if apierrors.IsNotFound(err) {
			s.index.forget(key)
			return nil
		}
		return fmt.Errorf("reading incident %s: %w", key, err)
	}
	s.index.observe(&inc)
	return nil
}

func lockIndex(namespace, hash string) int {
	h := fnv.New32a()
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write([]byte(hash))
	return int(h.Sum32() % 256)
}
