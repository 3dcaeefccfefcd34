package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IncidentPolicySpec holds Rego modules (package klaxon.*) evaluated at Klaxon's
// decision points, the data they read, and their tests. Policies in the provider's
// namespace apply to every tenant; a tenant's apply to its own namespace.
type IncidentPolicySpec struct {
	// Description of the policy.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Modules maps a file name (e.g. triage.rego) to Rego source.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=32
	Modules map[string]string `json:"modules"`

	// Data is JSON the modules read under data.klaxon.config (a service map, say).
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Data *apiextensionsv1.JSON `json:"data,omitempty"`

	// Tests maps a file name (e.g. triage_test.rego) to Rego test modules; admission
	// runs them and refuses the policy when one fails.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Tests map[string]string `json:"tests,omitempty"`
}

// PolicyError is one problem the compiler or a test found.
type PolicyError struct {
	// File is the module's name.
	// +optional
	File string `json:"file,omitempty"`
	// Line in the file, from 1.
	// +optional
	Line int32 `json:"line,omitempty"`
	// Column in the line, from 1.
	// +optional
	Column int32 `json:"column,omitempty"`
	// Message from the compiler or the failing test.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// IncidentPolicyStatus says whether the policy is in force.
type IncidentPolicyStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the policy compiled and is in force), Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Revision is the hash of the modules and data in force. When the latest spec
	// does not compile, the previous revision stays in force and Errors say why.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision,omitempty"`

	// Errors of the latest spec, with file, line and column.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Errors []PolicyError `json:"errors,omitempty"`
}

// IncidentPolicy is Rego that decides triage, escalation, notification, runbook
// actions and admission, changed by pull request and tested like code.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ipol,categories=klaxon
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IncidentPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IncidentPolicySpec `json:"spec"`
	// +optional
	Status IncidentPolicyStatus `json:"status,omitempty"`
}

// IncidentPolicyList is a list of IncidentPolicies.
// +kubebuilder:object:root=true
type IncidentPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IncidentPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IncidentPolicy{}, &IncidentPolicyList{})
}

// GetConditions returns the status conditions.
func (o *IncidentPolicy) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *IncidentPolicy) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *IncidentPolicy) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
