package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Weekday is a day of the week.
// +kubebuilder:validation:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
type Weekday string

// Restriction limits a layer to a window that recurs on some days, in the schedule's
// time zone. An end at or before the start crosses midnight; 00:00-00:00 is the whole
// day.
type Restriction struct {
	// DaysOfWeek the window starts on; empty means every day.
	// +optional
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	DaysOfWeek []Weekday `json:"daysOfWeek,omitempty"`

	// StartTime of the window, HH:MM.
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	StartTime string `json:"startTime"`

	// EndTime of the window, HH:MM.
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	EndTime string `json:"endTime"`
}

// ScheduleLayer is one rotation: responders take turns, each for rotationLength,
// handing off at handoffTime in the schedule's time zone. Rotations of whole days hand
// off at the same wall-clock time across daylight-saving changes.
type ScheduleLayer struct {
	// Name of the layer, e.g. "primary" or "weekend". "override" is reserved: status
	// names it as the source of an override.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self != 'override'",message="the layer name \"override\" is reserved for overrides"
	Name string `json:"name"`

	// Start is the date (YYYY-MM-DD, in the schedule's time zone) of the first shift;
	// it begins at handoffTime with the first responder.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	Start string `json:"start"`

	// End is the date (YYYY-MM-DD) at whose handoffTime the layer stops; empty for never.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	End string `json:"end,omitempty"`

	// HandoffTime is the wall-clock time (HH:MM) shifts change.
	// +optional
	// +kubebuilder:default="09:00"
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	HandoffTime string `json:"handoffTime,omitempty"`

	// RotationLength is how long each responder's shift lasts, e.g. 24h or 168h.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	RotationLength metav1.Duration `json:"rotationLength,omitempty"`

	// Responders take turns in this order.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	Responders []ObjectReference `json:"responders"`

	// Restrictions limit the layer to these windows; outside them the layer is empty
	// and lower layers show through. Empty means always.
	// +optional
	// +kubebuilder:validation:MaxItems=14
	Restrictions []Restriction `json:"restrictions,omitempty"`
}

// ScheduleOverride puts one responder on call for a time, above every layer.
// +kubebuilder:validation:XValidation:rule="timestamp(self.end) > timestamp(self.start)",message="an override's end must be after its start"
type ScheduleOverride struct {
	// Responder on call during the override.
	// +required
	Responder ObjectReference `json:"responder"`

	// Start of the override.
	// +required
	Start metav1.Time `json:"start"`

	// End of the override.
	// +required
	End metav1.Time `json:"end"`

	// Reason for the override, e.g. "covering for Bob".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Reason string `json:"reason,omitempty"`
}

// OnCallScheduleSpec declares who is on call when.
// +kubebuilder:validation:XValidation:rule="self.layers.all(l, self.layers.exists_one(m, m.name == l.name))",message="layer names must be unique"
type OnCallScheduleSpec struct {
	// Description of the schedule.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// TimeZone (IANA name) in which layers' dates, handoff times and restrictions are
	// read.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// Layers in order; a later layer's responder wins over an earlier layer's.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Layers []ScheduleLayer `json:"layers"`

	// Overrides win over every layer while they last.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Overrides []ScheduleOverride `json:"overrides,omitempty"`
}

// OnCallScheduleStatus publishes who is on call now and who is next.
type OnCallScheduleStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// OnCall are the responders on call now.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	OnCall []string `json:"onCall,omitempty"`

	// Layer that put them on call ("override" for an override).
	// +optional
	Layer string `json:"layer,omitempty"`

	// NextHandoff is when the on-call responders next change.
	// +optional
	NextHandoff *metav1.Time `json:"nextHandoff,omitempty"`

	// NextOnCall are the responders on call after the next handoff.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	NextOnCall []string `json:"nextOnCall,omitempty"`
}

// OnCallSchedule is a layered rotation with restrictions, overrides and a time zone.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oncall,categories=klaxon
// +kubebuilder:printcolumn:name="On Call",type=string,JSONPath=`.status.onCall[*]`
// +kubebuilder:printcolumn:name="Next Handoff",type=string,JSONPath=`.status.nextHandoff`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OnCallSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec OnCallScheduleSpec `json:"spec"`
	// +optional
	Status OnCallScheduleStatus `json:"status,omitempty"`
}

// OnCallScheduleList is a list of OnCallSchedules.
// +kubebuilder:object:root=true
type OnCallScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OnCallSchedule `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OnCallSchedule{}, &OnCallScheduleList{})
}

// GetConditions returns the status conditions.
func (o *OnCallSchedule) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *OnCallSchedule) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *OnCallSchedule) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
