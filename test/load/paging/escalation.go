package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// escalationResult is target 2: many open incidents escalating on a real API server.
type escalationResult struct {
	setting    qpsSetting
	incidents  int
	tenants    int
	createRate float64       // incidents opened a second before the measured window
	escRate    float64       // incidents opened, and pages falling due, a second in it
	delay      time.Duration // of the measured incidents' first level
	measure    time.Duration // the measured window: how long new incidents keep coming

	created    int
	createErrs int
	createWall time.Duration // opening the incidents before the window, the create calls alone
	allOpen    time.Duration // until they all had their deadline in status and the controller was idle
	opened     bool
	pages      levelResult
	pending    int // incidents whose deadline lies after the run, still escalating
	unexpected int // pages of these incidents at a level or cycle the policy never reaches
	moved      int // deadlines that changed once stored
	sink       sinkCounters

	rssBase int64 // VmRSS with the tenants set up, before the first incident
	rssOpen int64 // VmRSS with the incidents opened before the window, idle
	rssMax  int64 // largest VmRSS sampled during the phase
	rssEnd  int64 // VmRSS after the last page
	hwm     int64 // VmHWM at the end: the peak over the child's life
	// kube-apiserver at the end: its VmRSS, and its garbage collections over the
	// phase with their stop-the-world pauses (go_gc_duration_seconds); it holds
	// every incident, record and Event in its watch cache.
	apiRSS    int64
	apiGCs    float64
	apiGCTime time.Duration
	cpu       cpuUse
	metrics   measure.Metrics
	writes    []measure.ResourceCount // kube-apiserver's writes over the phase, everyone's
	wall      time.Duration
	profiles  []string
	timeline  []timedUse // CPU each second of the measured window
}

// levelResult is how pages arrived, against their deadlines.
type levelResult struct {
	expected   int
	lateness   measure.Durations // arrival at the sink - the deadline in status
	early      int               // pages that arrived before their deadline: must be none
	beforeRule int               // pages that arrived before the create call started + the delay: must be none
	earliest   string            // the earliest of those, to look into
	missing    int               // pages that never arrived (within the grace): must be none
	unseen     int               // deadlines the watch never saw in status; judged by the documented rule instead
	mismatched int               // deadlines in status that differ from the documented rule
}

// escalationLabels mark phase 2's incidents, so the deadline watch sees only them.
var escalationLabels = map[string]string{"load.klaxon.dev/phase": "escalation"}

// Phase 2's policies: "due" pages its first level opts.delay after the trigger,
// inside the measured window; "later" an hour after, past the end of the run.
const (
	policyDue   = "due"
	policyLater = "later"
)

// escalate measures target 2. First opts.incidents - N incidents are opened, at
// opts.createRate over opts.tenants2 tenants, following "later": they escalate (a
// deadline in status, a timer in the controller) but must page nothing during the
// run. Once every one of them is open and the controller idle (opening costs it
// several writes an incident, which is not what is measured), N more are opened at
// opts.escRate a second for opts.measure, following "due": each pages
// opts.firstDelay after its trigger, by default once all N are open, so that pages
// fall due at escRate a second with opts.incidents open and nothing else going on.
// Nobody acknowledges. Every page is compared with the deadline status gave for it.
func (h *harness) escalate(ctx context.Context) (*escalationResult, error) {
	o := h.opts
	r := &escalationResult{setting: o.escSetting, incidents: o.incidents, tenants: o.tenants2,
		createRate: o.createRate, escRate: o.escRate, delay: o.firstDelay, measure: o.measure}
	nDue := min(o.incidents, int(o.escRate*o.measure.Seconds()))
	nLater := o.incidents - nDue

	c, err := startController(h, "escalation", o.escSetting)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Stop(45 * time.Second) }()

	specs := []policySpec{{name: policyDue, delays: []time.Duration{o.firstDelay, time.Hour}},
		{name: policyLater, delays: []time.Duration{time.Hour, time.Hour}}}
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
	if err := measure.WaitIdle(ctx, c.Scrape, time.Second); err != nil {
		return nil, err
	}
	base, _ := measure.ReadProc(c.Pid())
	r.rssBase = base.RSS
	c.RSS.Reset()
	m0, s0, sink0, a0 := c.Scrape(), h.snap(c), h.sink.counters(), h.apiserverMetrics()
	began := time.Now()
	var profiles []<-chan struct{}
	profile := func(prefix string, d time.Duration) {
		for _, p := range []struct {
			file string
			run  func(time.Duration, string) <-chan struct{}
		}{{prefix + "-controller.pprof", c.Profile}, {prefix + "-apiserver.pprof", h.apiserverProfile}} {
			file := filepath.Join(h.out, p.file)
			profiles = append(profiles, p.run(min(max(d, time.Second), 30*time.Second).Round(time.Second), file))
			r.profiles = append(r.profiles, file)
		}
	}

	// Open the incidents that wait, then wait for the controller to be done with them.
	later := func(i int) (string, string) { return namespaces[i%len(namespaces)], fmt.Sprintf("later-%05d", i) }
	if o.profile {
		profile("escalation-open", time.Duration(float64(nLater)/o.createRate*float64(time.Second)))
	}
	t0 := time.Now()
	errsLater, _ := h.createPaced(ctx, nLater, o.createRate, func(i int) (string, string, string) {
		ns, nm := later(i)
		return ns, nm, policyLater
	})
	r.createWall = time.Since(t0)
	okLater := 0
	for _, err := range errsLater {
		if err == nil {
			okLater++
		}
	}
	openCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	r.opened = waitUntil(openCtx, 10*time.Minute, func() bool { return dl.count() >= okLater }) &&
		measure.WaitIdle(openCtx, c.Scrape, 2*time.Second) == nil
	cancel()
	r.allOpen = time.Since(began)
	open, _ := measure.ReadProc(c.Pid())
	r.rssOpen = open.RSS

	// The measured incidents, at escRate, each due firstDelay after it opened.
	timeline := h.startTimeline(c)
	if o.profile {
		profile("escalation-paging", o.measure)
	}
	due := func(i int) (string, string) { return namespaces[i%len(namespaces)], fmt.Sprintf("due-%05d", i) }
	errsDue, startsDue := h.createPaced(ctx, nDue, o.escRate, func(i int) (string, string, string) {
		ns, nm := due(i)
		return ns, nm, policyDue
	})
	okDue := 0
	for _, err := range errsDue {
		if err == nil {
			okDue++
		}
	}
	// Wait for the last page, or for the grace after the last deadline.
	lastDue := time.Now().Add(o.firstDelay + 2*time.Second)
	waitUntil(ctx, time.Until(lastDue.Add(o.grace)), func() bool { return h.sink.count(namespaces, 1) >= okDue })
	// Duplicates would follow the first delivery closely; give them a moment.
	time.Sleep(2 * time.Second)
	r.wall = time.Since(began)
	r.timeline = timeline.finish()
	if err := writeTimeline(filepath.Join(h.out, "escalation-cpu.csv"), r.timeline); err != nil {
		return nil, err
	}
	s1 := h.snap(c)
	r.metrics = c.Scrape().Minus(m0)
	a1 := h.apiserverMetrics()
	r.writes = measure.WritesByResource(a1.Minus(a0))
	gc := a1.Minus(a0)
	r.apiGCs = gc.Sum("go_gc_duration_seconds_count")
	r.apiGCTime = time.Duration(gc.Sum("go_gc_duration_seconds_sum") * float64(time.Second))
	if p, err := measure.ReadProc(h.apiserver); err == nil {
		r.apiRSS = p.RSS
	}
	r.cpu = s1.since(s0)
	r.sink = h.sink.counters().minus(sink0)
	r.moved = dl.moved()
	end, _ := measure.ReadProc(c.Pid())
	r.rssEnd, r.hwm, r.rssMax = end.RSS, end.HWM, max(c.RSS.Max(), end.RSS)
	for _, p := range profiles {
		<-p
	}
	r.created = nLater + nDue
	r.createErrs = (nLater - okLater) + (nDue - okDue)

	csv, err := os.Create(filepath.Join(h.out, "escalation-pages.csv"))
	if err != nil {
		return nil, fmt.Errorf("writing the pages: %w", err)
	}
	defer csv.Close()
	fmt.Fprintln(csv, "namespace,name,deadline,arrived,lateness_ms")
	found := 0
	l := &r.pages
	for i := range nLater {
		if errsLater[i] != nil {
			continue
		}
		ns, nm := later(i)
		// Due an hour from now: any page is early.
		if a, ok := h.sink.get(page{namespace: ns, name: nm, level: 1}); ok {
			found++
			l.early++
			l.earliest = fmt.Sprintf("%s/%s (policy %s) paged at %s", ns, nm, policyLater, a.at.Format(time.RFC3339))
		} else {
			r.pending++
		}
	}
	for i := range nDue {
		if errsDue[i] != nil {
			continue
		}
		ns, nm := due(i)
		p := page{namespace: ns, name: nm, level: 1}
		l.expected++
		a, ok := h.sink.get(p)
		if !ok {
			l.missing++
			continue
		}
		found++
		// Whatever status says, the incident did not exist before its create call
		// started: a page before that + the delay is early.
		if a.at.Before(startsDue[i].Add(o.firstDelay)) {
			l.beforeRule++
		}
		// The documented rule: level 1 is due its delay after the escalation's start,
		// which is within the second after the trigger (status keeps seconds).
		d, seen := dl.deadline(p)
		switch {
		case !seen:
			l.unseen++
			if a.triggeredAt != nil {
				d = a.triggeredAt.Add(o.firstDelay) // the earliest the rule allows
			}
		case a.triggeredAt != nil && (d.Before(a.triggeredAt.Add(o.firstDelay)) || d.After(a.triggeredAt.Add(o.firstDelay+time.Second))):
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

// createPaced creates n incidents open-loop at rate a second (measure.OpenLoop) and
// returns each create's error and when it started.
func (h *harness) createPaced(ctx context.Context, n int, rate float64, name func(i int) (ns, name, policy string)) ([]error, []time.Time) {
	errs, starts := make([]error, n), make([]time.Time, n)
	measure.OpenLoop(n, rate, func(i int) {
		ns, nm, policy := name(i)
		starts[i] = time.Now()
		errs[i] = h.client.Create(ctx, newIncident(ns, nm, policy, escalationLabels))
	})
	return errs, starts
}
