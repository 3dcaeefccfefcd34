package notify

import (
	"errors"
	"hash/fnv"
	"strconv"
	"time"
)

// RetryPolicy bounds the retries of one delivery. Temporary failures (5xx, timeouts,
// connection errors, 429) are retried with exponential backoff and jitter; permanent
// ones (a *SendError with Permanent set: most 4xx, a rejected address) are not. When
// a delivery gives up, the recipient's next contact method is tried.
//
// A zero field takes its value from DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts is how many attempts a delivery gets, the first included.
	MaxAttempts int
	// MaxElapsed bounds the time from the first attempt to the last. A page that
	// cannot get through in this time is better sent another way.
	MaxElapsed time.Duration
	// BaseDelay is the wait after the first failure; it doubles with each failure.
	BaseDelay time.Duration
	// MaxDelay caps one wait (a receiver's Retry-After may ask for longer).
	MaxDelay time.Duration
	// Jitter spreads each wait by up to this fraction either way, so deliveries that
	// failed together do not retry together.
	Jitter float64
}

// DefaultRetryPolicy: 8 attempts within 10 minutes, waiting 1s, 2s, 4s, ... up to 2
// minutes (about 2 minutes in all without Retry-After), each +/-20%.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts: 8,
	MaxElapsed:  10 * time.Minute,
	BaseDelay:   time.Second,
	MaxDelay:    2 * time.Minute,
	Jitter:      0.2,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.Jitter <= 0 || p.Jitter >= 1 {
		p.Jitter = d.Jitter
	}
	return p
}

// NextAttempt says how long after now (the time of the failed attempt) to try the
// delivery key again, after attempts attempts of which the last failed with lastErr,
// or that it should give up. lastErr nil means the outcome is unknown (the controller
// stopped mid-send) and counts as temporary. firstAttempt zero means unknown: only
// the attempt count and the length of the wait itself are bounded then.
//
// The wait is the backoff for the attempt, or the receiver's Retry-After when that is
// longer. The jitter is derived from key and attempts rather than drawn at random, so
// a restarted controller computes the same schedule, while different deliveries still
// spread out.
func (p RetryPolicy) NextAttempt(key string, attempts int, lastErr error, firstAttempt, now time.Time) (wait time.Duration, giveUp bool) {
	p = p.withDefaults()
	if IsPermanent(lastErr) || attempts >= p.MaxAttempts {
		return 0, true
	}
	wait = p.backoff(key, max(attempts, 1))
	var se *SendError
	if errors.As(lastErr, &se) && se.RetryAfter > wait {
		wait = se.RetryAfter
	}
	elapsed := time.Duration(0)
	if !firstAttempt.IsZero() {
		elapsed = max(now.Sub(firstAttempt), 0)
	}
	if elapsed+wait > p.MaxElapsed {
		return 0, true
	}
	return wait, false
}

// backoff is BaseDelay * 2^(attempts-1), capped at MaxDelay, spread by the jitter.
func (p RetryPolicy) backoff(key string, attempts int) time.Duration {
	d := p.MaxDelay
	if shift := attempts - 1; shift < 40 {
		if b := p.BaseDelay << shift; b > 0 && b < d {
			d = b
		}
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key + "#" + strconv.Itoa(attempts)))
	u := float64(h.Sum64()>>11) / float64(1<<53) // uniform in [0, 1)
	d = time.Duration(float64(d) * (1 - p.Jitter + 2*p.Jitter*u))
	return min(max(d, time.Millisecond), p.MaxDelay)
}
