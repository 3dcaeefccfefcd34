package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/escalation"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

// Message is what a runbook's notify step tells one stakeholder group.
//
// It goes through the group's channels and members' contact methods, the message
// renderer (Body is a template over the same data as a group's own templates), the
// channels' rate limits and the retry policy, but not through the notification log:
// the step's own entry in status.runbookSteps, claimed before Tell is called, is
// its record, so a runbook message is sent at most once, like every runbook action.
type Message struct {
	// Group is the StakeholderGroup, its namespace filled in.
	Group klaxonv1.ObjectReference
	// Body is the message, a Go text/template (see notify.TemplateData).
	Body string
	// Key identifies the message; each recipient's delivery carries Key and the
	// recipient as its idempotency key.
	Key string
	// DryRun resolves and renders the message without sending it.
	DryRun bool
}

// Told is how a Message went.
type Told struct {
	// Delivered names the recipients reached (for a dry run: who would be).
	Delivered []string
	// Failures, one per recipient not reached, say why.
	Failures []string
	// Warnings: the body failed to render and the built-in message went instead.
	Warnings []string
}

// tellRetries bounds the attempts per contact method: the step waits for them.
const tellRetries = 3

// Tell sends m to every member and channel of its group. The group must be in the
// incident's namespace or the provider's. Each recipient gets the message through its
// first contact method that works; a temporary failure is retried a few times within
// ctx's deadline.
func (d *Dispatcher) Tell(ctx context.Context, inc *klaxonv1.Incident, m Message, now time.Time) (Told, error) {
	var told Told
	if ns := m.Group.Namespace; ns != inc.Namespace && ns != d.opts.SystemNamespace {
		return told, fmt.Errorf("stakeholder group %s/%s is in another tenant's namespace", ns, m.Group.Name)
	}
	group := m.Group.Namespace + "/" + m.Group.Name
	res := escalation.Resolve(ctx, directory{r: d.cache}, escalation.Scope{Namespace: m.Group.Namespace, SystemNamespace: d.opts.SystemNamespace},
		[]klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetStakeholderGroup, Name: m.Group.Name, Namespace: m.Group.Namespace}}, now)
	if len(res.Recipients) == 0 {
		if len(res.Problems) > 0 {
			return told, fmt.Errorf("stakeholder group %s: %w", group, errors.Join(res.Problems...))
		}
		return told, fmt.Errorf("stakeholder group %s has nobody to tell", group)
	}
	for _, p := range res.Problems {
		told.Failures = append(told.Failures, p.Error())
	}
	// The step's body replaces the group's templates: it applies to every event and
	// channel type, so Render always selects it.
	overrides := []klaxonv1.MessageTemplate{{Body: m.Body}}
	for _, rc := range res.Recipients {
		a := addressee{name: rc.DisplayName, timeZone: rc.TimeZone, audience: rc.Audience}
		routes, refs := d.routes(ctx, rc.Methods)
		if len(routes) == 0 {
			told.Failures = append(told.Failures, rc.DisplayName+": no usable channel")
			continue
		}
		id := recipientID(group, rc)
		var errs []string
		sent := false
		for i, route := range routes {
			data := d.tellData(inc, a, route, now)
			msg, warn := d.renderer.Render(overrides, data)
			if warn != nil {
				told.Warnings = append(told.Warnings, warn.Error())
			}
			if m.DryRun {
				sent = true
				break
			}
			del := notify.Delivery{Message: msg, Address: route.Address, Key: m.Key + "/" + id,
				DedupKey: notify.DedupKey(inc.Namespace, inc.Name, inc.Status.ReopenCount)}
			if err := d.tellOne(ctx, refs[i], route, del); err != nil {
				errs = append(errs, fmt.Sprintf("%s via %s: %v", rc.DisplayName, route.Channel, err))
				continue
			}
			sent = true
			break
		}
		if sent {
			told.Delivered = append(told.Delivered, rc.DisplayName)
		} else {
			told.Failures = append(told.Failures, strings.Join(errs, "; "))
		}
	}
	return told, nil
}

// tellOne delivers through one route: it waits for the channel's rate limit and
// retries temporary failures with the pipeline's backoff, within ctx.
func (d *Dispatcher) tellOne(ctx context.Context, ch klaxonv1.ObjectReference, route notify.Route, del notify.Delivery) error {
	n, err := d.channels.notifier(ctx, ch)
	if err != nil {
		return err
	}
	first := time.Now()
	for attempt := 1; ; attempt++ {
		if d.pipeline.Limiter != nil {
			if wait := d.pipeline.Limiter.Reserve(route.Bucket, route.Limit, time.Now()); wait > 0 {
				if err := sleep(ctx, wait); err != nil {
					return fmt.Errorf("rate limited: %w", err)
				}
			}
		}
		err := n.Send(ctx, del)
		if err == nil {
			return nil
		}
		wait, giveUp := d.pipeline.Retry.NextAttempt(del.Key, attempt, err, first, time.Now())
		if giveUp || attempt >= tellRetries {
			return err
		}
		if serr := sleep(ctx, wait); serr != nil {
			return err
		}
	}
}

// tellData is what the step's template sees: the same data as a group's templates
// for a StageChanged message, without respond links (groups are told, not paged).
func (d *Dispatcher) tellData(inc *klaxonv1.Incident, a addressee, route notify.Route, now time.Time) notify.TemplateData {
	data := notify.TemplateData{
		Audience: a.audience, Event: klaxonv1.EventStageChanged, ChannelType: route.Type,
		Incident:    summary(inc, 0, 0),
		Description: inc.Spec.Description, Resolution: inc.Spec.Resolution,
		Reason: "runbook", Recipient: a.name, Links: d.links(inc, a, now),
		Timeline: notify.TimelineExcerpt(inc.Status.Timeline, 5), TimeZone: a.timeZone, Now: now,
	}
	if inc.Spec.Affected != nil {
		data.Affected = *inc.Spec.Affected
	}
	if src := inc.Spec.Source; src != nil {
		data.Labels = src.Labels
	}
	return data
}

// recipientID names a group's recipient as the notification log would.
func recipientID(group string, rc escalation.Recipient) string {
	if rc.Kind == escalation.RecipientPerson {
		return notify.MemberTarget(group, strings.TrimPrefix(rc.ID, string(escalation.RecipientPerson)+"/"))
	}
	m := rc.Methods[0]
	return notify.ChannelTarget(group, m.Channel.Namespace+"/"+m.Channel.Name, m.Address)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
