package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Audience is who a stakeholder group is; it picks the built-in message templates
// (customers get plain language without internals, responders every detail).
// +kubebuilder:validation:Enum=responders;engineering;security;management;executives;customer-service;customers;legal;regulators;partners
type Audience string

// Audiences.
const (
	AudienceResponders      Audience = "responders"
	AudienceEngineering     Audience = "engineering"
	AudienceSecurity        Audience = "security"
	AudienceManagement      Audience = "management"
	AudienceExecutives      Audience = "executives"
	AudienceCustomerService Audience = "customer-service"
	AudienceCustomers       Audience = "customers"
	AudienceLegal           Audience = "legal"
	AudienceRegulators      Audience = "regulators"
	AudiencePartners        Audience = "partners"
)

// GroupChannel is a destination that reaches the whole group: a Slack channel, a
// distribution list, a status page webhook.
type GroupChannel struct {
	// ChannelRef names the NotificationChannel.
	// +required
	ChannelRef ObjectReference `json:"channelRef"`

	// Address on that channel: a Slack channel ID, a list's e-mail address; empty for
	// channels with one destination.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Address string `json:"address,omitempty"`
}

// MessageTemplate overrides the built-in message for this group, for one event and
// channel type or for all of them (text/template with sprig functions).
type MessageTemplate struct {
	// Event the template is for; empty for every event.
	// +optional
	Event IncidentEvent `json:"event,omitempty"`

	// ChannelType the template is for; empty for every type.
	// +optional
	ChannelType ChannelType `json:"channelType,omitempty"`

	// Subject line (e-mail subject, chat headline).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject,omitempty"`

	// Body of the message: Markdown for chat, plain text for e-mail.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	Body string `json:"body"`

	// HTMLBody is the HTML part of e-mail; rendered from body when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	HTMLBody string `json:"htmlBody,omitempty"`
}

// StakeholderGroupSpec declares an audience, how to reach it and what it hears.
// +kubebuilder:validation:XValidation:rule="(has(self.members) && size(self.members) > 0) || (has(self.channels) && size(self.channels) > 0)",message="a stakeholder group needs at least one member or channel"
type StakeholderGroupSpec struct {
	// Audience of the group.
	// +required
	Audience Audience `json:"audience"`

	// Description of the group.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Members are Responders reached through their own contact methods.
	// +optional
	// +kubebuilder:validation:MaxItems=200
	Members []ObjectReference `json:"members,omitempty"`

	// Channels reach the whole group at once.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Channels []GroupChannel `json:"channels,omitempty"`

	// NotifyOn are the events the group hears about.
	// +optional
	// +kubebuilder:default={Triggered,Resolved}
	// +kubebuilder:validation:MaxItems=6
	// +listType=set
	NotifyOn []IncidentEvent `json:"notifyOn,omitempty"`

	// MinSeverity is the least severe incident the group hears about: SEV2 means SEV1
	// and SEV2. Empty for all.
	// +optional
	MinSeverity Severity `json:"minSeverity,omitempty"`

	// Categories the group hears about; empty for all.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=63
	Categories []string `json:"categories,omitempty"`

	// Templates override the audience's built-in messages.
	// +optional
	// +kubebuilder:validation:MaxItems=40
	Templates []MessageTemplate `json:"templates,omitempty"`
}

// StakeholderGroupStatus is the observed state of a StakeholderGroup.
type StakeholderGroupStatus struct {
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

// StakeholderGroup is an audience: its members and channels, which events it hears,
// and the words it hears them in.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sg,categories=klaxon
// +kubebuilder:printcolumn:name="Audience",type=string,JSONPath=`.spec.audience`
// +kubebuilder:printcolumn:name="Min Severity",type=string,JSONPath=`.spec.minSeverity`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StakeholderGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec StakeholderGroupSpec `json:"spec"`
	// +optional
	Status StakeholderGroupStatus `json:"status,omitempty"`
}

// StakeholderGroupList is a list of StakeholderGroups.
// +kubebuilder:object:root=true
type StakeholderGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StakeholderGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&StakeholderGroup{}, &StakeholderGroupList{})
}

// GetConditions returns the status conditions.
func (o *StakeholderGroup) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *StakeholderGroup) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *StakeholderGroup) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
