package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TargetKind is what an escalation level pages.
// +kubebuilder:validation:Enum=Responder;OnCallSchedule;StakeholderGroup
type TargetKind string

// Escalation target kinds.
const (
	TargetResponder        TargetKind = "Responder"
	TargetOnCallSchedule   TargetKind = "OnCallSchedule"
	TargetStakeholderGroup TargetKind = "StakeholderGroup"
)

// EscalationTarget is whom a level pages: a person, whoever is on call on a schedule,
// or a stakeholder group.
type EscalationTarget struct {
	// Kind of target.
	// +required
	Kind TargetKind `json:"kind"`

	// Name of the target.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the target: empty for the policy's own, or the provider's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// EscalationLevel pages its targets once the previous level has had delay to
// acknowledge (the first level's delay counts from the trigger).
type EscalationLevel struct {
	// Delay after the previous level was paged (after the trigger, for the first
	// level) before this level is paged, if nobody has acknowledged.
	// +optional
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Delay metav1.Duration `json:"delay,omitempty"`

	// Targets paged at this level.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Targets []EscalationTarget `json:"targets"`
}

// EscalationPolicySpec declares how an unacknowledged incident escalates.
type EscalationPolicySpec struct {
	// Description of the policy.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Levels in order; every level needs at least one target.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Levels []EscalationLevel `json:"levels"`

	// Repeat is how many more times to run through all levels when the last level
	// goes unacknowledged.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Repeat int32 `json:"repeat,omitempty"`

	// RepeatAfter is the wait after the last level before the next cycle starts
	// again at the first level; the last level's own delay when empty.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	RepeatAfter *metav1.Duration `json:"repeatAfter,omitempty"`
}

// EscalationPolicyStatus is the observed state of an EscalationPolicy.
type EscalationPolicyStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EscalationPolicy is the ordered levels an unacknowledged incident climbs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ep,categories=klaxon
// +kubebuilder:printcolumn:name="Repeat",type=integer,JSONPath=`.spec.repeat`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EscalationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec EscalationPolicySpec `json:"spec"`
	// +optional
	Status EscalationPolicyStatus `json:"status,omitempty"`
}

// EscalationPolicyList is a list of EscalationPolicies.
// +kubebuilder:object:root=true
type EscalationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EscalationPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&EscalationPolicy{}, &EscalationPolicyList{})
}

// GetConditions returns the status conditions.
func (o *EscalationPolicy) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *EscalationPolicy) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *EscalationPolicy) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
