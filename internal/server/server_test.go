package server

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// The manager's readiness follows the server: not ready before it listens, nor while
// its caches are not synced, nor after it stopped.
func TestCheckerReadyOnlyWhileListening(t *testing.T) {
	var synced atomic.Bool
	s := New("127.0.0.1:0", func() error {
		if !synced.Load() {
			return errors.New("caches not synced")
		}
		return nil
	})
	synced.Store(true)
	if err := s.Checker(nil); err == nil {
		t.Fatal("ready before Start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for s.Checker(nil) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 30s after Start: %v", s.Checker(nil))
		}
		time.Sleep(10 * time.Millisecond)
	}
	synced.Store(false)
	if err := s.Checker(nil); err == nil || err.Error() != "caches not synced" {
		t.Errorf("Checker with unsynced caches = %v", err)
	}
	synced.Store(true)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Checker(nil); err == nil {
		t.Error("ready after the server stopped")
	}
}
