package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// deadlines watches incidents and notes, for every page, the deadline the controller
// stored for it in status.escalation.nextEscalationAt before paging it. That is the
// instant the page is due, exactly (the controller rounds deadlines up to the whole
// second status keeps), so a page's lateness is its arrival at the sink minus it.
type deadlines struct {
	levels int32 // levels of the policy, to know which page a deadline is for

	mu      sync.Mutex
	due     map[page]time.Time
	changed int // deadlines that moved once stored: none should, the policy is not edited
}

// watchDeadlines starts an informer on the incidents labelled selector. Its objects
// are stripped to their escalation status, so the harness holds little per incident.
func watchDeadlines(ctx context.Context, h *harness, selector labels.Selector, levels int32) (*deadlines, error) {
	d := &deadlines{levels: levels, due: map[page]time.Time{}}
	c, err := cache.New(h.cfg, cache.Options{Scheme: h.client.Scheme(),
		ByObject: map[client.Object]cache.ByObject{&klaxonv1.Incident{}: {Label: selector}},
		DefaultTransform: func(o any) (any, error) {
			inc, ok := o.(*klaxonv1.Incident)
			if !ok {
				return o, nil
			}
			meta := *inc.ObjectMeta.DeepCopy()
			meta.ManagedFields = nil
			return &klaxonv1.Incident{ObjectMeta: meta, Status: klaxonv1.IncidentStatus{Escalation: inc.Status.Escalation}}, nil
		}})
	if err != nil {
		return nil, fmt.Errorf("creating the incident watch: %w", err)
	}
	inf, err := c.GetInformer(ctx, &klaxonv1.Incident{})
	if err != nil {
		return nil, fmt.Errorf("creating the incident informer: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.observe(o) },
		UpdateFunc: func(_, o any) { d.observe(o) },
	}); err != nil {
		return nil, fmt.Errorf("watching incidents: %w", err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the incident watch did not sync")
	}
	return d, nil
}

// observe notes the deadline an incident's status holds: with level L of cycle C
// paged, it is the deadline of level L+1, or of level 1 of cycle C+1 after the last.
func (d *deadlines) observe(o any) {
	inc, ok := o.(runtime.Object).(*klaxonv1.Incident)
	if !ok || inc.Status.Escalation == nil || inc.Status.Escalation.NextEscalationAt == nil {
		return
	}
	st := inc.Status.Escalation
	next := page{namespace: inc.Namespace, name: inc.Name, level: st.Level + 1, cycle: st.Cycle}
	if st.Level >= d.levels {
		next.level, next.cycle = 1, st.Cycle+1
	}
	at := st.NextEscalationAt.Time
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.due[next]; ok && !prev.Equal(at) {
		d.changed++
	}
	d.due[next] = at
}

// deadline is when a page was due, as status said before it was paged.
func (d *deadlines) deadline(p page) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.due[p]
	return t, ok
}

// latest is the latest deadline noted, to know how long to wait for the last page.
func (d *deadlines) latest() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var l time.Time
	for _, t := range d.due {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// count is how many pages have a deadline noted.
func (d *deadlines) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.due)
}

func (d *deadlines) moved() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}
