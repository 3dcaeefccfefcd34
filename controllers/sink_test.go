package controllers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/klaxon-ops/klaxon/internal/notify"
)

// sink is an HTTP receiver of webhook deliveries that records what arrives and when,
// and answers with a scripted sequence of responses.
type sink struct {
	srv *httptest.Server

	mu       sync.Mutex
	arrivals []arrival
	script   []response // answered in order; 200 once it is used up
}

type arrival struct {
	at      time.Time
	status  int
	key     string
	payload notify.WebhookPayload
}

type response struct {
	status     int
	retryAfter int
}

func newSink(t *testing.T, script ...response) *sink {
	s := &sink{script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// channel creates, in ns, a webhook NotificationChannel named name that posts to
// s.
func (s *sink) channel(g Gomega, ns, name string) {
	nc := webhookChannel(ns, name)
	nc.Spec.Webhook.URL = s.srv.URL
	g.Expect(k8sClient.Create(context.Background(), nc)).To(Succeed())
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p notify.WebhookPayload
	_ = json.Unmarshal(body, &p)
	s.mu.Lock()
	resp := response{status: http.StatusOK}
	if len(s.script) > 0 {
		resp, s.script = s.script[0], s.script[1:]
	}
	s.arrivals = append(s.arrivals, arrival{at: time.Now(), status: resp.status, key: r.Header.Get(notify.IdempotencyKeyHeader), payload: p})
	s.mu.Unlock()
	if resp.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(resp.retryAfter))
	}
	w.WriteHeader(resp.status)
}

// received returns the arrivals answered with 200 for an address, in order.
func (s *sink) received(address string) []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []arrival
	for _, a := range s.arrivals {
		if a.payload.Address == address && a.status == http.StatusOK {
			out = append(out, a)
		}
	}
	return out
}

// all returns every request, answered however.
func (s *sink) all() []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.arrivals...)
}
