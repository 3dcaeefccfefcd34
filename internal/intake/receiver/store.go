package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
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
// be able to rely on once answered (new incidents, resolutions, reopens) before
// returning, and leaves counts to the coalescer.
//
// A further firing alert of an open incident (a new instance joining it) is neither
// a new incident nor a resolution: like a duplicate, it only adds to the incident. The
// store keeps it in memory (pending) and every decision of its group sees it merged
// with what is persisted, so an alert resolving while a sibling is still firing only
// in memory never resolves the incident; the coalescer writes it within a flush
// interval (flushGroup), and any decision that writes the incident anyway (a
// resolution, a reopen, a resolved sibling) writes it too.
//
// Replicas never open two incidents for one group: an incident's name follows from
// its source, group key and sequence number, so two replicas (or two requests) that
// decide to open the same incident race to create the same object, and the loser gets
// AlreadyExists, reads the winner and decides again (usually: attach to it). Updates
// carry the resourceVersion they were decided on; a conflict means someone changed
// the incident meanwhile (a person resolved it, another replica tracked an alert),
// so the store re-reads it and decides again. Within a replica, a group's alerts are
// decided one request (or flush) at a time.
type store struct {
	c      client.Client
	reader client.Reader // uncached: what the index has not seen yet
	index  *index
	locks  [lockStripes]sync.Mutex

	// pending holds, by group, firing alerts not yet persisted in the group's
	// incident. An entry changes only under its group's lock; pendingMu guards the map.
	pendingMu sync.RWMutex
	pending   map[groupRef]*pendingGroup
}

// groupRef is one source's alert group, with its intake.GroupHash.
type groupRef struct{ namespace, source, key, hash string }

func newGroupRef(namespace, source, key string) groupRef {
	return groupRef{namespace: namespace, source: source, key: key, hash: intake.GroupHash(source, key)}
}

// pendingGroup is what a group's requests added to its incident that is not written
// yet: further firing alerts, one per fingerprint, at most intake.MaxFiring + 1 (past
// that the set has overflowed and nothing more changes it).
type pendingGroup struct {
	src        *klaxonv1.AlertSource // the newest seen: its policy decides the flush
	alerts     []intake.Alert
	downgrades []downgrade
	since      time.Time // when the oldest arrived, to flush oldest first

	// merged is base (a persisted set from the index, never changed) with alerts
	// added, kept for the next decision until either changes; never changed itself.
	merged, base *intake.FiringSet
	version      int // changes with alerts
}

func newStore(c client.Client, reader client.Reader, idx *index) *store {
	return &store{c: c, reader: reader, index: idx, pending: map[groupRef]*pendingGroup{}}
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

// ingestGroup decides what one group's alerts do, persists it or, for further
// firing alerts of an open incident, keeps them pending.
//
// Duplicates, the bulk of a storm, are decided without the group's lock: a decision
// that only counts writes nothing, so it cannot race a write; it is as if it had
// arrived just before whatever write holds the lock. Anything else takes the lock and
// decides again.
func (s *store) ingestGroup(ctx context.Context, src *klaxonv1.AlertSource, g *group, now time.Time) (outcome, error) {
	ref := newGroupRef(src.Namespace, src.Name, g.key)
	if cur := s.current(ref); cur != nil {
		if plan := intake.Decide(cur, g.alerts, intake.PolicyOf(src.Spec), now); plan.Action == intake.ActionCount {
			return outcome{incident: types.NamespacedName{Namespace: src.Namespace, Name: cur.Name}}, nil
		}
	}
	lock := s.lock(ref)
	lock.Lock()
	defer lock.Unlock()
	return s.decide(ctx, src, ref, g, now, modeRequest)
}

// current is the group's newest incident with its pending alerts merged in.
func (s *store) current(ref groupRef) *intake.Current {
	cur, _ := s.index.currentOf(ref.namespace, ref.hash, ref.source, ref.key)
	if cur != nil {
		cur.Firing = s.withPending(ref, cur.Firing)
	}
	return cur
}

// mode is who decides: a request, or a flush of pending alerts.
type mode int

const (
	// modeRequest decides against the incident merged with the pending alerts, keeps
	// further firing alerts pending, and holds the group's lock.
	modeRequest mode = iota
	// modeFlush decides the pending alerts themselves against the incident as
	// persisted, and writes whatever that requires.
	modeFlush
)

// decide runs one group's alerts against the group's newest incident until what it
// decided is persisted (or, for a request, kept pending).
func (s *store) decide(ctx context.Context, src *klaxonv1.AlertSource, ref groupRef, g *group, now time.Time, m mode) (outcome, error) {
	policy := intake.PolicyOf(src.Spec)
	for range maxAttempts {
		cur, rv := s.index.currentOf(ref.namespace, ref.hash, ref.source, ref.key)
		if cur != nil && m == modeRequest {
			cur.Firing = s.withPending(ref, cur.Firing)
		}
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
			if m == modeRequest && onlyAdds(plan, cur) {
				s.addPending(ref, src, g, cur.Firing, now)
				return outcome{incident: key}, nil
			}
			err := s.update(ctx, src, key, rv, plan, now)
			if err == nil {
				if m == modeRequest {
					incidentWrites.WithLabelValues("update").Inc()
					// The firing set written holds what was pending: nothing is left.
					s.dropPending(ref)
				} else {
					incidentWrites.WithLabelValues("pending").Inc()
				}
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

// onlyAdds reports whether a plan only adds firing alerts to an open incident: no
// change of state, nothing resolved. Those may wait for a flush.
func onlyAdds(plan intake.Plan, cur *intake.Current) bool {
	return !plan.Resolve && !plan.Reopen && plan.FlapNote == "" &&
		cur.State != klaxonv1.StateResolved && plan.Firing.Covers(cur.Firing)
}

// withPending returns the firing set merged with the group's pending alerts.
func (s *store) withPending(ref groupRef, persisted *intake.FiringSet) *intake.FiringSet {
	s.pendingMu.RLock()
	p := s.pending[ref]
	if p == nil {
		s.pendingMu.RUnlock()
		return persisted
	}
	if p.base == persisted && p.merged != nil {
		merged := p.merged
		s.pendingMu.RUnlock()
		return merged
	}
	merged := persisted.Clone()
	for _, a := range p.alerts {
		merged.Add(a.Fingerprint)
	}
	version := p.version
	s.pendingMu.RUnlock()
	s.pendingMu.Lock()
	if s.pending[ref] == p && p.version == version {
		p.merged, p.base = merged, persisted
	}
	s.pendingMu.Unlock()
	return merged
}

// addPending keeps a group's firing alerts that the merged set (known) lacks.
func (s *store) addPending(ref groupRef, src *klaxonv1.AlertSource, g *group, known *intake.FiringSet, now time.Time) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	p := s.pending[ref]
	if p == nil {
		p = &pendingGroup{since: now}
		s.pending[ref] = p
	}
	p.src = src
	p.version++
	p.merged, p.base = nil, nil
	seen := intake.NewFiringSet(known.List(), known.Overflow)
	for i, a := range g.alerts {
		if a.Status == intake.StatusFiring && !seen.Contains(a.Fingerprint) && len(p.alerts) <= intake.MaxFiring {
			seen.Add(a.Fingerprint)
			p.alerts = append(p.alerts, a)
			p.downgrades = append(p.downgrades, g.downgrades[i])
		}
	}
}

func (s *store) dropPending(ref groupRef) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	delete(s.pending, ref)
}

// pendingGroups lists the groups with alerts not yet written, with their age.
func (s *store) pendingGroups() map[groupRef]time.Time {
	s.pendingMu.RLock()
	defer s.pendingMu.RUnlock()
	out := make(map[groupRef]time.Time, len(s.pending))
	for ref, p := range s.pending {
		out[ref] = p.since
	}
	return out
}

// flushGroup writes a group's pending alerts, deciding them as a request would
// against the group's incident as it is now: added to its firing set when it is still
// open (or nothing, when another replica wrote them already); when it was resolved
// meanwhile without knowing them (by another replica, a person), they fire anew and
// reopen it within the flap window, or open the next incident.
//
// It does not hold the group's lock while it writes, so requests never wait for a
// flush: the alerts stay pending (seen by every decision) until the write is done,
// and its writes carry a resourceVersion (or a deterministic name) like a request's,
// so a request writing the incident meanwhile makes one of the two decide again. On
// failure they stay pending.
func (s *store) flushGroup(ctx context.Context, ref groupRef, now time.Time) error {
	s.pendingMu.RLock()
	var g *group
	var src *klaxonv1.AlertSource
	if p := s.pending[ref]; p != nil {
		g = &group{key: ref.key, alerts: slices.Clone(p.alerts), downgrades: slices.Clone(p.downgrades)}
		src = p.src
	}
	s.pendingMu.RUnlock()
	if g == nil {
		return nil
	}
	o, err := s.decide(ctx, src, ref, g, now, modeFlush)
	if err != nil {
		return err
	}
	s.settle(ref, g.alerts)
	for _, t := range []struct {
		happened bool
		name     string
	}{{o.opened, "opened"}, {o.reopened, "reopened"}, {o.resolved, "resolved"}} {
		if t.happened {
			transitionsTotal.WithLabelValues(ref.namespace, ref.source, t.name).Inc()
			ctrl.LoggerFrom(ctx).Info("pending alerts changed an incident", "incident", o.incident.String(), "transition", t.name)
		}
	}
	return nil
}

// settle removes written alerts from a group's pending ones; what requests added
// meanwhile stays.
func (s *store) settle(ref groupRef, written []intake.Alert) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	p := s.pending[ref]
	if p == nil {
		return
	}
	p.version++
	p.merged, p.base = nil, nil
	done := intake.NewFiringSet(nil, false)
	for _, a := range written {
		done.Add(a.Fingerprint)
	}
	keep := 0
	for i, a := range p.alerts {
		if !done.Contains(a.Fingerprint) {
			p.alerts[keep], p.downgrades[keep] = a, p.downgrades[i]
			keep++
		}
	}
	if keep == 0 {
		delete(s.pending, ref)
		return
	}
	p.alerts, p.downgrades = p.alerts[:keep], p.downgrades[:keep]
}

// lockStripes is how many locks the groups share: enough that two groups rarely wait
// for each other's writes.
const lockStripes = 4096

// lock is a group's lock (one of lockStripes).
func (s *store) lock(ref groupRef) *sync.Mutex {
	return &s.locks[lockIndex(ref.namespace, ref.hash)]
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
	return int(h.Sum32() % lockStripes)
}
