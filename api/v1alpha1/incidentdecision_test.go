package v1alpha1

import (
	"encoding/json"
	"testing"
)

// A decision's input is written as a JSON string, and read back either from that or
// from the object form of records written before it was a string.
func TestJSONTextReadsBothForms(t *testing.T) {
	in := PolicyDecision{Point: "triage", ID: "a", Input: `{"tenant":"t","now":"x"}`}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	if _, ok := wire["input"].(string); !ok {
		t.Fatalf("input is written as %T, want a string: %s", wire["input"], raw)
	}
	var back PolicyDecision
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Input != in.Input {
		t.Fatalf("string form read back as %q, want %q", back.Input, in.Input)
	}

	var old PolicyDecision
	if err := json.Unmarshal([]byte(`{"point":"triage","id":"a","input":{"tenant":"t"}}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Input != `{"tenant":"t"}` {
		t.Fatalf("object form read as %q", old.Input)
	}
	if err := json.Unmarshal([]byte(`{"input":"unterminated}`), &old); err == nil {
		t.Fatal("a malformed string was accepted")
	}
}

// A record written before spec.decisions, its one decision's fields in spec itself,
// reads as a record of that decision; a current one reads as written.
func TestIncidentDecisionSpecReadsOneDecisionRecords(t *testing.T) {
	var old IncidentDecisionSpec
	if err := json.Unmarshal([]byte(`{"incident":"i","point":"triage","id":"a","time":"2026-11-27T10:00:00Z",
		"summary":"severity=SEV1","input":"{\"tenant\":\"t\"}","fallback":true}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Incident != "i" || len(old.Decisions) != 1 {
		t.Fatalf("read %+v, want one decision of incident i", old)
	}
	if d := old.Decisions[0]; d.Point != "triage" || d.ID != "a" || d.Summary != "severity=SEV1" ||
		d.Input != `{"tenant":"t"}` || !d.Fallback || d.Time.IsZero() {
		t.Fatalf("the old record's decision read as %+v", d)
	}

	in := IncidentDecisionSpec{Incident: "i", Decisions: []PolicyDecision{{Point: "triage", ID: "a", Input: "{}"}, {Point: "notify", ID: "b", Input: "{}"}}}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back IncidentDecisionSpec
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Decisions) != 2 || back.Decisions[1].ID != "b" {
		t.Fatalf("%s read back as %+v", raw, back)
	}
	if err := json.Unmarshal([]byte(`{"incident":"i","decisions":"not a list"}`), &back); err == nil {
		t.Fatal("a malformed record was read")
	}
}
