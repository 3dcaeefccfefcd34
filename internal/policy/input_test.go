package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestMarshalInputIsTheSlimmedInput checks that a decision's input is
// encoded as validate's slimmed copy would be, from a pooled copy, and that
// the caller's incident is neither changed nor replaced.
func TestMarshalInputIsTheSlimmedInput(t *testing.T) {
	inputs := benchInputs(t, "acme")[:100]
	big := incident("acme", "Outage", nil)
	big.Annotations = map[string]string{lastApplied: "{...}", "keep": "me"}
	big.Status.Timeline = []v1alpha1.TimelineEntry{{Type: "Triggered"}}
	inputs = append(inputs, TriageInput{Input{Incident: big, Tenant: "acme", Now: testNow}}, TriageInput{Input{Tenant: "acme", Now: testNow}})
	for i, in := range inputs {
		orig := in.Incident
		before, err := json.Marshal(orig)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.check(); err != nil {
			t.Fatal(err)
		}
		got, err := marshalInput(&in.Input, &in)
		if err != nil {
			t.Fatal(err)
		}
		if in.Incident != orig {
			t.Fatalf("input %d: the incident was replaced", i)
		}
		if after, _ := json.Marshal(orig); !bytes.Equal(before, after) {
			t.Fatalf("input %d: the caller's incident was changed", i)
		}
		if err := in.validate(); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("input %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
