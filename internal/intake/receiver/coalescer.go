package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// maxSummaryFingerprints is the bound of status.alerts.fingerprints (the CRD's).
const maxSummaryFingerprints = 50

// flushParallelism is how many writes a flush has in flight: with the API server slow
// under a storm, one at a time would take longer than the interval.
const flushParallelism = 4

// settleWait is how long an incident's counts wait for the controller to finish the
// status writes it is about to make (see index.busy) before they are written anyway.
const settleWait = 5 * time.Second

// lastReceivedResolution is how stale an AlertSource's status.lastReceivedAt may get:
// it is a liveness hint for people, not worth a write per second per source.
const lastReceivedResolution = 10 * time.Second

// coalescer holds counters that change with every alert (an incident's alert count,
// first and last seen, a window's suppressed and downgraded counts, a source's last
// receipt) and writes them at most once per object per flush interval, within a budget
// of writes per second, so an alert storm costs the API server a write per incident
// per interval instead of one per alert.
//
// It also writes the store's pending alerts (further firing alerts of open
// incidents), first, within the same budget.
//
// What it holds is lost if the process dies before a flush: a few seconds of counts
// and of further alerts joining open incidents, never an incident or a resolution,
// which are written before the request that carries them is answered.
type coalescer struct {
	c        client.Client
	reader   client.Reader // uncached, to recover from a conflict
	index    *index
	store    *store
	interval time.Duration
	budget   *rate.Limiter
	now      func() time.Time

	mu        sync.Mutex
	incidents map[types.NamespacedName]*incidentCounts
	windows   map[types.NamespacedName]*windowCounts
	sources   map[types.NamespacedName]time.Time
	// flushing serializes flushes: a final one on shutdown may overlap a tick's.
	flushing sync.Mutex
}

// incidentCounts are alerts not yet added to an incident's status.alerts.
type incidentCounts struct {
	count        int64
	first, last  time.Time
	fingerprints []string
	since        time.Time // when the oldest of them arrived, to flush oldest first
}

// windowCounts are alerts not yet added to a MaintenanceWindow's status.
type windowCounts struct {
	suppressed, downgraded int64
	since                  time.Time
}

func newCoalescer(c client.Client, reader client.Reader, idx *index, st *store, interval time.Duration, writesPerSecond float64, now func() time.Time) *coalescer {
	burst := max(1, int(writesPerSecond))
	return &coalescer{c: c, reader: reader, index: idx, store: st, interval: interval,
		budget: rate.NewLimiter(rate.Limit(writesPerSecond), burst), now: now,
		incidents: map[types.NamespacedName]*incidentCounts{},
		windows:   map[types.NamespacedName]*windowCounts{},
		sources:   map[types.NamespacedName]time.Time{}}
}

// addAlerts counts n alerts for an incident, seen at now, with their fingerprints.
func (c *coalescer) addAlerts(inc types.NamespacedName, n int, fingerprints []string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.incidents[inc]
	if p == nil {
		p = &incidentCounts{first: now, since: now}
		c.incidents[inc] = p
	}
	p.count += int64(n)
	if now.Before(p.first) {
		p.first = now
	}
	if now.After(p.last) {
		p.last = now
	}
	for _, fp := range fingerprints {
		// Only as many as status can hold: the rest would be cut at the flush anyway.
		if len(p.fingerprints) < maxSummaryFingerprints && !slices.Contains(p.fingerprints, fp) {
			p.fingerprints = append(p.fingerprints, fp)
		}
	}
}

// addWindow counts alerts a window suppressed or downgraded.
func (c *coalescer) addWindow(window types.NamespacedName, suppressed, downgraded int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.windows[window]
	if p == nil {
		p = &windowCounts{since: now}
		c.windows[window] = p
	}
	p.suppressed += int64(suppressed)
	p.downgraded += int64(downgraded)
}

// received records that a source accepted a request at now.
func (c *coalescer) received(source types.NamespacedName, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.sources[source]) {
		c.sources[source] = now
	}
}

// pending is the number of objects with counts, and of groups with alerts, not yet
// written.
func (c *coalescer) pending() int {
	groups := len(c.store.pendingGroups())
	c.mu.Lock()
	defer c.mu.Unlock()
	return groups + len(c.incidents) + len(c.windows) + len(c.sources)
}

// Start flushes every interval until ctx ends, then once more, so a graceful
// shutdown loses nothing that arrived before it.
func (c *coalescer) Start(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			c.budget.SetLimit(rate.Inf) // the last flush is not throttled
			c.flush(final, false)
			return nil
		case <-t.C:
			c.flush(ctx, true)
		}
	}
}

// NeedLeaderElection is false: every replica receives alerts and flushes its counts.
func (c *coalescer) NeedLeaderElection() bool { return false }

// flush writes what is pending, within the budget, flushParallelism writes at a time:
// the store's pending alerts first (what a crash would lose that matters most), then
// counts, oldest first; bounded (a tick's flush, not the last one), it stops starting
// writes of counts at the next tick's time, and leaves the counts of an incident
// whose status the controller is about to write for a later tick. What it leaves, or an error, stays pending (and keeps coalescing) for
// the next flush.
func (c *coalescer) flush(ctx context.Context, bounded bool) {
	started := time.Now()
	c.flushing.Lock()
	defer c.flushing.Unlock()
	log := ctrl.LoggerFrom(ctx).WithName("intake")
	type job struct {
		since time.Time
		run   func() error
		what  string
	}
	var alerts, jobs []job
	now := c.now()
	for ref, since := range c.store.pendingGroups() {
		alerts = append(alerts, job{since, func() error { return c.store.flushGroup(ctx, ref, now) },
			fmt.Sprintf("alert group %q of %s/%s", ref.key, ref.namespace, ref.source)})
	}
	c.mu.Lock()
	for key, p := range c.incidents {
		if bounded && now.Sub(p.since) < settleWait && c.index.busy(key) {
			// The controller is about to write its status (a new incident's triage,
			// a page's claim and result): a count written now would make its write
			// conflict and retry, and delay the page. Counts can wait.
			continue
		}
		jobs = append(jobs, job{p.since, func() error { return c.flushIncident(ctx, key) }, "incident " + key.String()})
	}
	for key, p := range c.windows {
		jobs = append(jobs, job{p.since, func() error { return c.flushWindow(ctx, key) }, "maintenance window " + key.String()})
	}
	for key, at := range c.sources {
		jobs = append(jobs, job{at, func() error { return c.flushSource(ctx, key) }, "alert source " + key.String()})
	}
	c.mu.Unlock()
	for _, js := range [][]job{alerts, jobs} {
		sort.Slice(js, func(i, j int) bool { return js[i].since.Before(js[j].since) })
	}

	// Pending alerts first, all of them: they are what a crash would lose that
	// matters. Then counts, until the next tick's time when bounded: the next flush
	// starts from the oldest again, and its pending alerts do not wait behind a long
	// round of counts.
	run := func(js []job, deadline time.Time) {
		var eg errgroup.Group
		eg.SetLimit(flushParallelism)
		for _, j := range js {
			if !deadline.IsZero() && time.Now().After(deadline) {
				break
			}
			if err := c.budget.Wait(ctx); err != nil {
				break
			}
			eg.Go(func() error {
				if err := j.run(); err != nil {
					log.V(1).Info("not written yet; retrying at the next flush", "object", j.what, "error", err.Error())
				}
				return nil
			})
		}
		_ = eg.Wait()
	}
	run(alerts, time.Time{})
	var deadline time.Time
	if bounded {
		deadline = started.Add(c.interval)
	}
	run(jobs, deadline)
}

// takeIncident removes an incident's pending counts; putBack returns them on failure.
func (c *coalescer) takeIncident(key types.NamespacedName) *incidentCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.incidents[key]
	delete(c.incidents, key)
	return p
}

func (c *coalescer) putBackIncident(key types.NamespacedName, p *incidentCounts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.incidents[key]; q != nil {
		// More arrived meanwhile: merge.
		p.count += q.count
		if q.first.Before(p.first) {
			p.first = q.first
		}
		if q.last.After(p.last) {
			p.last = q.last
		}
		for _, fp := range q.fingerprints {
			if len(p.fingerprints) < maxSummaryFingerprints && !slices.Contains(p.fingerprints, fp) {
				p.fingerprints = append(p.fingerprints, fp)
			}
		}
	}
	c.incidents[key] = p
}

// flushIncident adds pending counts to an incident's status.alerts. The patch
// carries the resourceVersion the new values were computed from, so two replicas
// flushing the same incident never lose each other's counts: the loser re-reads and
// tries again at the next flush.
func (c *coalescer) flushIncident(ctx context.Context, key types.NamespacedName) error {
	// A conflict, or an incident not indexed yet, is read afresh and tried once more
	// at once: another replica's flush a moment ago is the usual cause, and its write
	// is in the fresh read.
	for attempt := 0; ; attempt++ {
		again, err := c.writeCounts(ctx, key)
		if !again || err != nil || attempt > 0 {
			return err
		}
	}
}

// writeCounts is one attempt of flushIncident; again says the incident was read
// afresh after a conflict (or was not indexed) and the counts are still pending.
func (c *coalescer) writeCounts(ctx context.Context, key types.NamespacedName) (again bool, err error) {
	p := c.takeIncident(key)
	if p == nil {
		return false, nil
	}
	cur, rv, ok := c.index.alerts(key)
	if !ok {
		// Not indexed (yet): read it, so there is a base to add to.
		c.putBackIncident(key, p)
		return true, c.refresh(ctx, key)
	}
	sum := mergeSummary(cur, p)
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": rv},
		"status":   map[string]any{"alerts": sum},
	})
	if err != nil {
		c.putBackIncident(key, p)
		return false, fmt.Errorf("encoding counts: %w", err)
	}
	inc := &klaxonv1.Incident{}
	inc.Namespace, inc.Name = key.Namespace, key.Name
	if err := c.c.Status().Patch(ctx, inc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			c.index.forget(key)
			return false, nil // deleted: its counts go with it
		case apierrors.IsConflict(err):
			c.putBackIncident(key, p)
			return true, c.refresh(ctx, key)
		}
		c.putBackIncident(key, p)
		return false, fmt.Errorf("writing alert counts of incident %s: %w", key, err)
	}
	incidentWrites.WithLabelValues("status").Inc()
	c.index.observe(inc)
	return false, nil
}

// refresh reads an incident from the API server into the index.
func (c *coalescer) refresh(ctx context.Context, key types.NamespacedName) error {
	var inc klaxonv1.Incident
	if err := c.reader.Get(ctx, key, &inc); err != nil {
		if apierrors.IsNotFound(err) {
			c.index.forget(key)
			c.takeIncident(key)
			return nil
		}
		return fmt.Errorf("reading incident %s: %w", key, err)
	}
	c.index.observe(&inc)
	return nil
}

// mergeSummary adds pending counts to a status.alerts.
func mergeSummary(cur klaxonv1.AlertSummary, p *incidentCounts) *klaxonv1.AlertSummary {
	out := cur.DeepCopy()
	out.Count += p.count
	if out.FirstSeen == nil || p.first.Before(out.FirstSeen.Time) {
		out.FirstSeen = &metav1.Time{Time: p.first}
	}
	if out.LastSeen == nil || p.last.After(out.LastSeen.Time) {
		out.LastSeen = &metav1.Time{Time: p.last}
	}
	for _, fp := range p.fingerprints {
		fp = intake.TrackedFingerprint(fp)
		if len(out.Fingerprints) < maxSummaryFingerprints && !slices.Contains(out.Fingerprints, fp) {
			out.Fingerprints = append(out.Fingerprints, fp)
		}
	}
	return out
}

// flushWindow adds pending counts to a MaintenanceWindow's status.
func (c *coalescer) flushWindow(ctx context.Context, key types.NamespacedName) error {
	c.mu.Lock()
	p := c.windows[key]
	delete(c.windows, key)
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	putBack := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if q := c.windows[key]; q != nil {
			p.suppressed += q.suppressed
			p.downgraded += q.downgraded
		}
		c.windows[key] = p
	}
	var mw klaxonv1.MaintenanceWindow
	if err := c.c.Get(ctx, key, &mw); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		putBack()
		return fmt.Errorf("reading maintenance window %s: %w", key, err)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": mw.ResourceVersion},
		"status": map[string]any{
			"suppressed": mw.Status.Suppressed + p.suppressed,
			"downgraded": mw.Status.Downgraded + p.downgraded,
		},
	})
	if err != nil {
		putBack()
		return fmt.Errorf("encoding counts: %w", err)
	}
	if err := c.c.Status().Patch(ctx, &mw, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		// A conflict is retried at the next flush, from the cache's newer version.
		putBack()
		return fmt.Errorf("writing counts of maintenance window %s: %w", key, err)
	}
	return nil
}

// flushSource records an AlertSource's last accepted request, when status lags by
// more than lastReceivedResolution.
func (c *coalescer) flushSource(ctx context.Context, key types.NamespacedName) error {
	c.mu.Lock()
	at := c.sources[key]
	delete(c.sources, key)
	c.mu.Unlock()
	var src klaxonv1.AlertSource
	if err := c.c.Get(ctx, key, &src); err != nil {
		return client.IgnoreNotFound(err)
	}
	if last := src.Status.LastReceivedAt; last != nil && at.Sub(last.Time) < lastReceivedResolution {
		return nil
	}
	// No resourceVersion: replicas may set it a flush interval out of order, which a
	// hint for people can afford, and a conflict would cost a retry for nothing.
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"lastReceivedAt": metav1.NewTime(at)}})
	if err := c.c.Status().Patch(ctx, &src, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}
