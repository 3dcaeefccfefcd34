package measure

import (
	"context"
	"net"
	"time"
)

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WaitIdle waits until the incident controller whose metrics scrape returns has had
// nothing queued and nothing in progress for quiet, or ctx ends.
func WaitIdle(ctx context.Context, scrape func() Metrics, quiet time.Duration) error {
	var idleSince time.Time
	for {
		m := scrape()
		busy := m.Sum("workqueue_depth", `name="incident"`) + m.Sum("controller_runtime_active_workers", `controller="incident"`)
		switch {
		case busy > 0 || len(m) == 0:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) >= quiet:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
