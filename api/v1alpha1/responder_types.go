package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ContactMethod is one way to reach a person: a NotificationChannel and the person's
// address on it.
type ContactMethod struct {
	// Name labels the method, e.g. "work email" or "phone".
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// ChannelRef names the NotificationChannel that delivers to this method.
	// +required
	ChannelRef ObjectReference `json:"channelRef"`

	// Address of the person on that channel: an e-mail address, a Slack member or
	// channel ID. Empty for channels that address one destination (a webhook,
	// a PagerDuty service).
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Address string `json:"address,omitempty"`
}

// ResponderSpec describes a person who can be paged.
type ResponderSpec struct {
	// DisplayName of the person.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DisplayName string `json:"displayName"`

	// TimeZone of the person (IANA name, e.g. Europe/Berlin), used in messages to them.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// ContactMethods in order of preference; when one fails for good the next is tried.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	ContactMethods []ContactMethod `json:"contactMethods"`
}

// ResponderStatus is the observed state of a Responder.
type ResponderStatus struct {
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

// Responder is a person who responds to incidents and how to reach them.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rsp,categories=klaxon
// +kubebuilder:printcolumn:name="Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Responder struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ResponderSpec `json:"spec"`
	// +optional
	Status ResponderStatus `json:"status,omitempty"`
}

// ResponderList is a list of Responders.
// +kubebuilder:object:root=true
type ResponderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Responder `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Responder{}, &ResponderList{})
}

// GetConditions returns the status conditions.
func (o *Responder) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Responder) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *Responder) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
