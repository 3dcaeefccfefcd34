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
