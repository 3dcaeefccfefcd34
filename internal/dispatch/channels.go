package dispatch

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

// channels builds and caches one Notifier per NotificationChannel, rebuilt when the
// channel or its Secret changes. Secret data is read through an uncached reader, only
// when its resourceVersion changed, and never leaves the Notifier.
type channels struct {
	cache   client.Reader
	secrets client.Reader
	opts    notify.Options

	mu    sync.Mutex
	built map[string]builtNotifier
}

type builtNotifier struct {
	channelRV, secretRV string
	notifier            notify.Notifier
}

// spec returns a channel's spec from the cache.
func (c *channels) spec(ctx context.Context, ref klaxonv1.ObjectReference) (*klaxonv1.NotificationChannel, error) {
	var nc klaxonv1.NotificationChannel
	if err := c.cache.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &nc); err != nil {
		return nil, err
	}
	return &nc, nil
}

// notifier returns the Notifier of a channel, building it if the channel or its Secret
// changed since.
func (c *channels) notifier(ctx context.Context, ref klaxonv1.ObjectReference) (notify.Notifier, error) {
	nc, err := c.spec(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("channel %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	key := ref.Namespace + "/" + ref.Name
	var secretRV string
	if nc.Spec.SecretRef != nil {
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := c.cache.Get(ctx, client.ObjectKey{Namespace: nc.Namespace, Name: nc.Spec.SecretRef.Name}, meta); err != nil {
			return nil, fmt.Errorf("channel %s: secret %s: %w", key, nc.Spec.SecretRef.Name, err)
		}
		secretRV = meta.ResourceVersion
	}

	c.mu.Lock()
	b, ok := c.built[key]
	c.mu.Unlock()
	if ok && b.channelRV == nc.ResourceVersion && b.secretRV == secretRV {
		return b.notifier, nil
	}

	var data map[string][]byte
	if nc.Spec.SecretRef != nil {
		var s corev1.Secret
		if err := c.secrets.Get(ctx, client.ObjectKey{Namespace: nc.Namespace, Name: nc.Spec.SecretRef.Name}, &s); err != nil {
			return nil, fmt.Errorf("channel %s: secret %s: %w", key, nc.Spec.SecretRef.Name, err)
		}
		data, secretRV = s.Data, s.ResourceVersion
	}
	n, err := notify.New(nc.Spec, data, c.opts)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", key, err)
	}
	c.mu.Lock()
	if c.built == nil {
		c.built = map[string]builtNotifier{}
	}
	c.built[key] = builtNotifier{channelRV: nc.ResourceVersion, secretRV: secretRV, notifier: n}
	c.mu.Unlock()
	return n, nil
}
