package policy

import (
	"context"
	"encoding/json"
	"fmt"
)

// Triage decides an incident's severity, category, service, escalation
// policy, stakeholder groups and extra runbooks. The error is non-nil only
// when no decision could be taken (bad input, the context ended, the
// built-in library failed): requeue and try again.
func (e *Engine) Triage(ctx context.Context, in TriageInput) (TriageDecision, Record, error) {
	m, rec, err := e.decide(ctx, PointTriage, &in.Input, &in)
	if err != nil {
		return TriageDecision{}, rec, err
	}
	d := triageFrom(m)
	m.release()
	rec.setSummary(d.summary())
	return d, rec, nil
}

// Escalation decides changes to an incident's escalation plan: where it
// starts and which deadlines apply. Errors as for Triage.
func (e *Engine) Escalation(ctx context.Context, in EscalationInput) (EscalationDecision, Record, error) {
	m, rec, err := e.decide(ctx, PointEscalation, &in.Input, &in)
	if err != nil {
		return EscalationDecision{}, rec, err
	}
	d := escalationFrom(m)
	m.release()
	rec.setSummary(d.summary())
	return d, rec, nil
}

// Notify decides which candidate groups hear an event. Errors as for Triage.
func (e *Engine) Notify(ctx context.Context, in NotifyInput) (NotifyDecision, Record, error) {
	for i := range in.Groups {
		if in.Groups[i].Key == "" {
			in.Groups[i].Key = in.Groups[i].Namespace + "/" + in.Groups[i].Name
		}
	}
	if in.Groups == nil {
		in.Groups = []NotifyGroup{}
	}
	m, rec, err := e.decide(ctx, PointNotify, &in.Input, &in)
	if err != nil {
		return NotifyDecision{}, rec, err
	}
	d := notifyFrom(m, in.Groups)
	m.release()
	rec.setSummary(d.summary(in.Event))
	return d, rec, nil
}

// ActionsAllow decides whether an automated runbook action may run. On an
// error the action must not run.
func (e *Engine) ActionsAllow(ctx context.Context, in ActionInput) (ActionsDecision, Record, error) {
	m, rec, err := e.decide(ctx, PointActions, &in.Input, &in)
	if err != nil {
		return ActionsDecision{}, rec, err
	}
	d := actionsFrom(m)
	m.release()
	rec.setSummary(d.summary(in.Action))
	return d, rec, nil
}

// AdmissionDeny collects the deny and warn messages of every layer for a
// manifest. On an error the webhook should fail closed.
func (e *Engine) AdmissionDeny(ctx context.Context, in AdmissionInput) (AdmissionDecision, Record, error) {
	m, rec, err := e.decide(ctx, PointAdmission, &in.Input, &in)
	if err != nil {
		return AdmissionDecision{}, rec, err
	}
	d := admissionFrom(m)
	m.release()
	rec.setSummary(d.summary(in))
	return d, rec, nil
}

// Redact collects what a post-mortem record must mask.
func (e *Engine) Redact(ctx context.Context, in RedactInput) (RedactDecision, Record, error) {
	m, rec, err := e.decide(ctx, PointRedact, &in.Input, &in)
	if err != nil {
		return RedactDecision{}, rec, err
	}
	d := redactFrom(m)
	m.release()
	rec.setSummary(d.summary())
	return d, rec, nil
}

// Replay evaluates a recorded input (Record.Input) again with the policies
// in force now, for `kubectl incident replay` and for testing a changed
// policy against past incidents. The decision is the point's decision type
// (TriageDecision, ...).
func (e *Engine) Replay(ctx context.Context, point Point, input json.RawMessage) (any, Record, error) {
	if !json.Valid(input) {
		return nil, Record{Point: point}, fmt.Errorf("replay %s: the recorded input is not valid JSON", point)
	}
	decode := func(v any) error {
		if err := json.Unmarshal(input, v); err != nil {
			return fmt.Errorf("replay %s: decode the recorded input: %w", point, err)
		}
		return nil
	}
	switch point {
	case PointTriage:
		var in TriageInput
		if err := decode(&in); err != nil {
			return nil, Record{Point: point}, err
		}
		return unpack(e.Triage(ctx, in))
	case PointEscalation:
		var in EscalationInput
		if err := decode(&in); err != nil {
			return nil, Record{Point: point}, err
		}
		return unpack(e.Escalation(ctx, in))
	case PointNotify:
		var in NotifyInput
		if err := decode(&in); err != nil {
			return nil, Record{Point: point}, err
		}
		return unpack(e.Notify(ctx, in))
	case PointActions:
		var in ActionInput
		if err := decode(&in); err != nil {
			return nil, Record{Point: point}, err
		}
		return unpack(e.ActionsAllow(ctx, in))
	case PointAdmission:
		var in AdmissionInput
		if err := decode(&in); err != nil {
			return nil, Record{Point: point}, err
		}
		return unpack(e.AdmissionDeny(ctx, in))
	case PointRedact:
		var in RedactInput
		if err := decode(&in); err != nil {
			return nil, Record{Point: point}, err
		}
		return unpack(e.Redact(ctx, in))
	}
	return nil, Record{Point: point}, fmt.Errorf("replay: unknown decision point %q", point)
}

func unpack[D any](d D, rec Record, err error) (any, Record, error) {
	if err != nil {
		return nil, rec, err
	}
	return d, rec, nil
}
