package receiver

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Secret caching. Reading the Secret on every request would cost the API server a
// read per alert batch; keeping it forever would miss a rotation. So a Secret is kept
// briefly, and re-read at once when a request fails to authenticate against it: a
// sender that switched to a rotated credential is accepted on its first request. The
// re-reads a stream of bad requests can cause are limited to one per Secret per
// minRefresh.
const (
	secretTTL  = 10 * time.Second
	minRefresh = 100 * time.Millisecond
)

// secrets reads the Secrets endpoints authenticate against, through an uncached
// reader: Secret contents never enter the manager's cache. It never logs a value.
type secrets struct {
	reader client.Reader
	now    func() time.Time

	mu      sync.Mutex
	entries map[types.NamespacedName]*secretEntry
}

type secretEntry struct {
	data            map[string][]byte
	resourceVersion string
	readAt          time.Time
}

func newSecrets(reader client.Reader, now func() time.Time) *secrets {
	return &secrets{reader: reader, now: now, entries: map[types.NamespacedName]*secretEntry{}}
}

// get returns a Secret's data, read within secretTTL; fresh is true when it was read
// for this call (so a re-read cannot tell anything new).
func (s *secrets) get(ctx context.Context, key types.NamespacedName) (data map[string][]byte, fresh bool, err error) {
	s.mu.Lock()
	e := s.entries[key]
	s.mu.Unlock()
	if e != nil && s.now().Sub(e.readAt) < secretTTL {
		return e.data, false, nil
	}
	e, err = s.read(ctx, key)
	if err != nil {
		return nil, false, err
	}
	return e.data, true, nil
}

// refresh re-reads a Secret after a failed authentication, unless it was read within
// minRefresh; changed says whether it holds anything new.
func (s *secrets) refresh(ctx context.Context, key types.NamespacedName) (data map[string][]byte, changed bool, err error) {
	s.mu.Lock()
	old := s.entries[key]
	s.mu.Unlock()
	if old != nil && s.now().Sub(old.readAt) < minRefresh {
		return old.data, false, nil
	}
	e, err := s.read(ctx, key)
	if err != nil {
		return nil, false, err
	}
	return e.data, old == nil || old.resourceVersion != e.resourceVersion, nil
}

func (s *secrets) read(ctx context.Context, key types.NamespacedName) (*secretEntry, error) {
	var sec corev1.Secret
	if err := s.reader.Get(ctx, key, &sec); err != nil {
		s.mu.Lock()
		delete(s.entries, key)
		s.mu.Unlock()
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	e := &secretEntry{data: maps.Clone(sec.Data), resourceVersion: sec.ResourceVersion, readAt: s.now()}
	s.mu.Lock()
	s.entries[key] = e
	s.mu.Unlock()
	return e, nil
}
