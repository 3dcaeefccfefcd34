package v1alpha1

import (
	"encoding/json"
	"fmt"
	"time"
)

// PreciseTime is an instant kept to the microsecond, for the escalation deadlines:
// metav1.Time keeps whole seconds, which would make every incident triggered in
// one second page at the same instant, and would round a deadline away from when
// the incident really started. Unlike metav1.MicroTime it also reads times without
// fractional seconds, as these fields were written before.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:Format=date-time
// +kubebuilder:object:generate=false
type PreciseTime struct {
	time.Time `json:"-"`
}

// preciseLayout is RFC 3339 with microseconds, as metav1.MicroTime writes it.
const preciseLayout = "2006-01-02T15:04:05.000000Z07:00"

// NewPreciseTime returns t, to the microsecond, as a pointer for an optional field.
func NewPreciseTime(t time.Time) *PreciseTime {
	return &PreciseTime{Time: t.Truncate(time.Microsecond)}
}

// DeepCopyInto copies t into out.
func (t *PreciseTime) DeepCopyInto(out *PreciseTime) { *out = *t }

// DeepCopy returns a copy of t.
func (t *PreciseTime) DeepCopy() *PreciseTime {
	if t == nil {
		return nil
	}
	out := *t
	return &out
}

// MarshalJSON writes RFC 3339 with microseconds in UTC, or null for the zero time.
func (t PreciseTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(preciseLayout))
}

// UnmarshalJSON reads RFC 3339 with or without fractional seconds.
func (t *PreciseTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	// RFC3339 accepts a fractional second when parsing.
	pt, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("reading time %q: %w", s, err)
	}
	t.Time = pt.Local()
	return nil
}

// ToUnstructured is what the unstructured converter stores for t.
func (t PreciseTime) ToUnstructured() any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(preciseLayout)
}

// OpenAPISchemaType and OpenAPISchemaFormat describe t to OpenAPI generators.
func (PreciseTime) OpenAPISchemaType() []string { return []string{"string"} }

// OpenAPISchemaFormat is date-time.
func (PreciseTime) OpenAPISchemaFormat() string { return "date-time" }
