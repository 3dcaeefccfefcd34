package incident

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestPendingRoundTripAndBound(t *testing.T) {
	var st klaxonv1.IncidentStatus
	specs := []klaxonv1.IncidentDecisionSpec{
		{Incident: "i", Decisions: []klaxonv1.PolicyDecision{
			{Point: "triage", ID: "a", Input: `{"tenant":"t","incident":{"spec":{"title":"x"}}}`},
			{Point: "notify", ID: "a2", Input: `{"tenant":"t"}`}}},
		{Incident: "i", Decisions: []klaxonv1.PolicyDecision{{Point: "escalation", ID: "b", Input: `{"tenant":"t"}`}}},
	}
	fits, err := SetPending(&st, specs)
	if err != nil || !fits {
		t.Fatalf("SetPending = %v, %v", fits, err)
	}
	got, err := Pending(&st)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || RecordID(got[0]) != "a" || len(got[0].Decisions) != 2 ||
		got[0].Decisions[0].Input != specs[0].Decisions[0].Input || got[1].Decisions[0].Point != "escalation" {
		t.Fatalf("Pending = %+v", got)
	}
	if rest := WithoutStored(got, map[string]bool{"a": true}); len(rest) != 1 || RecordID(rest[0]) != "b" {
		t.Fatalf("WithoutStored = %+v", rest)
	}

	// Records that do not compress below the bound are refused, and status is left
	// as it was.
	noise := make([]byte, MaxPending)
	_, _ = rand.Read(noise)
	big := []klaxonv1.IncidentDecisionSpec{{Decisions: []klaxonv1.PolicyDecision{{ID: "c", Input: klaxonv1.JSONText(`"` + hex.EncodeToString(noise) + `"`)}}}}
	before := string(st.PendingDecisions)
	if fits, err := SetPending(&st, big); err != nil || fits {
		t.Fatalf("SetPending of %d random bytes = %v, %v; want it refused", len(noise), fits, err)
	}
	if string(st.PendingDecisions) != before {
		t.Fatal("a refused SetPending changed status")
	}
	if fits, _ := SetPending(&st, nil); !fits || st.PendingDecisions != nil {
		t.Fatal("SetPending of nothing must clear the field")
	}
	if _, err := Pending(&klaxonv1.IncidentStatus{PendingDecisions: []byte("not gzip")}); err == nil {
		t.Fatal("Pending of a corrupt field must fail")
	}
}
