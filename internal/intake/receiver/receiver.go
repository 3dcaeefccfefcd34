// Package receiver serves Klaxon's intake endpoints on the HTTP server:
//
//	POST     /api/v1/alerts/{namespace}/{alertsource}
//	POST|GET /api/v1/heartbeats/{namespace}/{heartbeat}
//
// It authenticates a request against the source's Secret, applies the source's rate
// limit, parses it with package intake, applies the tenant's and the provider's
// maintenance windows, and turns the alerts into Incidents. It runs on every replica.
//
// What an answer means: a 2xx says every incident the request opened, and every
// resolution and reopen it caused (with the firing set it follows from), is stored in
// the API server. A further firing alert joining an open incident (a new instance in
// its group) is kept in memory like a count: every decision of this replica sees it,
// and it is written within a flush interval, or with the next write of the incident.
// Counts (status.alerts count, firstSeen, lastSeen, fingerprints; a window's
// suppressed and downgraded; a source's lastReceivedAt) are coalesced in memory and
// written at most once per object per flush interval. A crash loses those few seconds
// of counts and of further alerts, never an incident or a resolution; see README.md
// (Alert intake) for what losing a further alert means. A request that fails (5xx)
// may have persisted some of its groups; the sender's retry finds them and only
// counts their alerts again.
package receiver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/server"
)

// Defaults of Options.
const (
	DefaultFlushInterval        = time.Second
	DefaultFlushWritesPerSecond = 200
)

// Options configures a Receiver.
type Options struct {
	// SystemNamespace is the provider's namespace, whose maintenance windows apply to
	// every tenant.
	SystemNamespace string
	// FlushInterval is how often coalesced counts are written: at most one status
	// write per object per interval. DefaultFlushInterval when zero.
	FlushInterval time.Duration
	// FlushWritesPerSecond caps the writes of coalesced counts, so a storm of
	// duplicates across many incidents never takes the API server's capacity from
	// new incidents. DefaultFlushWritesPerSecond when zero.
	FlushWritesPerSecond float64
	// Client is what intake writes incidents with and reads cached objects from; the
	// manager's when nil.
	Client client.Client
	// Recorder, when set, receives a Warning event on an AlertSource whose alerts the
	// API server refuses (an admission policy, say).
	Recorder events.EventRecorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Receiver serves the intake endpoints.
type Receiver struct {
	c         client.Client // cached reads, writes (Options.Client)
	reader    client.Reader // uncached: Secrets, and what the cache has not seen yet
	index     *index
	synced    func() bool
	store     *store
	coalescer *coalescer
	secrets   *secrets
	limits    *limits
	windows   *windows
	recorder  events.EventRecorder
	log       logr.Logger
	now       func() time.Time
}

// New builds a Receiver on a manager: it indexes the manager's Incident informer by
// alert group and adds the coalescer as a runnable on every replica. Call it before
// the manager starts, then Register its endpoints on the HTTP server.
func New(mgr ctrl.Manager, opts Options) (*Receiver, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.FlushWritesPerSecond <= 0 {
		opts.FlushWritesPerSecond = DefaultFlushWritesPerSecond
	}
	idx := newIndex()
	inf, err := mgr.GetCache().GetInformer(context.Background(), &klaxonv1.Incident{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("getting the incident informer: %w", err)
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { observeObject(idx, obj) },
		UpdateFunc: func(_, obj any) { observeObject(idx, obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if inc, ok := obj.(*klaxonv1.Incident); ok {
				idx.forget(types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name})
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("indexing incidents by alert group: %w", err)
	}
	c, reader := opts.Client, mgr.GetAPIReader()
	if c == nil {
		c = mgr.GetClient()
	}
	st := newStore(c, reader, idx)
	r := &Receiver{
		c: c, reader: reader, index: idx, synced: reg.HasSynced,
		store:     st,
		coalescer: newCoalescer(c, reader, idx, st, opts.FlushInterval, opts.FlushWritesPerSecond, opts.Now),
		secrets:   newSecrets(reader, opts.Now),
		limits:    newLimits(),
		windows:   newWindows(c, opts.SystemNamespace),
		recorder:  opts.Recorder,
		log:       mgr.GetLogger().WithName("intake"),
		now:       opts.Now,
	}
	if err := mgr.Add(r.coalescer); err != nil {
		return nil, fmt.Errorf("adding the intake coalescer: %w", err)
	}
	return r, nil
}

func observeObject(idx *index, obj any) {
	if inc, ok := obj.(*klaxonv1.Incident); ok {
		idx.observe(inc)
	}
}

// Paths of the intake endpoints, as net/http patterns.
const (
	PatternAlerts        = "POST /api/v1/alerts/{namespace}/{alertsource}"
	PatternHeartbeatPost = "POST /api/v1/heartbeats/{namespace}/{heartbeat}"
	PatternHeartbeatGet  = "GET /api/v1/heartbeats/{namespace}/{heartbeat}"
)

// Register adds the intake endpoints to the HTTP server.
func (r *Receiver) Register(srv *server.Server) {
	srv.Handle(PatternAlerts, http.HandlerFunc(r.serveAlerts))
	srv.Handle(PatternHeartbeatPost, http.HandlerFunc(r.serveHeartbeat))
	srv.Handle(PatternHeartbeatGet, http.HandlerFunc(r.serveHeartbeat))
}

// Ready reports whether the receiver knows every incident already opened, without
// which it could not tell a new alert from a duplicate.
func (r *Receiver) Ready() error {
	if !r.synced() {
		return fmt.Errorf("intake is loading the incidents already open")
	}
	return nil
}

// PendingCounts is the number of objects whose coalesced counts are not written yet.
func (r *Receiver) PendingCounts() int { return r.coalescer.pending() }

// Flush writes the coalesced counts now, within the write budget; tests and the load
// harness call it instead of waiting for the interval.
func (r *Receiver) Flush(ctx context.Context) { r.coalescer.flush(ctx, false) }
