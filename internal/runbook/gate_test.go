package runbook

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

// TestGate asks the real engine with the built-in library: kubernetes actions are
// denied unless a policy allows them, others and every dry run allowed, and the runbook's dryRun reaches the
// policy and the verdict.
func TestGate(t *testing.T) {
	engine, err := policy.NewEngine(policy.Options{SystemNamespace: "klaxon-system", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	scaleTo := func(n int32) *klaxonv1.RunbookAction {
		return &klaxonv1.RunbookAction{Type: klaxonv1.ActionKubernetes, Kubernetes: &klaxonv1.KubernetesAction{
			Operation: klaxonv1.OperationScale, APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Replicas: ptr.To(n)}}
	}
	tests := []struct {
		name       string
		action     *klaxonv1.RunbookAction
		rbDryRun   bool
		wantAllow  bool
		wantDryRun bool
		wantReason string
	}{
		{"scale to zero is denied", scaleTo(0), false, false, false, "not allowed by any policy"},
		{"scale to two is denied too", scaleTo(2), false, false, false, "not allowed by any policy"},
		{"a patch is denied", &klaxonv1.RunbookAction{Type: klaxonv1.ActionKubernetes, Kubernetes: &klaxonv1.KubernetesAction{
			Operation: klaxonv1.OperationPatch, APIVersion: "v1", Kind: "ConfigMap", Name: "c", Patch: `{"data":{"x":"y"}}`}}, false, false, false, "not allowed by any policy"},
		{"a step's dry run is allowed", func() *klaxonv1.RunbookAction { a := scaleTo(0); a.DryRun = true; return a }(), false, true, true, "dry run"},
		{"the runbook's dry run is allowed", scaleTo(0), true, true, true, "dry run"},
		{"a webhook is allowed", &klaxonv1.RunbookAction{Type: klaxonv1.ActionWebhook, Webhook: &klaxonv1.WebhookAction{URL: "https://a.example/x"}}, false, true, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rb := dbRunbook()
			rb.Spec.DryRun = tc.rbDryRun
			rb.Spec.Steps[2].Action = tc.action
			s := Step{Runbook: &rb, Step: &rb.Spec.Steps[2]}
			v, dec, err := Gate{Engine: engine}.Ask(context.Background(), openIncident(klaxonv1.StageContain), s, t0)
			if err != nil {
				t.Fatal(err)
			}
			if v.Allow != tc.wantAllow || v.DryRun != tc.wantDryRun {
				t.Fatalf("verdict = %+v, want allow %v dry run %v", v, tc.wantAllow, tc.wantDryRun)
			}
			if !strings.Contains(strings.Join(v.Reasons, ";"), tc.wantReason) {
				t.Errorf("reasons %v lack %q", v.Reasons, tc.wantReason)
			}
			if dec.Point != "actions" || dec.ID == "" || dec.ID != v.Decision || len(dec.Input) == 0 {
				t.Errorf("decision = %+v", dec)
			}
		})
	}
}
