package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// firstPageResult is target 1 for one QPS setting: incident created -> first page at
// the sink, at a steady rate.
type firstPageResult struct {
	setting    qpsSetting
	tenants    int
	rate       float64
	duration   time.Duration
	created    int
	createErrs int
	latency    measure.Durations // sink arrival - the instant before the create call
	createCall measure.Durations // the create call alone
	afterCall  measure.Durations // sink arrival - the create call's return: Klaxon's own part
	missing    int
	sink       sinkCounters // over the measured phase: repeats, duplicates, unparsable bodies
	cpu        cpuUse
	metrics    measure.Metrics         // the controller's, over the measured phase
	writes     []measure.ResourceCount // kube-apiserver's writes over the measured phase, everyone's
	rssMax     int64
	hwm        int64
	profiles   []string
}

// firstPage measures target 1 with the controller at setting: incidents are created
// open-loop at opts.rate for opts.duration (each create starts on schedule whatever
// the earlier ones are doing, so a slow API server cannot hide latency by slowing
// the load), spread over opts.tenants tenants, each with a one-level policy paging
// one responder through a webhook channel to the sink.
func (h *harness) firstPage(ctx context.Context, idx int, setting qpsSetting) (*firstPageResult, error) {
	o := h.opts
	r := &firstPageResult{setting: setting, tenants: o.tenants1, rate: o.rate, duration: o.duration}
	c, err := startController(h, fmt.Sprintf("first-page-%d", idx), setting)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Stop(45 * time.Second) }()

	var namespaces []string
	for j := range o.tenants1 {
		ns := fmt.Sprintf("fp%d-%02d", idx, j)
		if _, err := h.createTenant(ctx, ns, []string{"oncall"}, []policySpec{{name: "page", delays: []time.Duration{0}}}); err != nil {
			return nil, fmt.Errorf("creating tenant %s: %w", ns, err)
		}
		namespaces = append(namespaces, ns)
	}
	labels := map[string]string{"load.klaxon.dev/phase": "first-page"}

	// Warm up: connections, the informers' first events, each tenant's first decision.
	warm := int(o.rate * o.warmup.Seconds())
	for i := range warm {
		ns := namespaces[i%len(namespaces)]
		if err := h.client.Create(ctx, newIncident(ns, fmt.Sprintf("warm-%03d", i), "page", labels)); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(float64(time.Second) / o.rate))
	}
	waitUntil(ctx, 30*time.Second, func() bool { return h.sink.count(namespaces, 1) >= warm })
	if err := measure.WaitIdle(ctx, c.Scrape, time.Second); err != nil {
		return nil, err
	}

	n := int(o.rate * o.duration.Seconds())
	starts := make([]time.Time, n)
	ends := make([]time.Time, n)
	errs := make([]error, n)
	sink0 := h.sink.counters()
	m0, s0, a0 := c.Scrape(), h.snap(c), h.apiserverMetrics()
	var profiles []<-chan struct{}
	if o.profile {
		d := min(o.duration, 30*time.Second)
		for _, p := range []struct {
			file string
			run  func(time.Duration, string) <-chan struct{}
		}{{"first-page-" + setting.String() + "-controller.pprof", c.Profile}, {"first-page-" + setting.String() + "-apiserver.pprof", h.apiserverProfile}} {
			file := filepath.Join(h.out, sanitize(p.file))
			profiles = append(profiles, p.run(d, file))
			r.profiles = append(r.profiles, file)
		}
	}
	measure.OpenLoop(n, o.rate, func(i int) {
		inc := newIncident(namespaces[i%len(namespaces)], fmt.Sprintf("inc-%04d", i), "page", labels)
		starts[i] = time.Now()
		errs[i] = h.client.Create(ctx, inc)
		ends[i] = time.Now()
	})
	r.created = n
	want := 0
	for _, err := range errs {
		if err == nil {
			want++
		} else {
			r.createErrs++
		}
	}
	waitUntil(ctx, 30*time.Second, func() bool { return h.sink.count(namespaces, 1) >= warm+want })
	s1 := h.snap(c)
	r.metrics = c.Scrape().Minus(m0)
	r.writes = measure.WritesByResource(h.apiserverMetrics().Minus(a0))
	r.cpu = s1.since(s0)
	for _, p := range profiles {
		<-p
	}
	for i := range n {
		if errs[i] != nil {
			continue
		}
		r.createCall = append(r.createCall, ends[i].Sub(starts[i]))
		at, ok := h.sink.arrived(page{namespace: namespaces[i%len(namespaces)], name: fmt.Sprintf("inc-%04d", i), level: 1})
		if !ok {
			r.missing++
			continue
		}
		r.latency = append(r.latency, at.Sub(starts[i]))
		r.afterCall = append(r.afterCall, at.Sub(ends[i]))
	}
	r.sink = h.sink.counters().minus(sink0)
	last, _ := measure.ReadProc(c.Pid())
	r.rssMax, r.hwm = c.RSS.Max(), last.HWM
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

// sanitize makes a file name of s.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' || c == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}
