package notify

import "testing"

func TestTargetsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want Target
	}{
		{PersonTarget("acme/alice"), Target{Kind: TargetPerson, Person: "acme/alice"}},
		{MemberTarget("acme/mgmt", "acme/dave"), Target{Kind: TargetMember, Group: "acme/mgmt", Person: "acme/dave"}},
		{ChannelTarget("klaxon-system/legal", "klaxon-system/mail", "legal@example.com"),
			Target{Kind: TargetGroupChannel, Group: "klaxon-system/legal", Destination: Destination("klaxon-system/mail", "legal@example.com")}},
	} {
		got, ok := ParseTarget(tc.id)
		if !ok || got != tc.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tc.id, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "Responder/alice", "Team/acme/x", "StakeholderGroup/acme/g/other/x", "StakeholderGroup/acme"} {
		if _, ok := ParseTarget(bad); ok {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}
