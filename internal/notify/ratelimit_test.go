package notify

import (
	"strings"
	"sync"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var rt0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// sent counts how many of n deliveries, each retried when told to wait, go out within
// window, walking an injected clock.
func sentWithin(l *RateLimiter, key string, limit Limit, n int, window time.Duration) int {
	now, sent := rt0, 0
	for sent < n {
		wait := l.Reserve(key, limit, now)
		if wait == 0 {
			sent++
			continue
		}
		if now.Add(wait).Sub(rt0) >= window {
			break
		}
		now = now.Add(wait)
	}
	return sent
}

func TestDefaultLimitsRespectTheServices(t *testing.T) {
	cases := []struct {
		typ    klaxonv1.ChannelType
		window time.Duration
		max    int
	}{
		{klaxonv1.ChannelSlack, time.Second, 1},
		{klaxonv1.ChannelSlack, time.Minute, 60},
		{klaxonv1.ChannelPagerDuty, time.Minute, 120},
		{klaxonv1.ChannelMSTeams, time.Second, 4},
	}
	for _, c := range cases {
		got := sentWithin(NewRateLimiter(), "k", DefaultLimit(c.typ), 10000, c.window)
		if got > c.max || got < c.max*9/10 {
			t.Errorf("%s: %d in %s, want at most %d (and close to it)", c.typ, got, c.window, c.max)
		}
	}
}

func TestReserve(t *testing.T) {
	l := NewRateLimiter()
	slack := DefaultLimit(klaxonv1.ChannelSlack)
	if w := l.Reserve("a", slack, rt0); w != 0 {
		t.Fatalf("first = %s", w)
	}
	w := l.Reserve("a", slack, rt0)
	if w != time.Second {
		t.Fatalf("second at once waits %s, want 1s", w)
	}
	// Waiting took no token: coming back after the wait goes at once.
	if w := l.Reserve("a", slack, rt0.Add(w)); w != 0 {
		t.Errorf("after the wait = %s", w)
	}
	// Half-way to the next token waits the other half.
	if w := l.Reserve("a", slack, rt0.Add(1500*time.Millisecond)); w != 500*time.Millisecond {
		t.Errorf("half-way waits %s", w)
	}
	// Buckets are separate.
	if w := l.Reserve("b", slack, rt0); w != 0 {
		t.Errorf("another bucket waits %s", w)
	}
}

func TestLimitFor(t *testing.T) {
	spec := klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack}
	if got := LimitFor(spec); got != (Limit{PerMinute: 60, Burst: 1}) {
		t.Errorf("default Slack = %+v", got)
	}
	spec.RateLimit = &klaxonv1.RateLimit{PerMinute: 6}
	if got := LimitFor(spec); got != (Limit{PerMinute: 6, Burst: 1}) {
		t.Errorf("override without burst = %+v", got)
	}
	spec.RateLimit.Burst = 3
	l := NewRateLimiter()
	if got := sentWithin(l, "k", LimitFor(spec), 100, time.Minute); got != 3+5 {
		t.Errorf("6/min burst 3: %d in a minute, want 8", got)
	}
	if got := LimitFor(klaxonv1.NotificationChannelSpec{Type: "carrier-pigeon"}); got != DefaultLimit(klaxonv1.ChannelWebhook) {
		t.Errorf("unknown type = %+v", got)
	}
}

func TestLimitChangeAppliesNow(t *testing.T) {
	l := NewRateLimiter()
	slow := Limit{PerMinute: 1, Burst: 1}
	l.Reserve("k", slow, rt0)
	if w := l.Reserve("k", slow, rt0); w != time.Minute {
		t.Fatalf("slow waits %s", w)
	}
	if w := l.Reserve("k", Limit{PerMinute: 60, Burst: 1}, rt0); w != time.Second {
		t.Errorf("after speeding up waits %s, want 1s", w)
	}
}

func TestBlock(t *testing.T) {
	l := NewRateLimiter()
	lim := DefaultLimit(klaxonv1.ChannelWebhook)
	l.Block("k", rt0.Add(30*time.Second))
	if w := l.Reserve("k", lim, rt0); w != 30*time.Second {
		t.Errorf("blocked bucket waits %s", w)
	}
	if w := l.Reserve("k", lim, rt0.Add(30*time.Second)); w != 0 {
		t.Errorf("after the block waits %s", w)
	}
	l.Block("k", rt0) // an earlier block does not shorten a later one
	l.Prune(rt0.Add(time.Hour), time.Minute)
	if len(l.buckets) != 0 {
		t.Errorf("Prune kept %d buckets", len(l.buckets))
	}
}

func TestBucketKey(t *testing.T) {
	pd1 := BucketKey("team-a/pd", klaxonv1.ChannelPagerDuty, "", "R0UTINGKEY")
	pd2 := BucketKey("team-b/pd", klaxonv1.ChannelPagerDuty, "", "R0UTINGKEY")
	if pd1 != pd2 || strings.Contains(pd1, "R0UTINGKEY") {
		t.Errorf("PagerDuty buckets %q, %q: want one per routing key, without the key", pd1, pd2)
	}
	if BucketKey("team-a/slack", klaxonv1.ChannelSlack, "C1", "") == BucketKey("team-a/slack", klaxonv1.ChannelSlack, "C2", "") {
		t.Error("two Slack channels share a bucket")
	}
	if got := BucketKey("team-a/mail", klaxonv1.ChannelEmail, "a@x", ""); got != "team-a/mail" {
		t.Errorf("e-mail bucket = %q", got)
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	l := NewRateLimiter()
	lim := Limit{PerMinute: 60, Burst: 5}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for range 20 {
		wg.Go(func() {
			if l.Reserve("k", lim, rt0) == 0 {
				mu.Lock()
				sent++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if sent != 5 {
		t.Errorf("%d sent at once, want the burst of 5", sent)
	}
}
