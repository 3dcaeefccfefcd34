// Package server is Klaxon's one HTTP server (--http-bind-address, :8090 by default):
// alert intake, heartbeats, respond links and the read-only dashboard. It runs on every
// replica, so a leader change never interrupts intake.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Server serves Klaxon's HTTP surface.
type Server struct {
	addr string
	mux  *http.ServeMux
	// ready says whether the server may take requests (the caches are synced).
	ready func() error
	// listening is set once Start has bound its address.
	listening atomic.Bool
}

// New returns a server for addr; register handlers with Handle before Start.
func New(addr string, ready func() error) *Server {
	s := &Server{addr: addr, mux: http.NewServeMux(), ready: ready}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return s
}

// Handle registers a handler for a pattern (net/http ServeMux syntax, with methods and
// wildcards, e.g. "POST /api/v1/alerts/{namespace}/{name}").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the server's routing, for tests.
func (s *Server) Handler() http.Handler { return s.mux }

// Start serves until ctx ends, then shuts down gracefully: requests in flight finish,
// so an accepted alert is persisted before the process exits.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.addr, err)
	}
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ctrl.LoggerFrom(ctx).WithName("http").Info("serving", "address", ln.Addr().String())
	s.listening.Store(true)
	defer s.listening.Store(false)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutting down the HTTP server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Checker is a readiness check (healthz.Checker) for the manager's /readyz: ready
// once the server listens and its caches are synced, so a replica gets no intake
// traffic from its Service before it can take it.
func (s *Server) Checker(*http.Request) error {
	if !s.listening.Load() {
		return fmt.Errorf("the HTTP server on %s is not listening yet", s.addr)
	}
	return s.ready()
}

// NeedLeaderElection is false: every replica serves HTTP.
func (s *Server) NeedLeaderElection() bool { return false }
