package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IncidentTimelineSpec holds one segment of an incident's older timeline entries.
type IncidentTimelineSpec struct {
	// Incident is the name of the incident the entries belong to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Incident string `json:"incident"`

	// Sequence orders the segments of one incident, counting from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Sequence int32 `json:"sequence"`

	// Entries, oldest first.
	// +required
	// +kubebuilder:validation:MaxItems=500
	Entries []TimelineEntry `json:"entries"`
}

// IncidentTimeline is an archived segment of an incident's timeline. The controller
// moves the oldest entries here when the incident's own timeline reaches its bound,
// so the incident stays small and no history is lost. Owned by the incident.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=inctl,categories=klaxon
// +kubebuilder:printcolumn:name="Incident",type=string,JSONPath=`.spec.incident`
// +kubebuilder:printcolumn:name="Sequence",type=integer,JSONPath=`.spec.sequence`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IncidentTimeline struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IncidentTimelineSpec `json:"spec"`
}

// IncidentTimelineList is a list of IncidentTimelines.
// +kubebuilder:object:root=true
type IncidentTimelineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IncidentTimeline `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IncidentTimeline{}, &IncidentTimelineList{})
}
