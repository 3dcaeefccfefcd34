package runbook

import (
	"context"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Action is one claimed action to run.
type Action struct {
	// Incident the runbook runs for.
	Incident *klaxonv1.Incident
	Step
	// DryRun runs the action without effect.
	DryRun bool
	// Key identifies the run across incidents: the incident's UID and the claim's
	// Key (notify.DeliveryKey). Receivers drop keys they have seen, so it must
	// differ between two incidents running the same step.
	Key string
	// Now is the time of the run.
	Now time.Time
}

// Spec is the step's action.
func (a Action) Spec() *klaxonv1.RunbookAction { return a.Step.Step.Action }

// Executor runs one type of action. How it went, failures included, is the Outcome:
// the caller records it, and never runs the action again.
type Executor interface {
	Execute(ctx context.Context, a Action) Outcome
}

// Executors runs each action with the executor of its type.
type Executors map[klaxonv1.ActionType]Executor

// Execute runs a, bounded by ActionTimeout.
func (e Executors) Execute(ctx context.Context, a Action) Outcome {
	spec := a.Spec()
	if spec == nil {
		return failed("klaxon", "the step has no action")
	}
	x, ok := e[spec.Type]
	if !ok {
		return failed("klaxon", "no executor for action type "+string(spec.Type))
	}
	ctx, cancel := context.WithTimeout(ctx, ActionTimeout)
	defer cancel()
	return x.Execute(ctx, a)
}

// Actor is who acts for actions other than kubernetes ones.
const Actor = "klaxon"

func failed(by, msg string) Outcome {
	return Outcome{State: klaxonv1.StepFailed, By: by, Message: msg}
}

func succeeded(by, msg string, dryRun bool) Outcome {
	if dryRun {
		return Outcome{State: klaxonv1.StepDryRun, By: by, Message: "dry run: " + msg}
	}
	return Outcome{State: klaxonv1.StepSucceeded, By: by, Message: msg}
}
