package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"golang.org/x/time/rate"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Limit is a token bucket: a steady rate and a burst.
type Limit struct {
	// PerMinute is the steady rate.
	PerMinute int32
	// Burst is how many may go at once.
	Burst int32
}

// Default limits per channel type. Where a service documents a limit they keep every
// window within it: a burst b and a rate r let at most b + r*w through in a window w.
var defaultLimits = map[klaxonv1.ChannelType]Limit{
	// Slack: 1 message per second per channel (1 + 1/s * 1s).
	klaxonv1.ChannelSlack: {PerMinute: 60, Burst: 1},
	// PagerDuty: 120 events per minute per integration key (10 + 110/min * 1min).
	klaxonv1.ChannelPagerDuty: {PerMinute: 110, Burst: 10},
	// Teams webhooks throttle beyond 4 requests per second (2 + 2/s * 1s).
	klaxonv1.ChannelMSTeams: {PerMinute: 120, Burst: 2},
	// SMTP relays commonly throttle senders; a minute of mail at once is plenty.
	klaxonv1.ChannelEmail: {PerMinute: 60, Burst: 10},
	// A webhook receiver is usually ours to size; keep a guard against floods.
	klaxonv1.ChannelWebhook: {PerMinute: 600, Burst: 50},
}

// DefaultLimit is the limit of a channel type without spec.rateLimit.
func DefaultLimit(t klaxonv1.ChannelType) Limit {
	if l, ok := defaultLimits[t]; ok {
		return l
	}
	return defaultLimits[klaxonv1.ChannelWebhook]
}

// LimitFor is a channel's limit: spec.rateLimit (burst 1 when unset), or the type's
// default.
func LimitFor(spec klaxonv1.NotificationChannelSpec) Limit {
	if rl := spec.RateLimit; rl != nil && rl.PerMinute > 0 {
		return Limit{PerMinute: rl.PerMinute, Burst: max(rl.Burst, 1)}
	}
	return DefaultLimit(spec.Type)
}

// BucketKey names the bucket a delivery draws from. Limits are the receiver's, so
// the bucket is per receiver: per channel ("namespace/name"), per Slack channel
// (the address) for Slack, and per integration key for PagerDuty, whose limit is per
// key however many NotificationChannels share it. The routing key is a secret: only
// a hash of it enters the bucket key.
func BucketKey(channel string, t klaxonv1.ChannelType, address, routingKey string) string {
	switch {
	case t == klaxonv1.ChannelPagerDuty && routingKey != "":
		sum := sha256.Sum256([]byte(routingKey))
		return "pagerduty/" + hex.EncodeToString(sum[:12])
	case t == klaxonv1.ChannelSlack && address != "":
		return channel + "#" + address
	}
	return channel
}

// RateLimiter holds a token bucket per bucket key. It never sleeps: Reserve says how
// long to wait, and the controller requeues. It is safe for concurrent use; the
// buckets live in memory, so after a restart they start full, which the receivers'
// own limits tolerate.
type RateLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim          *rate.Limiter
	limit        Limit
	blockedUntil time.Time
	lastUsed     time.Time
}

// NewRateLimiter returns an empty RateLimiter.
func NewRateLimiter() *RateLimiter {
	return &RateLimiter{buckets: map[string]*bucket{}}
}

// Reserve takes a token from bucket key, limited by limit, at now and returns 0; or,
// when none is available, takes nothing and returns how long to wait before trying
// again. Taking nothing on a wait matters: the caller comes back rather than holding a
// slot, so a token is spent only on a delivery that is made.
func (l *RateLimiter) Reserve(key string, limit Limit, now time.Time) time.Duration {
	limit.PerMinute = max(limit.PerMinute, 1)
	limit.Burst = max(limit.Burst, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, limit, now)
	b.lastUsed = now
	if now.Before(b.blockedUntil) {
		return b.blockedUntil.Sub(now)
	}
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Minute // unreachable: burst is at least 1
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// Block stops bucket key until until, for a receiver that answered 429 or 503 with
// Retry-After: the limit is the receiver's, so every delivery through it waits.
func (l *RateLimiter) Block(key string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Inf, 1)}
		l.buckets[key] = b
	}
	if until.After(b.blockedUntil) {
		b.blockedUntil = until
	}
}

// Prune forgets buckets unused for idle: they would be full again by now unless
// their rate is slower than that, and a forgotten bucket starts full.
func (l *RateLimiter) Prune(now time.Time, idle time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.Sub(b.lastUsed) >= idle && !now.Before(b.blockedUntil) {
			delete(l.buckets, k)
		}
	}
}

// bucket returns key's bucket with limit applied, creating it full.
func (l *RateLimiter) bucket(key string, limit Limit, now time.Time) *bucket {
	r := rate.Limit(float64(limit.PerMinute) / 60)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(r, int(limit.Burst)), limit: limit}
		l.buckets[key] = b
		return b
	}
	switch {
	case b.limit == (Limit{}):
		// Made by Block before any delivery: give it its limit, full.
		b.lim, b.limit = rate.NewLimiter(r, int(limit.Burst)), limit
	case b.limit != limit:
		// The channel's spec changed; the new limit applies from now.
		b.lim.SetLimitAt(now, r)
		b.lim.SetBurstAt(now, int(limit.Burst))
		b.limit = limit
	}
	return b
}
