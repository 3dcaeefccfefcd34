package respond

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/klaxon-ops/klaxon/internal/notify"
)

// Keys of the Secret that holds the link signing keys. To rotate: move current to
// previous and put a new random current (32 bytes or more), then restart; links
// signed with the previous key keep working until they expire.
const (
	SecretKeyCurrent  = "current"
	SecretKeyPrevious = "previous"
)

// LoadKeys returns the signing keys from the Secret namespace/name, current first,
// creating the Secret with a random key when it does not exist. Every replica reads
// the same Secret, so a link signed by one is accepted by all.
func LoadKeys(ctx context.Context, c client.Client, namespace, name string) ([][]byte, error) {
	var s corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generating a link signing key: %w", err)
		}
		s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{"app.kubernetes.io/name": "klaxon"}},
			Data: map[string][]byte{SecretKeyCurrent: key}}
		err = c.Create(ctx, &s)
		if apierrors.IsAlreadyExists(err) {
			// Another replica made it first: use theirs.
			err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the link signing keys %s/%s: %w", namespace, name, err)
	}
	var keys [][]byte
	for _, k := range []string{SecretKeyCurrent, SecretKeyPrevious} {
		if v := s.Data[k]; len(v) > 0 {
			if len(v) < notify.MinKeyLen {
				return nil, fmt.Errorf("link signing key %q in %s/%s is %d bytes; it needs %d or more", k, namespace, name, len(v), notify.MinKeyLen)
			}
			keys = append(keys, v)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("secret %s/%s has no %q key", namespace, name, SecretKeyCurrent)
	}
	return keys, nil
}
