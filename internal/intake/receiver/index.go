package receiver

import (
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// index knows, for every alert group, the incidents intake opened for it: the group
// key's way to its current incident. It is fed by the manager's Incident informer
// (so it knows what every replica wrote) and by this replica's own writes and direct
// reads (so it never waits for the informer to see what it just did). Of two
// versions of an incident it keeps the newer by resourceVersion.
//
// It holds a few hundred bytes per intake incident, not the incidents themselves: the
// hot path of a duplicate alert reads it under a read lock and copies nothing big.
type index struct {
	mu      sync.RWMutex
	byName  map[types.NamespacedName]*entry
	byGroup map[groupID]map[int]*entry // by seq
}

// groupID is a group across the cluster: namespace and intake.GroupHash.
type groupID struct{ namespace, hash string }

// entry is what the index keeps of one incident.
type entry struct {
	key             types.NamespacedName
	group           groupID
	seq             int
	resourceVersion string
	source          string // spec.source.name, to tell apart groups whose hashes collide
	groupKey        string
	state           klaxonv1.IncidentState
	resolvedAt      time.Time
	firing          *intake.FiringSet // never changed once indexed: shared with readers
	notes           []klaxonv1.IncidentNote
	alerts          klaxonv1.AlertSummary
	// busy: the controller has not reconciled this version yet, or has deliveries
	// claimed and not recorded; its status writes are imminent.
	busy bool
}

func newIndex() *index {
	return &index{byName: map[types.NamespacedName]*entry{}, byGroup: map[groupID]map[int]*entry{}}
}

// observe records a version of an incident, unless the index has a newer one. It
// ignores incidents intake did not open from an alert group.
func (x *index) observe(inc *klaxonv1.Incident) {
	e, ok := entryOf(inc)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byName[e.key]; ok {
		if newer(old.resourceVersion, e.resourceVersion) {
			return
		}
		x.removeLocked(old)
	}
	x.byName[e.key] = e
	g := x.byGroup[e.group]
	if g == nil {
		g = map[int]*entry{}
		x.byGroup[e.group] = g
	}
	g[e.seq] = e
}

// forget drops an incident that no longer exists.
func (x *index) forget(key types.NamespacedName) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byName[key]; ok {
		x.removeLocked(old)
	}
}

func (x *index) removeLocked(e *entry) {
	delete(x.byName, e.key)
	if g := x.byGroup[e.group]; g != nil && g[e.seq] == e {
		delete(g, e.seq)
		if len(g) == 0 {
			delete(x.byGroup, e.group)
		}
	}
}

// current returns the newest incident of a source's group (nil when there is none)
// and the resourceVersion it was read at. The result is the caller's to keep, but
// its Firing set is the index's, shared: replace it, never change it.
func (x *index) current(namespace, source, groupKey string) (*intake.Current, string) {
	return x.currentOf(namespace, intake.GroupHash(source, groupKey), source, groupKey)
}

// currentOf is current for a group whose intake.GroupHash is known.
func (x *index) currentOf(namespace, hash, source, groupKey string) (*intake.Current, string) {
	id := groupID{namespace: namespace, hash: hash}
	x.mu.RLock()
	defer x.mu.RUnlock()
	var best *entry
	for _, e := range x.byGroup[id] {
		if e.source != source || e.groupKey != groupKey {
			continue // a hash collision with another group: not ours
		}
		if best == nil || e.seq > best.seq {
			best = e
		}
	}
	if best == nil {
		return nil, ""
	}
	return &intake.Current{
		Name: best.key.Name, Seq: best.seq, State: best.state, ResolvedAt: best.resolvedAt,
		Firing: best.firing, Notes: len(best.notes),
	}, best.resourceVersion
}

// notes returns a copy of an incident's notes as last seen, with its resourceVersion.
func (x *index) notes(key types.NamespacedName) ([]klaxonv1.IncidentNote, string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byName[key]
	if !ok {
		return nil, "", false
	}
	out := make([]klaxonv1.IncidentNote, len(e.notes))
	for i := range e.notes {
		e.notes[i].DeepCopyInto(&out[i])
	}
	return out, e.resourceVersion, true
}

// alerts returns an incident's status.alerts as last seen, with its resourceVersion.
func (x *index) alerts(key types.NamespacedName) (klaxonv1.AlertSummary, string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byName[key]
	if !ok {
		return klaxonv1.AlertSummary{}, "", false
	}
	return *e.alerts.DeepCopy(), e.resourceVersion, true
}

// busy reports whether the controller is about to write an incident's status (see
// entry.busy).
func (x *index) busy(key types.NamespacedName) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byName[key]
	return ok && e.busy
}

// size is the number of incidents indexed.
func (x *index) size() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byName)
}

// newer reports whether resourceVersion a is newer than b. Resource versions are
// comparable integers (KEP-5504); one that does not parse is taken as newer, so the
// index follows the API server rather than cling to what it had.
func newer(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c > 0
}

// entryOf extracts what the index keeps of an incident; ok is false for incidents
// not opened by intake from an alert group.
func entryOf(inc *klaxonv1.Incident) (*entry, bool) {
	hash := inc.Labels[klaxonv1.LabelAlertGroup]
	src := inc.Spec.Source
	if hash == "" || src == nil || src.Kind != klaxonv1.SourceAlertSource {
		return nil, false
	}
	seq, err := strconv.Atoi(inc.Labels[klaxonv1.LabelAlertGroupSeq])
	if err != nil || seq < 0 {
		return nil, false
	}
	firing, ok := intake.DecodeFiring(inc.Annotations[klaxonv1.AnnotationFiring])
	// An unreadable set (edited by hand) counts as overflowed: no resolution is
	// inferred from it.
	overflow := !ok || inc.Annotations[klaxonv1.AnnotationFiringOverflow] == "true"
	e := &entry{
		key:             types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name},
		group:           groupID{namespace: inc.Namespace, hash: hash},
		seq:             seq,
		resourceVersion: inc.ResourceVersion,
		source:          src.Name,
		groupKey:        src.GroupKey,
		state:           inc.Spec.State,
		firing:          intake.NewFiringSet(firing, overflow),
	}
	if e.state == "" {
		e.state = klaxonv1.StateTriggered
	}
	if e.state == klaxonv1.StateResolved {
		e.resolvedAt = resolvedAt(inc)
	}
	for i := range inc.Spec.Notes {
		e.notes = append(e.notes, *inc.Spec.Notes[i].DeepCopy())
	}
	if inc.Status.Alerts != nil {
		e.alerts = *inc.Status.Alerts.DeepCopy()
	}
	e.busy = inc.Status.ObservedGeneration < inc.Generation
	for i := range inc.Status.Notifications {
		if inc.Status.Notifications[i].Phase == klaxonv1.NotificationPending {
			e.busy = true
		}
	}
	return e, true
}

// resolvedAt is when a resolved incident was resolved: the time stamped with the
// change of state (by the admission webhook, or by intake itself), else what the
// controller observed; zero when neither says yet.
func resolvedAt(inc *klaxonv1.Incident) time.Time {
	if raw := inc.Annotations[klaxonv1.AnnotationStateChangedAt]; raw != "" {
		if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
			return t
		}
	}
	if inc.Status.State == klaxonv1.StateResolved && inc.Status.ResolvedAt != nil {
		return inc.Status.ResolvedAt.Time
	}
	return time.Time{}
}
