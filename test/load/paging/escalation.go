package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// escalationResult is target 2: many open incidents escalating on a real API server.
type escalationResult struct {
	setting    qpsSetting
	incidents  int
	tenants    int
	createRate float64
	escRate    float64       // pages falling due per second in the measured window
	start      time.Duration // from the first create to the first deadline
	measure    time.Duration // the measured window, from the first deadline

	created    int
	createErrs int
	createWall time.Duration // from the first create call to the last one's return
	allOpen    time.Duration // from the first create until every incident had its deadline in status
	pages      levelResult
	pending    int // incidents whose deadline lies after the run, still escalating
	unexpected int // pages of these incidents at a level or cycle the policy never reaches
	moved      int // deadlines that changed once stored
	sink       sinkCounters

	rssBase  int64 // VmRSS with the tenants set up, before the first incident
	rssOpen  int64 // VmRSS with every incident open and waiting for its deadline, idle
	openIdle bool  // whether rssOpen was taken before the first deadline
	rssMax   int64 // largest VmRSS sampled during the phase
	rssEnd   int64 // VmRSS after the last page
	hwm      int64 // VmHWM at the end: the peak over the child's life
	cpu      cpuUse
	metrics  measure.Metrics
	writes   []resourceCount // kube-apiserver's writes over the phase, everyone's
	wall     time.Duration
	profiles []string
	timeline []timedUse // CPU each second from the first deadline
}

// levelResult is how pages arrived, against their deadlines.
type levelResult struct {
	expected   int
	lateness   measure.Durations // arrival at the sink - the deadline in status
	early      int               // pages that arrived before their deadline: must be none
	earliest   string            // the earliest of those, to look into
	missing    int               // pages that never arrived (within the grace): must be none
	unseen     int               // deadlines the watch never saw in status; judged by the documented rule instead
	mismatched int               // deadlines in status that differ from the documented rule
}

// escalationLabels mark phase 2's incidents, so the deadline watch sees only them.
var escalationLabels = map[string]string{"load.klaxon.dev/phase": "escalation"}

// Phase 2's policies: "due" pages its first level start after the trigger, inside the
// measured window; "later" an hour after, past the end of the run.
const (
	policyDue   = "due"
	policyLater = "later"
)

// escalate measures target 2. opts.incidents incidents are created open-loop at
// opts.createRate over opts.tenants2 tenants, all escalating, nobody acknowledging.
// Opening them (several writes each for the controller) is kept apart from the
// paging measured: every first level falls due after every incident is open. Of the
// incidents created first, every (createRate/escRate)th follows "due", so that for
// opts.measure pages fall due at escRate a second, the rate an on-call load of this
// size produces rather than the rate incidents were created at; the others follow
// "later" and must page nothing during the run. Every page is compared with the
// deadline status gave for it.
func (h *harness) escalate(ctx context.Context) (*escalationResult, error) {
	o := h.opts
	wc := time.Duration(float64(o.incidents) / o.createRate * float64(time.Second))
	start := o.escStart
	if start == 0 {
		start = wc + 45*time.Second
	}
	start = start.Round(time.Second)
	r := &escalationResult{setting: o.escSetting, incidents: o.incidents, tenants: o.tenants2,
		createRate: o.createRate, escRate: o.escRate, start: start, measure: o.measure}

	// due[i]: incident i pages in the window. Spread evenly over the first
	// measure*createRate incidents, at escRate a second.
	n := o.incidents
	due := make([]bool, n)
	want := int(o.escRate * o.measure.Seconds())
	for i, got := 0, 0; i < n && got < want; i++ {
		if int(float64(i+1)*o.escRate/o.createRate) > int(float64(i)*o.escRate/o.createRate) {
			due[i] = true
			got++
		}
	}

	c, err := startController(h, "escalation", o.escSetting)
	if err != nil {
		return nil, err
	}
	defer func() { _, _ = c.stop() }()

	specs := []policySpec{{name: policyDue, delays: []time.Duration{start, time.Hour}},
		{name: policyLater, delays: []time.Duration{start + time.Hour, time.Hour}}}
	var namespaces []string
	for j := range o.tenants2 {
		ns := fmt.Sprintf("esc-%02d", j)
		if _, err := h.createTenant(ctx, ns, []string{"first", "second"}, specs); err != nil {
			return nil, fmt.Errorf("creating tenant %s: %w", ns, err)
		}
		namespaces = append(namespaces, ns)
	}
	dl, err := watchDeadlines(ctx, h, labels.SelectorFromSet(escalationLabels), 2)
	if err != nil {
		return nil, err
	}
	if err := c.waitIdle(ctx, time.Second); err != nil {
		return nil, err
	}
	base, _ := measure.ReadProc(c.pid())
	r.rssBase = base.RSS
	c.rssMax.Store(0)
	m0, s0, sink0, a0 := c.scrape(), h.snap(c), h.sink.counters(), h.apiserverMetrics()
	began := time.Now()
	var profiles []<-chan struct{}
	profile := func(prefix string, d time.Duration, at time.Time) {
		for _, p := range []struct {
			file string
			run  func(time.Duration, string) <-chan struct{}
		}{{prefix + "-controller.pprof", c.profile}, {prefix + "-apiserver.pprof", h.apiserverProfile}} {
			file := filepath.Join(h.out, p.file)
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(time.Until(at))
				<-p.run(min(max(d, time.Second), 30*time.Second).Round(time.Second), file)
			}()
			profiles = append(profiles, done)
			r.profiles = append(r.profiles, file)
		}
	}
	if o.profile {
		profile("escalation-open", wc, time.Now())
	}

	name := func(i int) (ns, nm, policy string) {
		policy = policyLater
		if due[i] {
			policy = policyDue
		}
		return namespaces[i%len(namespaces)], fmt.Sprintf("esc-%05d", i), policy
	}
	errs := make([]error, n)
	interval := time.Duration(float64(time.Second) / o.createRate)
	t0 := time.Now().Add(50 * time.Millisecond)
	if o.profile {
		profile("escalation-paging", o.measure, t0.Add(start))
	}
	var wg sync.WaitGroup
	for i := range n {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns, nm, policy := name(i)
			errs[i] = h.client.Create(ctx, newIncident(ns, nm, policy, escalationLabels))
		}()
	}
	wg.Wait()
	r.createWall = time.Since(t0)
	r.created = n
	ok, okDue := 0, 0
	for i, err := range errs {
		switch {
		case err != nil:
			r.createErrs++
		case due[i]:
			okDue++
			ok++
		default:
			ok++
		}
	}

	// Every incident open, its deadline in status: the controller's memory with N
	// open incidents, before the first page.
	firstDue := t0.Add(start)
	if waitUntil(ctx, time.Until(firstDue), func() bool { return dl.count() >= ok }) {
		r.allOpen = time.Since(t0)
	}
	if time.Now().Before(firstDue) {
		idle, cancel := context.WithDeadline(ctx, firstDue)
		_ = c.waitIdle(idle, time.Second)
		cancel()
		open, _ := measure.ReadProc(c.pid())
		r.rssOpen, r.openIdle = open.RSS, time.Now().Before(firstDue)
	}
	timeline := h.startTimeline(c)

	// Wait for the window's last page, or for the grace after its last deadline.
	lastDue := firstDue.Add(o.measure + 2*time.Second)
	waitUntil(ctx, time.Until(lastDue.Add(o.grace)), func() bool { return h.sink.count(namespaces, 1) >= okDue })
	// Duplicates would follow the first delivery closely; give them a moment.
	time.Sleep(2 * time.Second)
	r.wall = time.Since(began)
	r.timeline = timeline.finish()
	if err := writeTimeline(filepath.Join(h.out, "escalation-cpu.csv"), r.timeline); err != nil {
		return nil, err
	}
	s1 := h.snap(c)
	r.metrics = c.scrape().Minus(m0)
	r.writes = writesByResource(h.apiserverMetrics().Minus(a0))
	r.cpu = s1.since(s0)
	r.sink = h.sink.counters().minus(sink0)
	r.moved = dl.moved()
	end, _ := measure.ReadProc(c.pid())
	r.rssEnd, r.hwm, r.rssMax = end.RSS, end.HWM, max(c.rssMax.Load(), end.RSS)
	for _, p := range profiles {
		<-p
	}

	csv, err := os.Create(filepath.Join(h.out, "escalation-pages.csv"))
	if err != nil {
		return nil, fmt.Errorf("writing the pages: %w", err)
	}
	defer csv.Close()
	fmt.Fprintln(csv, "namespace,name,deadline,arrived,lateness_ms")
	found := 0
	l := &r.pages
	for i := range n {
		if errs[i] != nil {
			continue
		}
		ns, nm, policy := name(i)
		p := page{namespace: ns, name: nm, level: 1}
		a, arrived := h.sink.get(p)
		if arrived {
			found++
		}
		if !due[i] {
			// Due an hour from now: any page is early.
			if arrived {
				l.early++
				l.earliest = fmt.Sprintf("%s/%s (policy %s) paged at %s", ns, nm, policy, a.at.Format(time.RFC3339))
			} else {
				r.pending++
			}
			continue
		}
		l.expected++
		if !arrived {
			l.missing++
			continue
		}
		// The documented rule: level 1 is due its delay after the trigger, rounded up
		// to the whole second.
		var rule time.Time
		if a.triggeredAt != nil {
			rule = ceilSecond(a.triggeredAt.Add(start))
		}
		d, seen := dl.deadline(p)
		switch {
		case !seen:
			l.unseen++
			d = rule
		case !rule.IsZero() && !rule.Equal(d):
			l.mismatched++
		}
		if d.IsZero() {
			continue
		}
		late := a.at.Sub(d)
		if late < 0 {
			if l.early == 0 || late < l.lateness.Min() {
				l.earliest = fmt.Sprintf("%s/%s: %s before %s", ns, nm, measure.MS(-late), d.Format(time.RFC3339))
			}
			l.early++
		}
		l.lateness = append(l.lateness, late)
		fmt.Fprintf(csv, "%s,%s,%s,%s,%.3f\n", ns, nm, d.Format(time.RFC3339Nano), a.at.Format(time.RFC3339Nano), float64(late)/float64(time.Millisecond))
	}
	r.unexpected = h.sink.pagesIn(namespaces) - found
	return r, nil
}

// ceilSecond rounds t up to the whole second, as the controller rounds deadlines.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
