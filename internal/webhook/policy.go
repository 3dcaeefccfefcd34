package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

// EnginePolicy is admission's view of the policy engine.
type EnginePolicy struct {
	Engine *policy.Engine
}

// Check compiles an IncidentPolicy in the sandbox and runs its tests.
func (p EnginePolicy) Check(ctx context.Context, obj client.Object) []string {
	ip, ok := obj.(*klaxonv1.IncidentPolicy)
	if !ok {
		return nil
	}
	var out []string
	for _, pr := range policy.Check(ctx, policy.SourceOf(ip)) {
		out = append(out, pr.String())
	}
	return out
}

// Deny evaluates data.klaxon.admission.deny in every layer of the tenant.
func (p EnginePolicy) Deny(ctx context.Context, req DenyRequest) ([]string, error) {
	d, _, err := p.Engine.AdmissionDeny(ctx, policy.AdmissionInput{
		Input:     policy.Input{Tenant: req.Tenant, Now: req.Now},
		Operation: req.Operation, Kind: req.Kind, Object: req.Object, OldObject: req.OldObject,
		User: policy.UserInfo{Username: req.User, Groups: req.Groups},
	})
	return d.Deny, err
}
