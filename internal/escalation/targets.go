package escalation

import (
	"context"
	"errors"
	"fmt"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Errors Resolve reports for a target it cannot turn into recipients. The other
// targets are still resolved: a page reaches whoever it can.
var (
	// ErrCrossTenant: a reference points into another tenant's namespace.
	ErrCrossTenant = errors.New("reference into another tenant's namespace")
	// ErrNobodyOnCall: a schedule has nobody on call at the time of the page.
	ErrNobodyOnCall = errors.New("nobody is on call")
	// ErrUnknownTarget: a target kind Resolve does not know.
	ErrUnknownTarget = errors.New("unknown target kind")
)

// Directory looks up the objects targets name. The controller implements it over its
// cache, keeping Kubernetes out of this package.
type Directory interface {
	// Responder returns the named Responder.
	Responder(ctx context.Context, namespace, name string) (*klaxonv1.Responder, error)
	// StakeholderGroup returns the named StakeholderGroup.
	StakeholderGroup(ctx context.Context, namespace, name string) (*klaxonv1.StakeholderGroup, error)
	// OnCall returns who is on call on the named OnCallSchedule at t, as the schedule
	// names them (an empty namespace is the schedule's).
	OnCall(ctx context.Context, namespace, name string, t time.Time) ([]klaxonv1.ObjectReference, error)
}

// RecipientKind says how a Recipient's methods are used.
type RecipientKind string

// Recipient kinds.
const (
	// RecipientPerson is a Responder: its methods are tried in order until one works.
	RecipientPerson RecipientKind = "Responder"
	// RecipientGroupChannel is one channel of a StakeholderGroup, reaching the group.
	RecipientGroupChannel RecipientKind = "StakeholderGroup"
)

// ContactMethod is a way to reach a recipient, with the channel's namespace filled in.
type ContactMethod struct {
	// Name labels the method, e.g. "work email"; may be empty.
	Name string
	// Channel is the NotificationChannel.
	Channel klaxonv1.ObjectReference
	// Address on the channel; may be empty.
	Address string
}

// Recipient is someone (or some place) a page goes to.
type Recipient struct {
	// Kind of recipient.
	Kind RecipientKind
	// ID names the recipient in the notification log: "Responder/ns/name" or
	// "StakeholderGroup/ns/name".
	ID string
	// DisplayName of the person, or the group's name.
	DisplayName string
	// TimeZone of the person (IANA name); empty for groups and when unset.
	TimeZone string
	// Audience whose words the recipient gets: responders for people paged directly
	// or through a schedule, the group's audience for its members and channels.
	Audience klaxonv1.Audience
	// Templates of the group the recipient was reached through; empty otherwise.
	Templates []klaxonv1.MessageTemplate
	// Methods in order of preference; for a person the next is tried when one fails
	// for good. A group channel has exactly one.
	Methods []ContactMethod
	// Via lists the targets that led to the recipient, e.g.
	// "OnCallSchedule/team-a/primary".
	Via []string
}

// Resolution is the recipients of a set of targets and what went wrong on the way.
type Resolution struct {
	// Recipients in target order, each person once.
	Recipients []Recipient
	// Problems with targets that could not be (fully) resolved, each naming the
	// target; the controller puts them in the timeline.
	Problems []error
}

// Scope is where a policy's references may point.
type Scope struct {
	// Namespace of the EscalationPolicy; targets without a namespace are there.
	Namespace string
	// SystemNamespace is the provider's namespace, which every tenant may reference;
	// klaxon-system when empty.
	SystemNamespace string
}

// allowed applies the tenancy rule to a reference made from an object in from.
func (s Scope) allowed(from, to string) bool {
	sys := s.SystemNamespace
	if sys == "" {
		sys = klaxonv1.DefaultSystemNamespace
	}
	return to == from || to == sys
}

// ref fills in r's namespace relative to from and checks the tenancy rule.
func (s Scope) ref(from string, r klaxonv1.ObjectReference) (klaxonv1.ObjectReference, error) {
	if r.Namespace == "" {
		r.Namespace = from
	}
	if !s.allowed(from, r.Namespace) {
		return r, fmt.Errorf("%s/%s from namespace %s: %w", r.Namespace, r.Name, from, ErrCrossTenant)
	}
	return r, nil
}

// Resolve turns targets into recipients as of t: a Responder into the person, an
// OnCallSchedule into whoever is on call at t, a StakeholderGroup into its members
// (people, in the group's audience) and its channels. A person reached through
// several targets is paged once, as the first target that reached them says. Lookup
// failures are reported per target in Problems and do not stop the others.
func Resolve(ctx context.Context, dir Directory, scope Scope, targets []klaxonv1.EscalationTarget, t time.Time) Resolution {
	r := resolver{ctx: ctx, dir: dir, scope: scope, seen: map[string]int{}}
	for _, tg := range targets {
		via := fmt.Sprintf("%s/%s/%s", tg.Kind, nsOr(tg.Namespace, scope.Namespace), tg.Name)
		ref, err := scope.ref(scope.Namespace, klaxonv1.ObjectReference{Name: tg.Name, Namespace: tg.Namespace})
		if err != nil {
			r.problem(via, err)
			continue
		}
		switch tg.Kind {
		case klaxonv1.TargetResponder:
			r.person(via, ref, klaxonv1.AudienceResponders, nil)
		case klaxonv1.TargetOnCallSchedule:
			r.schedule(via, ref, t)
		case klaxonv1.TargetStakeholderGroup:
			r.group(via, ref)
		default:
			r.problem(via, fmt.Errorf("%w %q", ErrUnknownTarget, tg.Kind))
		}
	}
	return r.out
}

type resolver struct {
	ctx   context.Context
	dir   Directory
	scope Scope
	out   Resolution
	seen  map[string]int // person ID or group channel -> index in out.Recipients
}

func (r *resolver) problem(via string, err error) {
	r.out.Problems = append(r.out.Problems, fmt.Errorf("target %s: %w", via, err))
}

func (r *resolver) person(via string, ref klaxonv1.ObjectReference, aud klaxonv1.Audience, tmpl []klaxonv1.MessageTemplate) {
	id := fmt.Sprintf("%s/%s/%s", RecipientPerson, ref.Namespace, ref.Name)
	if i, ok := r.seen[id]; ok {
		r.out.Recipients[i].Via = append(r.out.Recipients[i].Via, via)
		return
	}
	rsp, err := r.dir.Responder(r.ctx, ref.Namespace, ref.Name)
	if err != nil {
		r.problem(via, fmt.Errorf("responder %s/%s: %w", ref.Namespace, ref.Name, err))
		return
	}
	if rsp == nil {
		r.problem(via, fmt.Errorf("responder %s/%s: not found", ref.Namespace, ref.Name))
		return
	}
	rc := Recipient{
		Kind:        RecipientPerson,
		ID:          id,
		DisplayName: rsp.Spec.DisplayName,
		TimeZone:    rsp.Spec.TimeZone,
		Audience:    aud,
		Templates:   tmpl,
		Via:         []string{via},
	}
	for _, m := range rsp.Spec.ContactMethods {
		ch, err := r.scope.ref(ref.Namespace, m.ChannelRef)
		if err != nil {
			r.problem(via, fmt.Errorf("responder %s/%s contact method %q: %w", ref.Namespace, ref.Name, m.Name, err))
			continue
		}
		rc.Methods = append(rc.Methods, ContactMethod{Name: m.Name, Channel: ch, Address: m.Address})
	}
	if len(rc.Methods) == 0 {
		r.problem(via, fmt.Errorf("responder %s/%s has no usable contact method", ref.Namespace, ref.Name))
		return
	}
	r.seen[id] = len(r.out.Recipients)
	r.out.Recipients = append(r.out.Recipients, rc)
}

func (r *resolver) schedule(via string, ref klaxonv1.ObjectReference, t time.Time) {
	who, err := r.dir.OnCall(r.ctx, ref.Namespace, ref.Name, t)
	if err != nil {
		r.problem(via, fmt.Errorf("schedule %s/%s: %w", ref.Namespace, ref.Name, err))
		return
	}
	if len(who) == 0 {
		r.problem(via, fmt.Errorf("schedule %s/%s at %s: %w", ref.Namespace, ref.Name, t.UTC().Format(time.RFC3339), ErrNobodyOnCall))
		return
	}
	for _, w := range who {
		p, err := r.scope.ref(ref.Namespace, w)
		if err != nil {
			r.problem(via, err)
			continue
		}
		r.person(via, p, klaxonv1.AudienceResponders, nil)
	}
}

func (r *resolver) group(via string, ref klaxonv1.ObjectReference) {
	g, err := r.dir.StakeholderGroup(r.ctx, ref.Namespace, ref.Name)
	if err != nil {
		r.problem(via, fmt.Errorf("stakeholder group %s/%s: %w", ref.Namespace, ref.Name, err))
		return
	}
	if g == nil {
		r.problem(via, fmt.Errorf("stakeholder group %s/%s: not found", ref.Namespace, ref.Name))
		return
	}
	for _, m := range g.Spec.Members {
		p, err := r.scope.ref(ref.Namespace, m)
		if err != nil {
			r.problem(via, err)
			continue
		}
		r.person(via, p, g.Spec.Audience, g.Spec.Templates)
	}
	id := fmt.Sprintf("%s/%s/%s", RecipientGroupChannel, ref.Namespace, ref.Name)
	for _, c := range g.Spec.Channels {
		ch, err := r.scope.ref(ref.Namespace, c.ChannelRef)
		if err != nil {
			r.problem(via, err)
			continue
		}
		key := id + "|" + ch.Namespace + "/" + ch.Name + "|" + c.Address
		if i, ok := r.seen[key]; ok {
			r.out.Recipients[i].Via = append(r.out.Recipients[i].Via, via)
			continue
		}
		r.seen[key] = len(r.out.Recipients)
		r.out.Recipients = append(r.out.Recipients, Recipient{
			Kind:        RecipientGroupChannel,
			ID:          id,
			DisplayName: ref.Name,
			Audience:    g.Spec.Audience,
			Templates:   g.Spec.Templates,
			Methods:     []ContactMethod{{Channel: ch, Address: c.Address}},
			Via:         []string{via},
		})
	}
}

func nsOr(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}
