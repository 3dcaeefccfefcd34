package runbook

import (
	"context"
	"fmt"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

// Gate asks the actions decision point (data.klaxon.actions.allow) whether a step's
// action may run. The built-in policy denies kubernetes actions unless a provider
// or tenant policy allows them, and allows every dry run.
type Gate struct {
	Engine *policy.Engine
}

// Ask returns the verdict on s's action for inc at now, and the decision to record:
// the caller stores its IncidentDecision before status refers to it. An error means
// there is no decision, and the action must not run.
func (g Gate) Ask(ctx context.Context, inc *klaxonv1.Incident, s Step, now time.Time) (Verdict, incident.Decision, error) {
	a := Describe(s)
	d, rec, err := g.Engine.ActionsAllow(ctx, policy.ActionInput{
		Input:  policy.Input{Incident: inc, Tenant: inc.Namespace, Now: now},
		Action: a,
	})
	if err != nil {
		return Verdict{}, incident.Decision{}, fmt.Errorf("actions decision for %s step %s: %w", s.Name(), s.Step.Name, err)
	}
	dec := incident.Decision{Point: string(rec.Point), ID: rec.ID, Time: rec.Time, Summary: rec.Summary,
		Input: rec.Input, Output: d, Fallback: rec.Fallback, Errors: rec.Errors}
	return Verdict{Allow: d.Allow, DryRun: a.DryRun, Decision: rec.ID, Reasons: d.Reasons}, dec, nil
}

// Describe is a step's action as the policy sees it. The runbook's dryRun makes
// every action a dry run, so the policy is asked about the dry run it will be.
func Describe(s Step) policy.Action {
	a := policy.ActionFor(s.Runbook, s.Step)
	a.DryRun = a.DryRun || s.Runbook.Spec.DryRun
	return a
}
