package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klaxon-ops/klaxon/internal/notify"
)

// Paths of the sink: Klaxon's webhook channel posts pages to one, Alertmanager's
// webhook receiver its notifications to the other.
const (
	pathKlaxon       = "/klaxon"
	pathAlertmanager = "/alertmanager"
)

// peer is who delivered to the sink.
type peer int

const (
	klaxon peer = iota
	alertmanager
)

func (p peer) String() string { return [...]string{"Klaxon", "Alertmanager"}[p] }

// sink notes when each alert group (its alertname) first reached the sink through
// each peer, and counts what arrived: a page per incident from Klaxon, a
// notification per group from Alertmanager. Klaxon's page names the group through the
// incident's title, the summary of the alert that opened it ("<alertname>-<instance>"):
// with many requests in flight, that need not be the group's first alert in the
// stream.
type sink struct {
	srv *http.Server
	url string

	mu        sync.Mutex
	first     [2]map[string]time.Time
	count     [2]int // deliveries
	incidents map[string]int
	bad       int
}

func newSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{url: "http://" + l.Addr().String(), incidents: map[string]int{},
		first: [2]map[string]time.Time{{}, {}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathKlaxon, s.serveKlaxon)
	mux.HandleFunc("POST "+pathAlertmanager, s.serveAlertmanager)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) serveKlaxon(w http.ResponseWriter, r *http.Request) {
	at := time.Now() // arrived once its headers are read
	var p notify.WebhookPayload
	err := decode(r.Body, &p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count[klaxon]++
	switch {
	case err != nil:
		s.bad++
	case p.Event == "Triggered":
		s.incidents[p.Incident.Namespace+"/"+p.Incident.Name]++
		g := groupOf(p.Incident.Title)
		if _, ok := s.first[klaxon][g]; !ok {
			s.first[klaxon][g] = at
		}
	}
	w.WriteHeader(http.StatusOK)
}

// amNotification is the part of Alertmanager's webhook payload the sink reads.
type amNotification struct {
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (s *sink) serveAlertmanager(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	var n amNotification
	err := decode(r.Body, &n)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count[alertmanager]++
	if err != nil {
		s.bad++
	}
	for _, a := range n.Alerts {
		g := a.Labels["alertname"]
		if _, ok := s.first[alertmanager][g]; !ok && a.Status == "firing" {
			s.first[alertmanager][g] = at
		}
	}
	w.WriteHeader(http.StatusOK)
}

// groupOf is the alert group of an alert's summary: its alertname, the summary
// without the instance suffix.
func groupOf(summary string) string {
	if i := strings.LastIndexByte(summary, '-'); i > 0 {
		return summary[:i]
	}
	return summary
}

func decode(r io.Reader, v any) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// arrived is when an alert group first reached the sink through p.
func (s *sink) arrived(p peer, id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.first[p][id]
	return t, ok
}

// seen is how many of the groups ids reached the sink through p.
func (s *sink) seen(p peer, ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if _, ok := s.first[p][id]; ok {
			n++
		}
	}
	return n
}

// repeatedPages is how many Triggered pages arrived for an incident already paged.
func (s *sink) repeatedPages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.incidents {
		n += c - 1
	}
	return n
}

func (s *sink) unparsable() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}
