package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaintenanceAction is what happens to matching alerts during a window.
// +kubebuilder:validation:Enum=Suppress;Downgrade
type MaintenanceAction string

// Maintenance actions. Neither drops an alert silently: suppressed alerts are counted
// and recorded; downgraded ones open incidents at the lower severity.
const (
	MaintenanceSuppress  MaintenanceAction = "Suppress"
	MaintenanceDowngrade MaintenanceAction = "Downgrade"
)

// Recurrence repeats a window: it starts at every time the cron expression names, in
// the time zone, and lasts duration.
type Recurrence struct {
	// Cron expression (5 fields: minute hour day-of-month month day-of-week).
	// +required
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=128
	Cron string `json:"cron"`

	// Duration of each occurrence.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Duration metav1.Duration `json:"duration"`

	// TimeZone (IANA name) the cron expression is read in.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`
}

// MaintenanceSelector picks the alerts a window applies to; every field set must match.
type MaintenanceSelector struct {
	// MatchLabels: alert labels that must all have these values.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// Services the window covers; any when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Services []string `json:"services,omitempty"`

	// AlertSources (names in the window's namespace) the window covers; any when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	AlertSources []string `json:"alertSources,omitempty"`
}

// MaintenanceWindowSpec declares when alerts are expected and what to do with them.
// +kubebuilder:validation:XValidation:rule="has(self.recurrence) != (has(self.start) && has(self.end))",message="a maintenance window is either one-off (start and end) or recurring (recurrence), not both"
// +kubebuilder:validation:XValidation:rule="!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)",message="a maintenance window's end must be after its start"
// +kubebuilder:validation:XValidation:rule="self.action != 'Downgrade' || has(self.downgradeTo)",message="action Downgrade needs downgradeTo"
type MaintenanceWindowSpec struct {
	// Description of the maintenance.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Start of a one-off window.
	// +optional
	Start *metav1.Time `json:"start,omitempty"`

	// End of a one-off window.
	// +optional
	End *metav1.Time `json:"end,omitempty"`

	// Recurrence of a recurring window.
	// +optional
	Recurrence *Recurrence `json:"recurrence,omitempty"`

	// Selector of the alerts covered.
	// +optional
	Selector MaintenanceSelector `json:"selector,omitempty"`

	// Action on matching alerts.
	// +optional
	// +kubebuilder:default=Suppress
	Action MaintenanceAction `json:"action,omitempty"`

	// DowngradeTo is the severity of downgraded alerts.
	// +optional
	DowngradeTo Severity `json:"downgradeTo,omitempty"`
}

// MaintenanceWindowStatus says whether the window is active and what it did.
type MaintenanceWindowStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Active is true while the window is open.
	// +optional
	Active bool `json:"active,omitempty"`

	// NextStart is when the window next opens.
	// +optional
	NextStart *metav1.Time `json:"nextStart,omitempty"`

	// NextEnd is when the current or next occurrence closes.
	// +optional
	NextEnd *metav1.Time `json:"nextEnd,omitempty"`

	// Suppressed counts alerts suppressed by the window.
	// +optional
	Suppressed int64 `json:"suppressed,omitempty"`

	// Downgraded counts alerts downgraded by the window.
	// +optional
	Downgraded int64 `json:"downgraded,omitempty"`
}

// MaintenanceWindow is a time in which matching alerts are suppressed or downgraded.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mw,categories=klaxon
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Active",type=boolean,JSONPath=`.status.active`
// +kubebuilder:printcolumn:name="Next Start",type=string,JSONPath=`.status.nextStart`
// +kubebuilder:printcolumn:name="Suppressed",type=integer,JSONPath=`.status.suppressed`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MaintenanceWindow struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec MaintenanceWindowSpec `json:"spec"`
	// +optional
	Status MaintenanceWindowStatus `json:"status,omitempty"`
}

// MaintenanceWindowList is a list of MaintenanceWindows.
// +kubebuilder:object:root=true
type MaintenanceWindowList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MaintenanceWindow `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MaintenanceWindow{}, &MaintenanceWindowList{})
}

// GetConditions returns the status conditions.
func (o *MaintenanceWindow) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *MaintenanceWindow) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *MaintenanceWindow) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
