package notify

import (
	"strings"
)

// Target IDs name a recipient in the notification log. They carry enough to find the
// recipient again after a restart, so an outstanding delivery is re-routed and
// re-rendered for the right audience:
//
//	Responder/<ns>/<name>                                a person paged directly or through a schedule
//	StakeholderGroup/<gns>/<group>/Responder/<ns>/<name>  a group's member, in the group's words
//	StakeholderGroup/<gns>/<group>/channel/<destination>  one of a group's channels
//
// destination is Destination(channel, address): the address is hashed, since
// addresses are personal.

// TargetKind says which of the three a target is.
type TargetKind int

// Target kinds.
const (
	TargetPerson TargetKind = iota + 1
	TargetMember
	TargetGroupChannel
)

// Target is a parsed target ID.
type Target struct {
	Kind TargetKind
	// Group is "namespace/name" for members and group channels.
	Group string
	// Person is "namespace/name" for persons and members.
	Person string
	// Destination of a group channel.
	Destination string
}

// PersonTarget is the target of a person paged directly or through a schedule.
func PersonTarget(person string) string { return "Responder/" + person }

// MemberTarget is the target of a stakeholder group's member.
func MemberTarget(group, person string) string {
	return "StakeholderGroup/" + group + "/Responder/" + person
}

// ChannelTarget is the target of a stakeholder group's channel.
func ChannelTarget(group, channel, address string) string {
	return "StakeholderGroup/" + group + "/channel/" + Destination(channel, address)
}

// ParseTarget reads a target ID; false for one it does not know (or one shortened
// beyond recognition in the log).
func ParseTarget(id string) (Target, bool) {
	if rest, ok := strings.CutPrefix(id, "Responder/"); ok && strings.Count(rest, "/") == 1 {
		return Target{Kind: TargetPerson, Person: rest}, true
	}
	rest, ok := strings.CutPrefix(id, "StakeholderGroup/")
	if !ok {
		return Target{}, false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 {
		return Target{}, false
	}
	group := parts[0] + "/" + parts[1]
	switch parts[2] {
	case "Responder":
		if strings.Count(parts[3], "/") == 1 {
			return Target{Kind: TargetMember, Group: group, Person: parts[3]}, true
		}
	case "channel":
		return Target{Kind: TargetGroupChannel, Group: group, Destination: parts[3]}, true
	}
	return Target{}, false
}
