// Package references knows which objects a Klaxon object points at, enforces the
// tenancy rule on those pointers, and checks that they exist. Reconcilers use it to
// report Ready, and the manager uses the same list to index objects by what they
// reference, so an object turns Ready by itself when what it waits for appears.
package references

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Kinds that can be referenced.
const (
	KindResponder           = "Responder"
	KindOnCallSchedule      = "OnCallSchedule"
	KindStakeholderGroup    = "StakeholderGroup"
	KindNotificationChannel = "NotificationChannel"
	KindSecret              = "Secret"
	KindServiceAccount      = "ServiceAccount"
)

// Ref is a reference with its namespace filled in.
type Ref struct {
	Kind      string
	Namespace string
	Name      string
	// Field is where the reference is written, for messages.
	Field string
}

// Key is the Ref's index key, "Kind/namespace/name".
func (r Ref) Key() string { return Key(r.Kind, r.Namespace, r.Name) }

// Key builds an index key for an object of a kind.
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// Problem is why an object is not Ready because of its references.
type Problem struct {
	// Reason is a condition reason: ReferenceNotFound, CrossTenantReference,
	// SecretNotFound or SecretKeyMissing.
	Reason string
	// Message names what is missing and where it is referenced.
	Message string
	// Terminal is true when only a change to the object can fix it (a cross-tenant
	// reference); the object is Stalled.
	Terminal bool
}

func (p *Problem) Error() string { return p.Message }

// Resolver applies the tenancy rule: an object may reference objects in its own
// namespace or in the provider's namespace, never in another tenant's.
type Resolver struct {
	// SystemNamespace is the provider's namespace (klaxon-system by default).
	SystemNamespace string
}

// Of returns the references an object makes, resolved against its namespace. A
// reference into another tenant's namespace is returned too (Check refuses it);
// indexing it is harmless because nothing there can satisfy it.
func (rs Resolver) Of(obj client.Object) []Ref {
	ns := obj.GetNamespace()
	ref := func(kind, field string, r klaxonv1.ObjectReference) Ref {
		n := r.Namespace
		if n == "" {
			n = ns
		}
		return Ref{Kind: kind, Namespace: n, Name: r.Name, Field: field}
	}
	var out []Ref
	switch o := obj.(type) {
	case *klaxonv1.Responder:
		for i, m := range o.Spec.ContactMethods {
			out = append(out, ref(KindNotificationChannel, fmt.Sprintf("spec.contactMethods[%d].channelRef", i), m.ChannelRef))
		}
	case *klaxonv1.OnCallSchedule:
		for i, l := range o.Spec.Layers {
			for j, r := range l.Responders {
				out = append(out, ref(KindResponder, fmt.Sprintf("spec.layers[%d].responders[%d]", i, j), r))
			}
		}
		for i, ov := range o.Spec.Overrides {
			out = append(out, ref(KindResponder, fmt.Sprintf("spec.overrides[%d].responder", i), ov.Responder))
		}
	case *klaxonv1.EscalationPolicy:
		for i, l := range o.Spec.Levels {
			for j, t := range l.Targets {
				out = append(out, ref(string(t.Kind), fmt.Sprintf("spec.levels[%d].targets[%d]", i, j),
					klaxonv1.ObjectReference{Name: t.Name, Namespace: t.Namespace}))
			}
		}
	case *klaxonv1.StakeholderGroup:
		for i, m := range o.Spec.Members {
			out = append(out, ref(KindResponder, fmt.Sprintf("spec.members[%d]", i), m))
		}
		for i, c := range o.Spec.Channels {
			out = append(out, ref(KindNotificationChannel, fmt.Sprintf("spec.channels[%d].channelRef", i), c.ChannelRef))
		}
	case *klaxonv1.NotificationChannel:
		if s := o.Spec.SecretRef; s != nil {
			// Secrets are only ever read from the referencing object's namespace.
			out = append(out, Ref{Kind: KindSecret, Namespace: ns, Name: s.Name, Field: "spec.secretRef"})
		}
	case *klaxonv1.AlertSource:
		out = append(out, Ref{Kind: KindSecret, Namespace: ns, Name: o.Spec.Auth.SecretRef.Name, Field: "spec.auth.secretRef"})
	case *klaxonv1.Runbook:
		out = append(out, rs.runbookRefs(o, ref)...)
	case *klaxonv1.Heartbeat:
		out = append(out, Ref{Kind: KindSecret, Namespace: ns, Name: o.Spec.Auth.SecretRef.Name, Field: "spec.auth.secretRef"})
	}
	return dedup(out)
}

// IndexKeys returns the index keys of an object's references, for a field indexer.
func (rs Resolver) IndexKeys(obj client.Object) []string {
	refs := rs.Of(obj)
	keys := make([]string, 0, len(refs))
	for _, r := range refs {
		keys = append(keys, r.Key())
	}
	return keys
}

// Check verifies every reference of obj: the tenancy rule, then existence. It reads
// Klaxon objects and Secret metadata through r. It returns nil when all are there, a
// *Problem when one is not, and other errors for API failures.
func (rs Resolver) Check(ctx context.Context, r client.Reader, obj client.Object) error {
	for _, ref := range rs.Of(obj) {
		if ref.Namespace != obj.GetNamespace() && ref.Namespace != rs.SystemNamespace {
			return &Problem{Reason: klaxonv1.ReasonCrossTenantReference, Terminal: true,
				Message: fmt.Sprintf("%s: %s %s/%s is in another tenant's namespace; reference objects in %q or %q only",
					ref.Field, ref.Kind, ref.Namespace, ref.Name, obj.GetNamespace(), rs.SystemNamespace)}
		}
		target, err := NewObject(ref.Kind)
		if err != nil {
			return err
		}
		if err := r.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, target); err != nil {
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("looking up %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
			}
			reason := klaxonv1.ReasonReferenceNotFound
			if ref.Kind == KindSecret {
				reason = klaxonv1.ReasonSecretNotFound
			}
			return &Problem{Reason: reason,
				Message: fmt.Sprintf("%s %s/%s not found (%s)", ref.Kind, ref.Namespace, ref.Name, ref.Field)}
		}
	}
	return nil
}

// NewObject returns an empty object of a referenced kind. Secrets and
// ServiceAccounts are looked up as metadata only, so their contents are never cached.
func NewObject(kind string) (client.Object, error) {
	switch kind {
	case KindResponder:
		return &klaxonv1.Responder{}, nil
	case KindOnCallSchedule:
		return &klaxonv1.OnCallSchedule{}, nil
	case KindStakeholderGroup:
		return &klaxonv1.StakeholderGroup{}, nil
	case KindNotificationChannel:
		return &klaxonv1.NotificationChannel{}, nil
	case KindSecret, KindServiceAccount:
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
		return m, nil
	}
	return nil, fmt.Errorf("unknown reference kind %q", kind)
}

func dedup(refs []Ref) []Ref {
	seen := make(map[string]bool, len(refs))
	out := refs[:0]
	for _, r := range refs {
		if k := r.Key(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}
