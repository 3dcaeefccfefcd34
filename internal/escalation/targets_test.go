package escalation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// directory is an in-memory Directory keyed by "namespace/name".
type directory struct {
	responders map[string]klaxonv1.ResponderSpec
	groups     map[string]klaxonv1.StakeholderGroupSpec
	// onCall maps a schedule to who is on call before and from switchAt.
	onCall   map[string][2][]klaxonv1.ObjectReference
	switchAt time.Time
}

var errNotFound = errors.New("not found")

func (d directory) Responder(_ context.Context, ns, name string) (*klaxonv1.Responder, error) {
	spec, ok := d.responders[ns+"/"+name]
	if !ok {
		return nil, errNotFound
	}
	return &klaxonv1.Responder{Spec: spec}, nil
}

func (d directory) StakeholderGroup(_ context.Context, ns, name string) (*klaxonv1.StakeholderGroup, error) {
	spec, ok := d.groups[ns+"/"+name]
	if !ok {
		return nil, errNotFound
	}
	return &klaxonv1.StakeholderGroup{Spec: spec}, nil
}

func (d directory) OnCall(_ context.Context, ns, name string, t time.Time) ([]klaxonv1.ObjectReference, error) {
	who, ok := d.onCall[ns+"/"+name]
	if !ok {
		return nil, errNotFound
	}
	if t.Before(d.switchAt) {
		return who[0], nil
	}
	return who[1], nil
}

func person(display string, channels ...string) klaxonv1.ResponderSpec {
	spec := klaxonv1.ResponderSpec{DisplayName: display}
	for _, c := range channels {
		ref := klaxonv1.ObjectReference{Name: c}
		if ns, name, ok := strings.Cut(c, "/"); ok {
			ref = klaxonv1.ObjectReference{Namespace: ns, Name: name}
		}
		spec.ContactMethods = append(spec.ContactMethods, klaxonv1.ContactMethod{ChannelRef: ref, Address: display + "@" + ref.Name})
	}
	return spec
}

// summary renders recipients as "ID audience [channel:address ...] via" lines.
func summary(res Resolution) []string {
	var out []string
	for _, r := range res.Recipients {
		var ms []string
		for _, m := range r.Methods {
			ms = append(ms, fmt.Sprintf("%s/%s:%s", m.Channel.Namespace, m.Channel.Name, m.Address))
		}
		out = append(out, fmt.Sprintf("%s %s %v via %s", r.ID, r.Audience, ms, strings.Join(r.Via, ",")))
	}
	return out
}

func TestResolve(t *testing.T) {
	switchAt := t0.Add(time.Hour)
	dir := directory{
		responders: map[string]klaxonv1.ResponderSpec{
			"team-a/alice":        person("alice", "email", "slack"),
			"team-a/bob":          person("bob", "email"),
			"klaxon-system/carol": person("carol", "pager"),
			"team-a/dave":         person("dave", "team-b/email"), // a channel in another tenant
		},
		groups: map[string]klaxonv1.StakeholderGroupSpec{
			"team-a/mgmt": {
				Audience:  klaxonv1.AudienceManagement,
				Members:   []klaxonv1.ObjectReference{{Name: "bob"}, {Name: "carol", Namespace: "klaxon-system"}},
				Channels:  []klaxonv1.GroupChannel{{ChannelRef: klaxonv1.ObjectReference{Name: "slack"}, Address: "C123"}},
				Templates: []klaxonv1.MessageTemplate{{Body: "hi"}},
			},
		},
		onCall: map[string][2][]klaxonv1.ObjectReference{
			"team-a/primary": {{{Name: "alice"}}, {{Name: "bob"}}},
			"team-a/empty":   {nil, nil},
		},
		switchAt: switchAt,
	}
	scope := Scope{Namespace: "team-a"}
	target := func(kind klaxonv1.TargetKind, name string) klaxonv1.EscalationTarget {
		tg := klaxonv1.EscalationTarget{Kind: kind, Name: name}
		if ns, n, ok := strings.Cut(name, "/"); ok {
			tg.Namespace, tg.Name = ns, n
		}
		return tg
	}
	cases := []struct {
		name     string
		targets  []klaxonv1.EscalationTarget
		at       time.Time
		want     []string
		problems []string
	}{{
		name:    "a responder's methods in order",
		targets: []klaxonv1.EscalationTarget{target(klaxonv1.TargetResponder, "alice")},
		want:    []string{"Responder/team-a/alice responders [team-a/email:alice@email team-a/slack:alice@slack] via Responder/team-a/alice"},
	}, {
		name:    "whoever is on call at the time",
		targets: []klaxonv1.EscalationTarget{target(klaxonv1.TargetOnCallSchedule, "primary")},
		at:      switchAt,
		want:    []string{"Responder/team-a/bob responders [team-a/email:bob@email] via OnCallSchedule/team-a/primary"},
	}, {
		name:    "one nanosecond before the handoff",
		targets: []klaxonv1.EscalationTarget{target(klaxonv1.TargetOnCallSchedule, "primary")},
		at:      switchAt.Add(-time.Nanosecond),
		want:    []string{"Responder/team-a/alice responders [team-a/email:alice@email team-a/slack:alice@slack] via OnCallSchedule/team-a/primary"},
	}, {
		name:    "a stakeholder group: members in its audience, then its channels",
		targets: []klaxonv1.EscalationTarget{target(klaxonv1.TargetStakeholderGroup, "mgmt")},
		want: []string{
			"Responder/team-a/bob management [team-a/email:bob@email] via StakeholderGroup/team-a/mgmt",
			"Responder/klaxon-system/carol management [klaxon-system/pager:carol@pager] via StakeholderGroup/team-a/mgmt",
			"StakeholderGroup/team-a/mgmt management [team-a/slack:C123] via StakeholderGroup/team-a/mgmt",
		},
	}, {
		name: "a person reached twice is paged once, as the first target says",
		targets: []klaxonv1.EscalationTarget{
			target(klaxonv1.TargetOnCallSchedule, "primary"),
			target(klaxonv1.TargetStakeholderGroup, "mgmt"),
			target(klaxonv1.TargetStakeholderGroup, "mgmt"),
		},
		at: switchAt,
		want: []string{
			"Responder/team-a/bob responders [team-a/email:bob@email] via OnCallSchedule/team-a/primary,StakeholderGroup/team-a/mgmt,StakeholderGroup/team-a/mgmt",
			"Responder/klaxon-system/carol management [klaxon-system/pager:carol@pager] via StakeholderGroup/team-a/mgmt,StakeholderGroup/team-a/mgmt",
			"StakeholderGroup/team-a/mgmt management [team-a/slack:C123] via StakeholderGroup/team-a/mgmt,StakeholderGroup/team-a/mgmt",
		},
	}, {
		name: "problems do not stop the other targets",
		targets: []klaxonv1.EscalationTarget{
			target(klaxonv1.TargetResponder, "team-b/eve"),
			target(klaxonv1.TargetResponder, "ghost"),
			target(klaxonv1.TargetOnCallSchedule, "empty"),
			target(klaxonv1.TargetResponder, "dave"),
			{Kind: "Robot", Name: "r2"},
			target(klaxonv1.TargetResponder, "klaxon-system/carol"),
		},
		want: []string{"Responder/klaxon-system/carol responders [klaxon-system/pager:carol@pager] via Responder/klaxon-system/carol"},
		problems: []string{
			"target Responder/team-b/eve: team-b/eve from namespace team-a: reference into another tenant's namespace",
			"target Responder/team-a/ghost: responder team-a/ghost: not found",
			"target OnCallSchedule/team-a/empty: schedule team-a/empty at 2026-03-02T10:00:00Z: nobody is on call",
			`target Responder/team-a/dave: responder team-a/dave contact method "": team-b/email from namespace team-a: reference into another tenant's namespace`,
			"target Responder/team-a/dave: responder team-a/dave has no usable contact method",
			`target Robot/team-a/r2: unknown target kind "Robot"`,
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := c.at
			if at.IsZero() {
				at = t0
			}
			res := Resolve(context.Background(), dir, scope, c.targets, at)
			if got := summary(res); !slices.Equal(got, c.want) {
				t.Errorf("recipients\n  got  %q\n  want %q", got, c.want)
			}
			var problems []string
			for _, p := range res.Problems {
				problems = append(problems, p.Error())
			}
			if !slices.Equal(problems, c.problems) {
				t.Errorf("problems\n  got  %q\n  want %q", problems, c.problems)
			}
		})
	}
	res := Resolve(context.Background(), dir, scope, []klaxonv1.EscalationTarget{target(klaxonv1.TargetOnCallSchedule, "empty")}, t0)
	if !errors.Is(res.Problems[0], ErrNobodyOnCall) {
		t.Errorf("problem %v is not ErrNobodyOnCall", res.Problems[0])
	}
}
