package runbook

import (
	"context"
	"fmt"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
)

// Teller tells a stakeholder group a message; *dispatch.Dispatcher is one.
type Teller interface {
	Tell(ctx context.Context, inc *klaxonv1.Incident, m dispatch.Message, now time.Time) (dispatch.Told, error)
}

// NotifyExecutor messages a stakeholder group through the notification channels of
// its members and its own channels.
type NotifyExecutor struct {
	Teller Teller
}

// Execute implements Executor. The step succeeds when every recipient got the
// message; the outcome names who did not and why.
func (x NotifyExecutor) Execute(ctx context.Context, a Action) Outcome {
	spec := a.Spec().Notify
	if spec == nil {
		return failed(Actor, "notify action without notify settings")
	}
	group := spec.GroupRef
	if group.Namespace == "" {
		group.Namespace = a.Runbook.Namespace
	}
	name := group.Namespace + "/" + group.Name
	told, err := x.Teller.Tell(ctx, a.Incident, dispatch.Message{Group: group, Body: spec.Message, Key: a.Key, DryRun: a.DryRun}, a.Now)
	if err != nil {
		return failed(Actor, fmt.Sprintf("telling %s: %v", name, err))
	}
	verb := "told"
	if a.DryRun {
		verb = "would tell"
	}
	msg := fmt.Sprintf("%s %s: %s", verb, name, strings.Join(told.Delivered, ", "))
	if len(told.Delivered) == 0 {
		msg = fmt.Sprintf("told nobody in %s", name)
	}
	if len(told.Warnings) > 0 {
		msg += "; the message did not render, the built-in one went instead: " + told.Warnings[0]
	}
	if len(told.Failures) > 0 {
		return failed(Actor, msg+"; not reached: "+strings.Join(told.Failures, "; "))
	}
	return succeeded(Actor, msg, a.DryRun)
}
