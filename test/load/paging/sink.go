package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/klaxon-ops/klaxon/internal/notify"
)

// page identifies one page: an incident, and the level and cycle it was paged at.
type page struct {
	namespace, name string
	level, cycle    int32
}

// arrival is what the sink noted about one page.
type arrival struct {
	at          time.Time  // when the first delivery of the page arrived
	deliveries  int        // every delivery of the page, repeats included
	triggeredAt *time.Time // as the payload says, to cross-check deadlines
}

// sink is the HTTP receiver every tenant's webhook channel posts to. It notes when
// each page first arrived and how often it arrived, and counts pages per namespace
// and level (to wait for a phase). It also checks the Idempotency-Key as a receiver
// following WEBHOOK.md uses it, dropping keys it has processed: a key seen before for
// the same page is a repeat it could drop, a key seen before for another page is a
// collision that would make such a receiver drop a real page.
type sink struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	pages    map[page]*arrival
	counts   map[page]int // name empty, cycle 0: first arrivals per namespace and level
	keys     map[string]page
	repeats  int // deliveries of a page with a key seen before for it
	collided int // deliveries with a key seen before for another page
	others   int // deliveries of events other than Triggered and Escalated
	bad      int // bodies that did not parse
	received int // every request
}

func newSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{url: "http://" + l.Addr().String() + "/hook",
		pages: map[page]*arrival{}, counts: map[page]int{}, keys: map[string]page{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now() // the page has arrived once its headers are read
	body, err := io.ReadAll(r.Body)
	var p notify.WebhookPayload
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	if err != nil {
		s.bad++
		w.WriteHeader(http.StatusOK)
		return
	}
	pg := page{namespace: p.Incident.Namespace, name: p.Incident.Name, level: p.Incident.Level, cycle: p.Incident.Cycle}
	switch prev, seen := s.keys[p.Key]; {
	case !seen:
		s.keys[p.Key] = pg
	case prev == pg:
		s.repeats++
	default:
		s.collided++
	}
	if p.Event != "Triggered" && p.Event != "Escalated" {
		s.others++
		w.WriteHeader(http.StatusOK)
		return
	}
	a, ok := s.pages[pg]
	if !ok {
		a = &arrival{at: at, triggeredAt: p.Incident.TriggeredAt}
		s.pages[pg] = a
		s.counts[page{namespace: pg.namespace, level: pg.level}]++
	}
	a.deliveries++
	w.WriteHeader(http.StatusOK)
}

// arrived returns when a page first arrived.
func (s *sink) arrived(p page) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.pages[p]
	if !ok {
		return time.Time{}, false
	}
	return a.at, true
}

// get returns a copy of what the sink noted about a page.
func (s *sink) get(p page) (arrival, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.pages[p]
	if !ok {
		return arrival{}, false
	}
	return *a, true
}

// count is how many incidents of the namespaces were paged at level.
func (s *sink) count(namespaces []string, level int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ns := range namespaces {
		n += s.counts[page{namespace: ns, level: level}]
	}
	return n
}

// sinkCounters are the sink's running totals; phases report their difference.
type sinkCounters struct {
	received, repeats, collided, others, bad int
	duplicates                               int // deliveries of a page beyond its first
}

func (s *sink) counters() sinkCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := sinkCounters{received: s.received, repeats: s.repeats, collided: s.collided, others: s.others, bad: s.bad}
	for _, a := range s.pages {
		c.duplicates += a.deliveries - 1
	}
	return c
}

func (c sinkCounters) minus(b sinkCounters) sinkCounters {
	return sinkCounters{received: c.received - b.received, repeats: c.repeats - b.repeats, collided: c.collided - b.collided, others: c.others - b.others,
		bad: c.bad - b.bad, duplicates: c.duplicates - b.duplicates}
}

// pagesIn is how many distinct pages of incidents in the namespaces arrived.
func (s *sink) pagesIn(namespaces []string) int {
	in := map[string]bool{}
	for _, ns := range namespaces {
		in[ns] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p := range s.pages {
		if in[p.namespace] {
			n++
		}
	}
	return n
}
