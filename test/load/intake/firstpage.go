package main

import (
	"context"
	"fmt"
	"time"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// firstPageResult is alert received -> first page (or notification) at the sink, for
// one peer, with new alerts arriving at a steady rate.
type firstPageResult struct {
	peer     peer
	sent     int
	latency  measure.Durations // arrival at the sink - the instant before the request
	request  measure.Durations // the request alone
	missing  int
	failures int
	metrics  measure.Metrics         // Klaxon's controller's, over the phase
	writes   []measure.ResourceCount // kube-apiserver's, over Klaxon's run
}

// firstPage sends new alerts, each its own group and its own request, open-loop at
// opts.rate (each request starts on schedule whatever the earlier ones are doing)
// for opts.warmup, unmeasured, then opts.duration.
func (h *harness) firstPage(ctx context.Context, t *target, prefix string) (*firstPageResult, error) {
	o := h.opts
	warm := int(o.rate * o.warmup.Seconds())
	n := warm + int(o.rate*o.duration.Seconds())
	s := single(prefix, n, time.Now().UTC().Truncate(time.Second))
	bodies := make([][]byte, n)
	for i := range n {
		var err error
		if bodies[i], err = t.body(s, i); err != nil {
			return nil, fmt.Errorf("encoding alert %d: %w", i, err)
		}
	}
	r := &firstPageResult{peer: t.peer, sent: n - warm}
	starts := make([]time.Time, n)
	requests := make([]time.Duration, n)
	errs := make([]error, n)
	measure.OpenLoop(n, o.rate, func(i int) {
		starts[i] = time.Now()
		_, errs[i] = t.post(ctx, bodies[i])
		requests[i] = time.Since(starts[i])
	})
	waitUntil(ctx, 30*time.Second, func() bool { return h.sink.seen(t.peer, s.groups) >= n })
	for i := warm; i < n; i++ {
		if errs[i] != nil {
			r.failures++
			continue
		}
		r.request = append(r.request, requests[i])
		at, ok := h.sink.arrived(t.peer, s.groups[i])
		if !ok {
			r.missing++
			continue
		}
		r.latency = append(r.latency, at.Sub(starts[i]))
	}
	return r, nil
}
