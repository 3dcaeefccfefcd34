package dispatch

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/oncall"
)

// directory implements escalation.Directory over the controller's cache.
type directory struct {
	r client.Reader
}

func (d directory) Responder(ctx context.Context, ns, name string) (*klaxonv1.Responder, error) {
	var o klaxonv1.Responder
	if err := d.r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &o); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &o, nil
}

func (d directory) StakeholderGroup(ctx context.Context, ns, name string) (*klaxonv1.StakeholderGroup, error) {
	var o klaxonv1.StakeholderGroup
	if err := d.r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &o); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &o, nil
}

func (d directory) OnCall(ctx context.Context, ns, name string, t time.Time) ([]klaxonv1.ObjectReference, error) {
	var s klaxonv1.OnCallSchedule
	if err := d.r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("not found")
		}
		return nil, err
	}
	compiled, err := oncall.Compile(s.Spec)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule: %w", err)
	}
	return compiled.At(t).Responders, nil
}

func metav1Time(t time.Time) metav1.Time { return metav1.NewTime(t) }
