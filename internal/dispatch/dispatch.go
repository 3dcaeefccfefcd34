package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/escalation"
	"github.com/klaxon-ops/klaxon/internal/incident"
	"github.com/klaxon-ops/klaxon/internal/notify"
	"github.com/klaxon-ops/klaxon/internal/policy"
)

// MaxLog is the bound on the notification log (the CRD's maxItems).
const MaxLog = 128

// Options configure a Dispatcher.
type Options struct {
	// SystemNamespace is the provider's namespace.
	SystemNamespace string
	// BaseURL is where Klaxon's HTTP server is reachable by the people paged: respond
	// links and incident links start with it.
	BaseURL string
	// LinkKeys sign respond links, the current key first; none disables the links.
	LinkKeys [][]byte
	// LinkTTL is how long a respond link works; 24h when zero.
	LinkTTL time.Duration
	// Muters are extra mute stages (maintenance windows).
	Muters []notify.Muter
	// HTTPClient for HTTP channels; nil for each channel's own.
	HTTPClient *http.Client
	// Concurrency bounds the deliveries one incident makes at once; 8 when zero.
	Concurrency int
}

// Dispatcher plans, sends and records an incident's notifications.
type Dispatcher struct {
	cache    client.Reader
	engine   *policy.Engine
	renderer *notify.Renderer
	pipeline *notify.Pipeline
	channels *channels
	opts     Options
}

// New returns a Dispatcher reading Klaxon objects from cache and Secrets (only those
// channels reference) from secrets, an uncached reader.
func New(cache, secrets client.Reader, engine *policy.Engine, opts Options) (*Dispatcher, error) {
	r, err := notify.NewRenderer()
	if err != nil {
		return nil, fmt.Errorf("loading the built-in message templates: %w", err)
	}
	if opts.LinkTTL == 0 {
		opts.LinkTTL = 24 * time.Hour
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
	return &Dispatcher{
		cache: cache, engine: engine, renderer: r, opts: opts,
		pipeline: &notify.Pipeline{Muters: opts.Muters, Limiter: notify.NewRateLimiter(), Retry: notify.DefaultRetryPolicy},
		channels: &channels{cache: cache, secrets: secrets, opts: notify.Options{HTTPClient: opts.HTTPClient}},
	}, nil
}

// Notice is a transition stakeholders may hear of; Acknowledged and Resolved also
// reach those who were paged.
type Notice struct {
	Event klaxonv1.IncidentEvent
	// Variant tells apart notices of one event that must each go out, e.g. the stage
	// of a StageChanged.
	Variant string
	// Actor who caused it, when known.
	Actor string
}

// Work is what Plan decided for one reconcile.
type Work struct {
	// Sends are the deliveries claimed in status; make them after status is written.
	Sends []Send
	// Decisions taken; the controller stores them before status refers to them.
	Decisions []incident.Decision
	// Warnings to raise as Warning events once status is written: a tenant's
	// template that failed, an incident that pages nobody.
	Warnings []Warning
	// Next is when to reconcile again; zero for never.
	Next time.Time
}

// Warning is one Warning event: its reason and note.
type Warning struct{ Reason, Note string }

// Send is one claimed delivery.
type Send struct {
	Channel  klaxonv1.ObjectReference
	Route    notify.Route
	Claimed  klaxonv1.NotificationRecord
	Delivery notify.Delivery
	// Recipient names the target for the timeline.
	Recipient string
}

// Result is the outcome of a Send.
type Result struct {
	Send
	Err error
}

// addressee is what rendering needs to know about a candidate's recipient.
type addressee struct {
	name      string
	timeZone  string
	audience  klaxonv1.Audience
	templates []klaxonv1.MessageTemplate
	// responder is "namespace/name" for a person, whose respond links name them.
	responder string
	channels  []klaxonv1.ObjectReference // parallel to the candidate's routes
}

// plan collects candidates with what is needed to render them.
type plan struct {
	candidates []notify.Candidate
	addressees []addressee
}

func (p *plan) add(c notify.Candidate, a addressee) {
	p.candidates = append(p.candidates, c)
	p.addressees = append(p.addressees, a)
}

// Plan advances the escalation, decides who hears which notice, and claims the
// deliveries due now in inc's status (log, escalation, deadlines, timeline). Write
// status with a conditional update before making the Work's sends.
func (d *Dispatcher) Plan(ctx context.Context, inc *klaxonv1.Incident, notices []Notice, now time.Time) (Work, error) {
	var w Work
	st := &inc.Status
	if st.TriggeredAt == nil {
		return w, nil
	}
	var p plan
	pages, err := d.escalate(ctx, inc, &w, &p, now)
	if err != nil {
		return w, err
	}
	for _, pg := range pages {
		if pg.Event == klaxonv1.EventEscalated {
			notices = append(notices, Notice{Event: klaxonv1.EventEscalated, Variant: fmt.Sprintf("l%d.c%d", pg.Level, pg.Cycle)})
		}
	}
	for _, n := range notices {
		if err := d.announce(ctx, inc, n, &w, &p, now); err != nil {
			return w, err
		}
	}
	// Deliveries claimed before (a restart, a failed write, a retry) come back from
	// the log; the pipeline plans a candidate listed twice only once.
	for _, c := range notify.Outstanding(st.Notifications, st.ReopenCount) {
		a, routes := d.routesFor(ctx, inc, c.Target)
		c.Routes = routes
		p.add(c, a)
	}

	d.run(ctx, inc, &p, &w, now)
	return w, nil
}

// escalate advances the escalation policy and adds the pages due now to p.
func (d *Dispatcher) escalate(ctx context.Context, inc *klaxonv1.Incident, w *Work, p *plan, now time.Time) ([]escalation.Page, error) {
	st := &inc.Status
	ref := st.EscalationPolicy
	if ref == "" {
		// Said once per episode (reopening resets status.escalation): an incident
		// that pages nobody must not look like one whose page is on its way.
		if st.Escalation == nil && st.State == klaxonv1.StateTriggered {
			st.Escalation = &klaxonv1.EscalationStatus{}
			w.problem(st, now, klaxonv1.ReasonNoEscalationPolicy, "no escalation policy: nobody is paged; set spec.escalationPolicyRef, "+
				"the AlertSource's or Heartbeat's escalationPolicyRef, or a triage rule that picks one")
		}
		return nil, nil
	}
	ns, name, _ := strings.Cut(ref, "/")
	var ep klaxonv1.EscalationPolicy
	if err := d.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ep); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading escalation policy %s: %w", ref, err)
		}
		if st.Escalation == nil || st.Escalation.Policy != ref {
			st.Escalation = &klaxonv1.EscalationStatus{Policy: ref}
			w.problem(st, now, klaxonv1.ReasonEscalationProblem, fmt.Sprintf("escalation policy %s not found; nobody is paged until it exists", ref))
		}
		return nil, nil
	}
	if ns != inc.Namespace && ns != d.opts.SystemNamespace {
		if st.Escalation == nil || st.Escalation.Policy != ref {
			st.Escalation = &klaxonv1.EscalationStatus{Policy: ref}
			w.problem(st, now, klaxonv1.ReasonEscalationProblem, fmt.Sprintf("escalation policy %s is in another tenant's namespace; nobody is paged", ref))
		}
		return nil, nil
	}

	if st.Escalation == nil || st.Escalation.Policy != ref || st.Escalation.PolicyDecision == "" {
		if err := d.decideEscalation(ctx, inc, &ep, w, now); err != nil {
			return nil, err
		}
	}
	adj := escalation.Adjustments{StartLevel: st.Escalation.StartLevel}
	for _, dl := range st.Deadlines {
		adj.Deadlines = append(adj.Deadlines, escalation.Deadline{Name: dl.Name, At: dl.At.Time, Description: dl.Description})
	}
	wasExhausted := st.Escalation.Exhausted
	step := escalation.Advance(escalation.NewPlan(ep.Spec, adj), *st.Escalation, escalation.Start(*st, now), st.State, now)
	st.Escalation = &step.Status
	w.Next = step.Next
	if step.Status.Exhausted && !wasExhausted {
		// Written with the last level's page, before anyone could answer it: it says
		// what Klaxon will do next (nothing), not that nobody answered.
		timeline(st, now, "EscalationExhausted", fmt.Sprintf("the last level of %s is paged: no further escalation or repeat", ref))
	}

	scope := escalation.Scope{Namespace: ep.Namespace, SystemNamespace: d.opts.SystemNamespace}
	for _, pg := range step.Pages {
		res := escalation.Resolve(ctx, directory{r: d.cache}, scope, pg.Targets, now)
		var names []string
		for _, rc := range res.Recipients {
			a, c := d.pageCandidate(ctx, rc, pg)
			if len(c.Routes) == 0 {
				continue
			}
			p.add(c, a)
			names = append(names, rc.DisplayName)
		}
		what := "paging"
		if pg.Event == klaxonv1.EventEscalated {
			what = "escalated to"
		}
		msg := fmt.Sprintf("level %d (cycle %d, %s): %s %s", pg.Level, pg.Cycle+1, pg.Reason, what, orNobody(names))
		timeline(st, pg.DueAt, reasonFor(pg.Event), msg)
		for _, prob := range res.Problems {
			w.problem(st, pg.DueAt, klaxonv1.ReasonEscalationProblem, prob.Error())
		}
	}
	return step.Pages, nil
}

// decideEscalation asks the escalation decision point how this episode escalates:
// where it starts and which deadlines apply.
func (d *Dispatcher) decideEscalation(ctx context.Context, inc *klaxonv1.Incident, ep *klaxonv1.EscalationPolicy, w *Work, now time.Time) error {
	// Managed fields say which client wrote which field: no decision turns on them, and
	// every escalation decision's record would carry them.
	in := ep.DeepCopy()
	in.ManagedFields = nil
	dec, rec, err := d.engine.Escalation(ctx, policy.EscalationInput{Input: policy.Input{Incident: inc, Tenant: inc.Namespace, Now: now}, Policy: in})
	if err != nil {
		return fmt.Errorf("escalation decision: %w", err)
	}
	w.Decisions = append(w.Decisions, incident.Decision{Point: string(rec.Point), ID: rec.ID, Time: rec.Time,
		Summary: rec.Summary, Input: rec.Input, Output: dec, Fallback: rec.Fallback, Errors: rec.Errors})
	st := &inc.Status
	prev := st.Escalation
	st.Escalation = &klaxonv1.EscalationStatus{Policy: ep.Namespace + "/" + ep.Name, PolicyDecision: rec.ID, StartLevel: int32(dec.StartLevel)}
	if prev != nil {
		// The episode started when it did, whichever policy it follows now.
		st.Escalation.StartedAt = prev.StartedAt
	}
	if prev != nil && prev.Policy == st.Escalation.Policy {
		// A new decision for the same policy (after an upgrade) keeps the position.
		st.Escalation.Level, st.Escalation.Cycle = prev.Level, prev.Cycle
		st.Escalation.LevelPagedAt, st.Escalation.NextEscalationAt, st.Escalation.Exhausted = prev.LevelPagedAt, prev.NextEscalationAt, prev.Exhausted
	}
	st.Deadlines = nil
	for i, dl := range dec.Deadlines {
		if i == 10 {
			break
		}
		st.Deadlines = append(st.Deadlines, klaxonv1.ResponseDeadline{Name: dl.Name, At: metav1Time(dl.At), Description: dl.Description})
		timeline(st, now, "Deadline", fmt.Sprintf("%s by %s: %s", dl.Name, dl.At.UTC().Format(time.RFC3339), dl.Description))
	}
	return nil
}

// pageCandidate makes the candidate that pages one recipient of an escalation level.
func (d *Dispatcher) pageCandidate(ctx context.Context, rc escalation.Recipient, pg escalation.Page) (addressee, notify.Candidate) {
	c := notify.Candidate{Event: pg.Event, Level: pg.Level, Cycle: pg.Cycle, Page: true, Reason: pg.Reason}
	a := addressee{name: rc.DisplayName, timeZone: rc.TimeZone, audience: rc.Audience, templates: rc.Templates}
	switch rc.Kind {
	case escalation.RecipientPerson:
		a.responder = strings.TrimPrefix(rc.ID, string(escalation.RecipientPerson)+"/")
		c.Target = notify.PersonTarget(a.responder)
	default:
		group := strings.TrimPrefix(rc.ID, string(escalation.RecipientGroupChannel)+"/")
		m := rc.Methods[0]
		c.Target = notify.ChannelTarget(group, m.Channel.Namespace+"/"+m.Channel.Name, m.Address)
	}
	c.Routes, a.channels = d.routes(ctx, rc.Methods)
	return a, c
}

// announce asks the notify decision point which stakeholder groups hear notice n and
// adds their members and channels to p; for Acknowledged and Resolved it also adds
// follow-ups to everyone paged in this episode.
func (d *Dispatcher) announce(ctx context.Context, inc *klaxonv1.Incident, n Notice, w *Work, p *plan, now time.Time) error {
	st := &inc.Status
	if n.Event == klaxonv1.EventAcknowledged || n.Event == klaxonv1.EventResolved {
		for _, target := range pagedTargets(st) {
			a, routes := d.routesFor(ctx, inc, target)
			p.add(notify.Candidate{Event: n.Event, Variant: n.Variant, Target: target, FollowUp: true, Routes: routes}, a)
		}
	}

	groups, err := d.candidateGroups(ctx, inc)
	if err != nil || len(groups) == 0 {
		return err
	}
	in := policy.NotifyInput{Input: policy.Input{Incident: inc, Tenant: inc.Namespace, Now: now}, Event: n.Event}
	for _, g := range groups {
		in.Groups = append(in.Groups, policy.NotifyGroupFor(g, groupNotified(st, g)))
	}
	dec, rec, err := d.engine.Notify(ctx, in)
	if err != nil {
		return fmt.Errorf("notify decision for %s: %w", n.Event, err)
	}
	w.Decisions = append(w.Decisions, incident.Decision{Point: string(rec.Point), ID: rec.ID, Time: rec.Time,
		Summary: rec.Summary, Input: rec.Input, Output: dec, Fallback: rec.Fallback, Errors: rec.Errors})

	for _, g := range groups {
		gd, ok := dec.For(g.Namespace + "/" + g.Name)
		if !ok || !gd.Notify {
			continue
		}
		key := g.Namespace + "/" + g.Name
		res := escalation.Resolve(ctx, directory{r: d.cache}, escalation.Scope{Namespace: g.Namespace, SystemNamespace: d.opts.SystemNamespace},
			[]klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetStakeholderGroup, Name: g.Name, Namespace: g.Namespace}}, now)
		for _, rc := range res.Recipients {
			c := notify.Candidate{Event: n.Event, Variant: n.Variant}
			a := addressee{name: rc.DisplayName, timeZone: rc.TimeZone, audience: rc.Audience, templates: rc.Templates}
			if rc.Kind == escalation.RecipientPerson {
				c.Target = notify.MemberTarget(key, strings.TrimPrefix(rc.ID, string(escalation.RecipientPerson)+"/"))
			} else {
				m := rc.Methods[0]
				c.Target = notify.ChannelTarget(key, m.Channel.Namespace+"/"+m.Channel.Name, m.Address)
			}
			c.Routes, a.channels = d.routes(ctx, rc.Methods)
			if len(c.Routes) > 0 {
				p.add(c, a)
			}
		}
		for _, prob := range res.Problems {
			timeline(st, now, "NotificationProblem", prob.Error())
		}
	}
	return nil
}

// candidateGroups are the stakeholder groups that may hear of the incident: those
// triage named, and every group of the incident's tenant (each filters by its own
// notifyOn, severity and categories, through the notify policy).
func (d *Dispatcher) candidateGroups(ctx context.Context, inc *klaxonv1.Incident) ([]*klaxonv1.StakeholderGroup, error) {
	var list klaxonv1.StakeholderGroupList
	if err := d.cache.List(ctx, &list, client.InNamespace(inc.Namespace)); err != nil {
		return nil, fmt.Errorf("listing stakeholder groups: %w", err)
	}
	seen := map[string]bool{}
	var out []*klaxonv1.StakeholderGroup
	for i := range list.Items {
		g := &list.Items[i]
		seen[g.Namespace+"/"+g.Name] = true
		out = append(out, g)
	}
	for _, key := range inc.Status.StakeholderGroups {
		if seen[key] {
			continue
		}
		ns, name, _ := strings.Cut(key, "/")
		if ns != inc.Namespace && ns != d.opts.SystemNamespace {
			continue
		}
		var g klaxonv1.StakeholderGroup
		if err := d.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &g); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("reading stakeholder group %s: %w", key, err)
		}
		seen[key] = true
		out = append(out, &g)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out, nil
}

// routesFor finds the recipient a logged target names again, with its routes: for
// a follow-up or an outstanding delivery after a restart.
func (d *Dispatcher) routesFor(ctx context.Context, inc *klaxonv1.Incident, target string) (addressee, []notify.Route) {
	t, ok := notify.ParseTarget(target)
	if !ok {
		return addressee{}, nil
	}
	dir := directory{r: d.cache}
	switch t.Kind {
	case notify.TargetPerson:
		ns, name, _ := strings.Cut(t.Person, "/")
		res := escalation.Resolve(ctx, dir, escalation.Scope{Namespace: ns, SystemNamespace: d.opts.SystemNamespace},
			[]klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: name, Namespace: ns}}, time.Time{})
		for _, rc := range res.Recipients {
			a := addressee{name: rc.DisplayName, timeZone: rc.TimeZone, audience: klaxonv1.AudienceResponders, responder: t.Person}
			var routes []notify.Route
			routes, a.channels = d.routes(ctx, rc.Methods)
			return a, routes
		}
	case notify.TargetMember, notify.TargetGroupChannel:
		ns, name, _ := strings.Cut(t.Group, "/")
		res := escalation.Resolve(ctx, dir, escalation.Scope{Namespace: ns, SystemNamespace: d.opts.SystemNamespace},
			[]klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetStakeholderGroup, Name: name, Namespace: ns}}, time.Time{})
		for _, rc := range res.Recipients {
			var id string
			if rc.Kind == escalation.RecipientPerson {
				id = notify.MemberTarget(t.Group, strings.TrimPrefix(rc.ID, string(escalation.RecipientPerson)+"/"))
			} else {
				m := rc.Methods[0]
				id = notify.ChannelTarget(t.Group, m.Channel.Namespace+"/"+m.Channel.Name, m.Address)
			}
			if id != target {
				continue
			}
			a := addressee{name: rc.DisplayName, timeZone: rc.TimeZone, audience: rc.Audience, templates: rc.Templates}
			var routes []notify.Route
			routes, a.channels = d.routes(ctx, rc.Methods)
			return a, routes
		}
	}
	return addressee{}, nil
}

// routes turns contact methods into pipeline routes, skipping channels that do not
// exist (the Responder or group says so in its Ready condition).
func (d *Dispatcher) routes(ctx context.Context, methods []escalation.ContactMethod) ([]notify.Route, []klaxonv1.ObjectReference) {
	var routes []notify.Route
	var refs []klaxonv1.ObjectReference
	for _, m := range methods {
		nc, err := d.channels.spec(ctx, m.Channel)
		if err != nil {
			continue
		}
		key := m.Channel.Namespace + "/" + m.Channel.Name
		routes = append(routes, notify.Route{Channel: key, Type: nc.Spec.Type, Address: m.Address,
			Bucket: notify.BucketKey(key, nc.Spec.Type, m.Address, ""), Limit: notify.LimitFor(nc.Spec)})
		refs = append(refs, m.Channel)
	}
	return routes, refs
}

// pagedTargets are the targets paged in the current episode, from the log.
func pagedTargets(st *klaxonv1.IncidentStatus) []string {
	prefix := fmt.Sprintf("r%d/", st.ReopenCount)
	seen := map[string]bool{}
	var out []string
	for _, r := range st.Notifications {
		if !strings.HasPrefix(r.Key, prefix) || (r.Event != klaxonv1.EventTriggered && r.Event != klaxonv1.EventEscalated) {
			continue
		}
		if strings.Contains(r.Key, "/l0/") || seen[r.Target] {
			continue
		}
		if t, ok := notify.ParseTarget(r.Target); ok && t.Kind == notify.TargetPerson {
			seen[r.Target] = true
			out = append(out, r.Target)
		}
	}
	return out
}

// groupNotified reports whether a group heard of the incident in this episode.
func groupNotified(st *klaxonv1.IncidentStatus, g *klaxonv1.StakeholderGroup) bool {
	prefix := fmt.Sprintf("r%d/", st.ReopenCount)
	target := "StakeholderGroup/" + g.Namespace + "/" + g.Name + "/"
	for _, r := range st.Notifications {
		if strings.HasPrefix(r.Key, prefix) && strings.HasPrefix(r.Target, target) && r.Phase == klaxonv1.NotificationSent {
			return true
		}
	}
	return false
}

// run plans the candidates through the pipeline and claims what is due.
func (d *Dispatcher) run(ctx context.Context, inc *klaxonv1.Incident, p *plan, w *Work, now time.Time) {
	st := &inc.Status
	if len(p.candidates) == 0 {
		return
	}
	out := d.pipeline.Plan(notify.Input{Incident: summary(inc, 0, 0), Log: st.Notifications, Candidates: p.candidates}, now)
	log := st.Notifications
	var sends []Send
	for _, o := range out.Outcomes {
		c := p.candidates[o.Candidate]
		switch o.Action {
		case notify.ActionSend:
			log = notify.Upsert(log, *o.Record)
			sends = append(sends, d.send(inc, c, p.addressees[o.Candidate], o, now, w))
		case notify.ActionGiveUp:
			log = notify.Upsert(log, *o.Record)
			timeline(st, now, "NotificationFailed", fmt.Sprintf("%s via %s gave up: %s; trying the next contact method",
				c.Target, c.Routes[o.Route].Channel, o.Record.Message))
		case notify.ActionExhausted:
			timeline(st, now, "NotificationFailed", fmt.Sprintf("every contact method of %s failed for %s", c.Target, c.Event))
		case notify.ActionMute:
			if o.Record != nil {
				log = notify.Upsert(log, *o.Record)
				if o.Record.Phase == klaxonv1.NotificationHeld {
					timeline(st, now, "NotificationHeld", fmt.Sprintf("%s for %s held (%s); it goes out when that ends",
						c.Event, c.Target, o.Reason))
				}
			}
		}
	}
	if !out.Next.IsZero() && (w.Next.IsZero() || out.Next.Before(w.Next)) {
		w.Next = out.Next
	}
	log = notify.Compact(log, st.ReopenCount, MaxLog)
	if len(log) > MaxLog {
		// Only pending claims are left to drop: claim nothing new until they finish.
		timeline(st, now, "NotificationProblem", "the notification log is full of deliveries in flight; new ones wait")
		retry := now.Add(time.Minute)
		if w.Next.IsZero() || retry.Before(w.Next) {
			w.Next = retry
		}
		return
	}
	st.Notifications = log
	w.Sends = append(w.Sends, sends...)
}

// send renders the message of a claimed delivery.
func (d *Dispatcher) send(inc *klaxonv1.Incident, c notify.Candidate, a addressee, o notify.Outcome, now time.Time, w *Work) Send {
	route := c.Routes[o.Route]
	var ch klaxonv1.ObjectReference
	if o.Route < len(a.channels) {
		ch = a.channels[o.Route]
	}
	data := notify.TemplateData{
		Audience: a.audience, Event: c.Event, ChannelType: route.Type,
		Incident:    summary(inc, c.Level, c.Cycle),
		Description: inc.Spec.Description, Resolution: inc.Spec.Resolution,
		Reason: o.Reason, Recipient: a.name, Links: d.links(inc, a, now),
		Timeline: notify.TimelineExcerpt(inc.Status.Timeline, 5), TimeZone: a.timeZone, Now: now,
	}
	if inc.Spec.Affected != nil {
		data.Affected = *inc.Spec.Affected
	}
	if src := inc.Spec.Source; src != nil {
		data.Labels = src.Labels
	}
	for _, dl := range inc.Status.Deadlines {
		data.Deadlines = append(data.Deadlines, notify.Deadline{Name: dl.Name, At: dl.At.Time, Description: dl.Description})
	}
	msg, warn := d.renderer.Render(a.templates, data)
	if warn != nil {
		w.Warnings = append(w.Warnings, Warning{Reason: klaxonv1.ReasonTemplateFailed, Note: warn.Error()})
	}
	return Send{Channel: ch, Route: route, Claimed: *o.Record, Recipient: a.name,
		Delivery: notify.Delivery{Message: msg, Address: route.Address, Key: notify.DeliveryKey(inc.UID, o.Key),
			DedupKey: notify.DedupKey(inc.Namespace, inc.Name, inc.Status.ReopenCount)}}
}

// links are the URLs a message carries; respond links only for a person, in their
// name.
func (d *Dispatcher) links(inc *klaxonv1.Incident, a addressee, now time.Time) notify.Links {
	var l notify.Links
	if d.opts.BaseURL == "" {
		return l
	}
	base := strings.TrimSuffix(d.opts.BaseURL, "/")
	l.Incident = base + "/incidents/" + inc.Namespace + "/" + inc.Name
	for _, rb := range inc.Status.Runbooks {
		l.Runbooks = append(l.Runbooks, notify.Link{Title: rb, URL: base + "/runbooks/" + rb})
	}
	if a.responder == "" || len(d.opts.LinkKeys) == 0 {
		return l
	}
	claims := notify.Claims{Namespace: inc.Namespace, Incident: inc.Name, Responder: a.responder,
		ReopenCount: inc.Status.ReopenCount, ExpiresAt: now.Add(d.opts.LinkTTL)}
	claims.Action = notify.ActionAcknowledge
	if tok, err := notify.Sign(d.opts.LinkKeys[0], claims); err == nil {
		l.Acknowledge = base + "/api/v1/respond/" + tok
	}
	claims.Action = notify.ActionResolve
	if tok, err := notify.Sign(d.opts.LinkKeys[0], claims); err == nil {
		l.Resolve = base + "/api/v1/respond/" + tok
	}
	return l
}

// Deliver makes the sends, a bounded number at once, and returns their results in
// order. Each attempt is bounded by its channel's timeout.
func (d *Dispatcher) Deliver(ctx context.Context, sends []Send) []Result {
	results := make([]Result, len(sends))
	sem := make(chan struct{}, d.opts.Concurrency)
	var wg sync.WaitGroup
	for i, s := range sends {
		results[i].Send = s
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := d.channels.notifier(ctx, s.Channel)
			if err != nil {
				results[i].Err = &notify.SendError{Err: err}
				return
			}
			results[i].Err = n.Send(ctx, s.Delivery)
		}()
	}
	wg.Wait()
	return results
}

// Apply records results in status: the log entry of each attempt and a timeline
// entry for each delivery made or given up. It returns when to come back: at once
// when a delivery failed for good (the next contact method follows), at the earliest
// retry otherwise, zero when nothing is left.
func (d *Dispatcher) Apply(st *klaxonv1.IncidentStatus, results []Result, now time.Time) time.Time {
	var next time.Time
	for _, r := range results {
		rec := d.pipeline.Record(r.Claimed, r.Route, r.Err, now)
		st.Notifications = notify.Upsert(st.Notifications, rec.Record)
		switch {
		case r.Err == nil:
			timeline(st, now, "Notified", fmt.Sprintf("%s %s via %s (%s)", r.Claimed.Event, r.Recipient, r.Route.Channel, rec.Record.Reason))
		case rec.GaveUp:
			timeline(st, now, "NotificationFailed", fmt.Sprintf("%s to %s via %s failed for good: %v", r.Claimed.Event, r.Recipient, r.Route.Channel, r.Err))
			next = now
		default:
			if at := now.Add(rec.RetryIn); next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return next
}

// summary is the incident as messages report it.
func summary(inc *klaxonv1.Incident, level, cycle int32) notify.IncidentSummary {
	s := notify.IncidentSummary{
		Namespace: inc.Namespace, Name: inc.Name, Title: inc.Spec.Title, Severity: inc.Status.Severity,
		State: inc.Status.State, Stage: inc.Status.Stage, Category: inc.Status.Category, Service: inc.Status.Service,
		Customer: inc.Spec.Customer, Assignee: inc.Spec.Assignee, ReopenCount: inc.Status.ReopenCount, Level: level, Cycle: cycle,
	}
	if inc.Status.TriggeredAt != nil {
		s.TriggeredAt = inc.Status.TriggeredAt.Time
	}
	return s
}

func reasonFor(e klaxonv1.IncidentEvent) string {
	if e == klaxonv1.EventEscalated {
		return "Escalated"
	}
	return "Paged"
}

func orNobody(names []string) string {
	if len(names) == 0 {
		return "nobody (no reachable recipient)"
	}
	return strings.Join(names, ", ")
}

// problem records something that keeps a page from going out: a timeline entry of
// type typ, and a Warning event, which is where people watching a cluster look.
func (w *Work) problem(st *klaxonv1.IncidentStatus, at time.Time, typ, msg string) {
	timeline(st, at, typ, msg)
	w.Warnings = append(w.Warnings, Warning{Reason: typ, Note: msg})
}

func timeline(st *klaxonv1.IncidentStatus, at time.Time, typ, msg string) {
	incident.AppendTimeline(st, klaxonv1.TimelineEntry{Time: metav1Time(at.Truncate(time.Second)), Type: typ, Actor: "klaxon", Message: msg})
}
