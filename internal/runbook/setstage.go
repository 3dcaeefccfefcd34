package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// StageExecutor moves the incident to another stage by writing spec.stage, as a
// person would, so the incident controller records the change like any other. The
// stage-changed annotations name the runbook, so the timeline says who moved it.
type StageExecutor struct {
	// Client writes the incident with the controller's rights: the incident is
	// Klaxon's own object, not the tenant's workload.
	Client client.Client
}

// Execute implements Executor.
func (x StageExecutor) Execute(ctx context.Context, a Action) Outcome {
	want := a.Spec().SetStage
	if want == "" {
		return failed(Actor, "setStage names no stage")
	}
	if a.Incident.Spec.Stage == want {
		return succeeded(Actor, fmt.Sprintf("already in stage %s", want), a.DryRun)
	}
	if a.DryRun {
		return succeeded(Actor, fmt.Sprintf("would move the incident to stage %s", want), true)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{
			klaxonv1.AnnotationStageChangedBy: "runbook " + a.Name() + " step " + a.Step.Step.Name,
			klaxonv1.AnnotationStageChangedAt: a.Now.UTC().Format(time.RFC3339Nano),
		}},
		"spec": map[string]any{"stage": want},
	})
	if err != nil {
		return failed(Actor, "encoding the patch: "+err.Error())
	}
	if err := x.Client.Patch(ctx, a.Incident, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return failed(Actor, fmt.Sprintf("moving the incident to stage %s: %v", want, err))
	}
	return succeeded(Actor, fmt.Sprintf("moved the incident to stage %s", want), false)
}
