package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HeartbeatState is whether pings arrive.
// +kubebuilder:validation:Enum=Pending;Up;Down
type HeartbeatState string

// Heartbeat states.
const (
	// HeartbeatPending: no ping yet since the heartbeat was created.
	HeartbeatPending HeartbeatState = "Pending"
	// HeartbeatUp: the last ping came within interval and grace.
	HeartbeatUp HeartbeatState = "Up"
	// HeartbeatDown: a ping is overdue; an incident is open.
	HeartbeatDown HeartbeatState = "Down"
)

// HeartbeatSpec declares a monitor that expects a ping every interval on
// POST|GET /api/v1/heartbeats/{namespace}/{name}.
type HeartbeatSpec struct {
	// Description of what pings.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Interval between expected pings.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Interval metav1.Duration `json:"interval"`

	// Grace after a missed interval before the heartbeat is down.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Grace metav1.Duration `json:"grace,omitempty"`

	// Auth authenticates pings.
	// +required
	Auth EndpointAuth `json:"auth"`

	// Severity of the incident a missed ping opens.
	// +optional
	// +kubebuilder:default=SEV2
	Severity Severity `json:"severity,omitempty"`

	// Title of that incident; "heartbeat <name> missed" when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Title string `json:"title,omitempty"`

	// Service the heartbeat watches.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Service string `json:"service,omitempty"`

	// EscalationPolicyRef for the incident; triage decides when empty.
	// +optional
	EscalationPolicyRef *ObjectReference `json:"escalationPolicyRef,omitempty"`
}

// HeartbeatStatus shows the last ping and the state.
type HeartbeatStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// State of the heartbeat.
	// +optional
	State HeartbeatState `json:"state,omitempty"`

	// LastPingAt is when the last ping arrived.
	// +optional
	LastPingAt *metav1.Time `json:"lastPingAt,omitempty"`

	// DeadlineAt is when the heartbeat goes down without another ping.
	// +optional
	DeadlineAt *metav1.Time `json:"deadlineAt,omitempty"`

	// Incident is the open incident of a down heartbeat.
	// +optional
	Incident string `json:"incident,omitempty"`
}

// Heartbeat is a monitor that expects a ping every interval; a missed ping opens an
// incident and the next ping resolves it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hb,categories=klaxon
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Last Ping",type=date,JSONPath=`.status.lastPingAt`
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.interval`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Heartbeat struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec HeartbeatSpec `json:"spec"`
	// +optional
	Status HeartbeatStatus `json:"status,omitempty"`
}

// HeartbeatList is a list of Heartbeats.
// +kubebuilder:object:root=true
type HeartbeatList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Heartbeat `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Heartbeat{}, &HeartbeatList{})
}

// GetConditions returns the status conditions.
func (o *Heartbeat) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Heartbeat) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *Heartbeat) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
