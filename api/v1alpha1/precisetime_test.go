package v1alpha1

import (
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestPreciseTimeJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 40, 15, 412345678, time.UTC)
	st := EscalationStatus{NextEscalationAt: NewPreciseTime(at)}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"nextEscalationAt":"2026-11-27T08:40:15.412345Z"}`; string(raw) != want {
		t.Errorf("encoded %s, want %s", raw, want)
	}
	var back EscalationStatus
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !back.NextEscalationAt.Equal(at.Truncate(time.Microsecond)) {
		t.Errorf("read back %s, want %s", back.NextEscalationAt, at.Truncate(time.Microsecond))
	}

	// Written by earlier versions, to the second.
	if err := json.Unmarshal([]byte(`{"levelPagedAt":"2026-11-27T08:40:15Z"}`), &back); err != nil {
		t.Fatalf("a time without fractional seconds: %v", err)
	}
	if !back.LevelPagedAt.Equal(at.Truncate(time.Second)) {
		t.Errorf("read %s, want %s", back.LevelPagedAt, at.Truncate(time.Second))
	}
	if err := json.Unmarshal([]byte(`{"levelPagedAt":"yesterday"}`), &back); err == nil {
		t.Error("an unreadable time was accepted")
	}

	// The unstructured form (status patches are computed from it) is the same string.
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		t.Fatal(err)
	}
	if got := u["nextEscalationAt"]; got != "2026-11-27T08:40:15.412345Z" {
		t.Errorf("unstructured %v", got)
	}
	var fromU EscalationStatus
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, &fromU); err != nil {
		t.Fatal(err)
	}
	if !fromU.NextEscalationAt.Equal(at.Truncate(time.Microsecond)) {
		t.Errorf("from unstructured %s", fromU.NextEscalationAt)
	}
}
