package notify

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNextAttempt(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 5, MaxElapsed: 10 * time.Minute, BaseDelay: time.Second, MaxDelay: 10 * time.Second, Jitter: 0.2}
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	temp := &SendError{Err: errors.New("502"), StatusCode: 502}
	cases := []struct {
		name     string
		attempts int
		err      error
		first    time.Time
		now      time.Time
		min, max time.Duration
		giveUp   bool
	}{
		{name: "first failure: about the base delay", attempts: 1, err: temp, first: t0, now: t0, min: 800 * time.Millisecond, max: 1200 * time.Millisecond},
		{name: "doubles", attempts: 3, err: temp, first: t0, now: t0, min: 3200 * time.Millisecond, max: 4800 * time.Millisecond},
		{name: "capped", attempts: 4, err: temp, first: t0, now: t0, min: 6400 * time.Millisecond, max: 10 * time.Second},
		{name: "a plain error is temporary", attempts: 1, err: context.DeadlineExceeded, first: t0, now: t0, min: 800 * time.Millisecond, max: 1200 * time.Millisecond},
		{name: "unknown outcome is temporary", attempts: 2, err: nil, min: 1600 * time.Millisecond, max: 2400 * time.Millisecond},
		{name: "Retry-After longer than the backoff wins", attempts: 1, err: fmt.Errorf("send: %w", &SendError{Err: errors.New("429"), StatusCode: 429, RetryAfter: 30 * time.Second}), first: t0, now: t0, min: 30 * time.Second, max: 30 * time.Second},
		{name: "Retry-After shorter than the backoff", attempts: 4, err: &SendError{Err: errors.New("503"), RetryAfter: time.Millisecond}, first: t0, now: t0, min: 6400 * time.Millisecond, max: 10 * time.Second},
		{name: "permanent", attempts: 1, err: &SendError{Err: errors.New("404"), Permanent: true}, first: t0, now: t0, giveUp: true},
		{name: "attempts exhausted", attempts: 5, err: temp, first: t0, now: t0, giveUp: true},
		{name: "deadline passed", attempts: 2, err: temp, first: t0, now: t0.Add(10 * time.Minute), giveUp: true},
		{name: "the wait would pass the deadline", attempts: 1, err: &SendError{Err: errors.New("429"), RetryAfter: 9 * time.Minute}, first: t0, now: t0.Add(2 * time.Minute), giveUp: true},
		{name: "Retry-After beyond the deadline without a first attempt", attempts: 1, err: &SendError{Err: errors.New("429"), RetryAfter: time.Hour}, giveUp: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := c.now
			if now.IsZero() {
				now = t0
			}
			wait, giveUp := p.NextAttempt("key", c.attempts, c.err, c.first, now)
			if giveUp != c.giveUp || (!giveUp && (wait < c.min || wait > c.max)) {
				t.Errorf("NextAttempt = %s, %v; want [%s, %s], %v", wait, giveUp, c.min, c.max, c.giveUp)
			}
		})
	}
}

func TestNextAttemptJitterIsDeterministicAndSpread(t *testing.T) {
	p := DefaultRetryPolicy
	now := time.Now()
	a1, _ := p.NextAttempt("delivery-a", 3, nil, time.Time{}, now)
	a2, _ := p.NextAttempt("delivery-a", 3, nil, time.Time{}, now.Add(time.Hour))
	if a1 != a2 {
		t.Errorf("same delivery and attempt: %s then %s", a1, a2)
	}
	seen := map[time.Duration]bool{}
	for i := range 20 {
		w, _ := p.NextAttempt(fmt.Sprintf("delivery-%d", i), 3, nil, time.Time{}, now)
		seen[w] = true
	}
	if len(seen) < 10 {
		t.Errorf("20 deliveries share %d waits", len(seen))
	}
}

func TestDefaultRetryPolicyTotal(t *testing.T) {
	// Without Retry-After the default gives up after MaxAttempts within MaxElapsed.
	p := DefaultRetryPolicy
	first := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now := first
	attempts := 1
	for {
		wait, giveUp := p.NextAttempt("k", attempts, errors.New("timeout"), first, now)
		if giveUp {
			break
		}
		now = now.Add(wait)
		attempts++
	}
	if attempts != p.MaxAttempts || now.Sub(first) > p.MaxElapsed {
		t.Errorf("gave up after %d attempts and %s", attempts, now.Sub(first))
	}
	// A zero policy is the default.
	w1, _ := RetryPolicy{}.NextAttempt("k", 2, nil, time.Time{}, first)
	w2, _ := DefaultRetryPolicy.NextAttempt("k", 2, nil, time.Time{}, first)
	if w1 != w2 {
		t.Errorf("zero policy waits %s, default %s", w1, w2)
	}
	// Huge attempt counts do not overflow.
	if w, giveUp := (RetryPolicy{MaxAttempts: 1000}).NextAttempt("k", 999, nil, time.Time{}, first); giveUp || w > p.MaxDelay {
		t.Errorf("attempt 999 waits %s (give up %v)", w, giveUp)
	}
}
