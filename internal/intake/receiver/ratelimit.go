package receiver

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// limits holds a token bucket per AlertSource with a spec.rateLimit: perMinute
// requests a minute, bursts of burst (a tenth of perMinute, at least 1, when unset).
// A source's bucket is rebuilt when its generation changes, so a new limit applies at
// once.
type limits struct {
	mu      sync.Mutex
	buckets map[types.NamespacedName]*bucket
}

type bucket struct {
	generation int64
	limiter    *rate.Limiter
}

func newLimits() *limits { return &limits{buckets: map[types.NamespacedName]*bucket{}} }

// allow takes a token for a request to src at now; when there is none it returns
// false and how long until there is.
func (l *limits) allow(src *klaxonv1.AlertSource, now time.Time) (bool, time.Duration) {
	rl := src.Spec.RateLimit
	key := types.NamespacedName{Namespace: src.Namespace, Name: src.Name}
	if rl == nil || rl.PerMinute <= 0 {
		l.mu.Lock()
		delete(l.buckets, key)
		l.mu.Unlock()
		return true, 0
	}
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil || b.generation != src.Generation {
		burst := int(rl.Burst)
		if burst <= 0 {
			burst = max(1, int(rl.PerMinute)/10)
		}
		b = &bucket{generation: src.Generation, limiter: rate.NewLimiter(rate.Limit(float64(rl.PerMinute)/60), burst)}
		l.buckets[key] = b
	}
	l.mu.Unlock()
	if b.limiter.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.limiter.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(b.limiter.Limit()) * float64(time.Second)))
	return false, max(wait, time.Second)
}

// forget drops the bucket of a deleted source.
func (l *limits) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}
