package v1alpha1

import (
	"encoding/json"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IncidentDecisionSpec records the policy decisions one reconcile took for an
// incident, each with its input, so the post-mortem record can hold them and a changed
// policy can be replayed against them. One object for the decisions taken together
// (triage, escalation and notify, say) costs the API server one write instead of one
// for each.
type IncidentDecisionSpec struct {
	// Incident is the name of the incident decided about.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Incident string `json:"incident"`

	// Summary of the decisions, "point: outcome" each, for `kubectl get incdec`.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Summary string `json:"summary,omitempty"`

	// Decisions in the order they were taken.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Decisions []PolicyDecision `json:"decisions"`
}

// PolicyDecision is one decision at a decision point, with the input the policies saw.
type PolicyDecision struct {
	// Point is the decision point: triage, escalation, notify, actions, redact.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Point string `json:"point"`

	// ID of the decision, as in the incident's status.decisions.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// Time of the decision: the `now` of its input.
	// +required
	Time metav1.Time `json:"time"`

	// Summary of the outcome.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Summary string `json:"summary,omitempty"`

	// Input the policies saw, as the JSON text they evaluated: replay it with
	// `kubectl get incdec NAME -o jsonpath='{.spec.decisions[?(@.id=="ID")].input}' | opa eval --stdin-input ...`.
	// +required
	Input JSONText `json:"input"`

	// Output is the merged decision.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Output *apiextensionsv1.JSON `json:"output,omitempty"`

	// Fallback is true when a provider's or tenant's policy failed and the built-in
	// default decided.
	// +optional
	Fallback bool `json:"fallback,omitempty"`

	// Errors of the policies that failed.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Errors []string `json:"errors,omitempty"`
}

// IncidentDecision records the policy decisions one reconcile took about an incident,
// with their inputs. Owned by the incident.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=incdec,categories=klaxon
// +kubebuilder:printcolumn:name="Incident",type=string,JSONPath=`.spec.incident`
// +kubebuilder:printcolumn:name="Decisions",type=string,JSONPath=`.spec.summary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IncidentDecision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Unknown fields are kept: records written before spec.decisions held their one
	// decision's fields in spec itself, and IncidentDecisionSpec still reads them.
	// +required
	// +kubebuilder:pruning:PreserveUnknownFields
	Spec IncidentDecisionSpec `json:"spec"`
}

// UnmarshalJSON reads a record, and one written before spec.decisions (its one
// decision's fields in spec itself) as a record of that decision.
func (s *IncidentDecisionSpec) UnmarshalJSON(b []byte) error {
	type plain IncidentDecisionSpec
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if len(p.Decisions) == 0 {
		var one PolicyDecision
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		if one.ID != "" {
			p.Decisions = []PolicyDecision{one}
		}
	}
	*s = IncidentDecisionSpec(p)
	return nil
}

// IncidentDecisionList is a list of IncidentDecisions.
// +kubebuilder:object:root=true
type IncidentDecisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IncidentDecision `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IncidentDecision{}, &IncidentDecisionList{})
}

// JSONText is a JSON document kept as a string. The API server stores and serves it
// as one value instead of decoding it into a tree of fields it would validate, copy,
// encode and hold in its watch cache field by field: a decision's input is an
// incident's worth of fields, and a record holds one for each of its decisions.
//
// It also reads the object form that records written before it had.
// +kubebuilder:validation:Type=string
type JSONText string

// UnmarshalJSON takes a JSON string, or (older records) any other JSON value as text.
func (t *JSONText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = JSONText(s)
		return nil
	}
	*t = JSONText(b)
	return nil
}
