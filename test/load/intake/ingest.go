package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// ingestResult is how one peer took the ingest stream.
type ingestResult struct {
	peer     peer
	alerts   int
	requests int
	wall     time.Duration // first request sent to last answer
	latency  measure.Durations
	retries  int // 5xx and 429 answers, retried after Retry-After
	failed   int // batches refused for good: their alerts are lost
	errors   []string

	rssBefore, rssMax, rssAfter int64
	rssAt                       [4]int64      // VmRSS at 25, 50, 75 and 100% of the stream
	cpu                         time.Duration // the receiving process's
	backend                     time.Duration // kube-apiserver's and etcd's
	machine                     time.Duration // every core's, everyone's
	steal                       time.Duration // the hypervisor's, given to other machines
	notified                    int           // groups the peer paged or notified at the sink
	lastNotified                time.Duration // from the stream's start to the last of them
	groups                      int
	writes                      []measure.ResourceCount // kube-apiserver's, over Klaxon's run
	intakeWrites                map[string]float64      // Klaxon's intake's own incident writes, by operation
	conflicts, reads            float64                 // kube-apiserver's 409s on incidents, and GETs of one incident
	createLatency               [2]time.Duration        // kube-apiserver's p50 and p99 of incident creates
}

func (r *ingestResult) rate() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.alerts) / r.wall.Seconds()
}

// ingest sends the stream's batches to t as fast as it takes them, from opts.senders
// senders at once (closed loop: each sends its next batch when the last is answered),
// then waits for every group the stream opened to reach the sink.
func (h *harness) ingest(ctx context.Context, t *target, s *stream) (*ingestResult, error) {
	r := &ingestResult{peer: t.peer, alerts: s.sent, requests: len(s.batches), groups: len(s.groups)}
	bodies := make([][]byte, len(s.batches))
	for b := range s.batches {
		var err error
		if bodies[b], err = t.body(s, b); err != nil {
			return nil, fmt.Errorf("encoding batch %d: %w", b, err)
		}
	}
	before, backend, machine, steal := t.rss.Now(), h.backendCPU(), measure.MachineBusy(), measure.MachineSteal()
	r.rssBefore = before.RSS
	t.rss.Reset()

	latency := make([]time.Duration, len(bodies))
	var next, done atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range h.opts.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1)) - 1
				if b >= len(bodies) {
					return
				}
				t0 := time.Now()
				retries, err := t.post(ctx, bodies[b])
				latency[b] = time.Since(t0)
				mu.Lock()
				r.retries += retries
				if err != nil {
					r.failed++
					if len(r.errors) < 3 {
						r.errors = append(r.errors, err.Error())
					}
				}
				mu.Unlock()
				// Memory at each quarter of the stream: it should level off once every
				// group is open, however many repeats follow.
				n := done.Add(1)
				for q := range r.rssAt {
					if n == int64((q+1)*len(bodies)/4) {
						r.rssAt[q] = t.rss.Now().RSS
					}
				}
			}
		}()
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.latency = latency
	after := t.rss.Now()
	r.rssAfter, r.rssMax, r.cpu = after.RSS, max(t.rss.Max(), after.RSS), after.CPU-before.CPU
	r.backend, r.machine, r.steal = h.backendCPU()-backend, measure.MachineBusy()-machine, measure.MachineSteal()-steal

	if t.peer == klaxon && h.opts.intakeOnly {
		return r, nil // nothing pages
	}
	waitUntil(ctx, time.Minute, func() bool { return h.sink.seen(t.peer, s.groups) >= len(s.groups) })
	r.notified = h.sink.seen(t.peer, s.groups)
	for _, g := range s.groups {
		if at, ok := h.sink.arrived(t.peer, g); ok {
			r.lastNotified = max(r.lastNotified, at.Sub(start))
		}
	}
	return r, nil
}

// waitUntil polls cond every 20 ms until it holds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
