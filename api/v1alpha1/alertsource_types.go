package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AlertFormat is the payload an alert source sends.
// +kubebuilder:validation:Enum=Alertmanager;Generic;CloudEvents
type AlertFormat string

// Alert formats.
const (
	// FormatAlertmanager: the Prometheus Alertmanager webhook payload, version 4.
	FormatAlertmanager AlertFormat = "Alertmanager"
	// FormatGeneric: any JSON document, mapped with JSONPath (spec.mapping).
	FormatGeneric AlertFormat = "Generic"
	// FormatCloudEvents: a CloudEvent in structured or binary mode; data is mapped
	// like Generic.
	FormatCloudEvents AlertFormat = "CloudEvents"
)

// AuthType is how a sender proves who it is.
// +kubebuilder:validation:Enum=Bearer;Basic;HMAC
type AuthType string

// Authentication types and the Secret keys each reads. During a key rotation both the
// current and the previous value are accepted.
const (
	// AuthBearer: "Authorization: Bearer <token>"; keys token, previousToken.
	AuthBearer AuthType = "Bearer"
	// AuthBasic: HTTP basic auth; keys username, password, previousPassword.
	AuthBasic AuthType = "Basic"
	// AuthHMAC: an HMAC-SHA256 signature "sha256=<hex>" over "<timestamp>.<body>" in
	// the signature header, the Unix timestamp in the timestamp header, refused
	// outside a 5-minute window; keys key, previousKey.
	AuthHMAC AuthType = "HMAC"
)

// Secret keys read by endpoint authentication.
const (
	SecretKeyAuthToken         = "token"
	SecretKeyAuthPreviousToken = "previousToken"
	SecretKeyAuthPrevPassword  = "previousPassword"
	SecretKeyHMACKey           = "key"
	SecretKeyHMACPreviousKey   = "previousKey"
)

// Labels and annotations intake puts on the Incidents it opens. The labels let
// `kubectl get incidents -l klaxon.dev/alertsource=<name>` find a source's incidents and
// let intake find the current incident of an alert group; the annotations hold what
// intake must know durably about the alerts themselves.
const (
	// LabelAlertSource names the AlertSource that opened the incident (set when the
	// name fits a label value, 63 characters).
	LabelAlertSource = "klaxon.dev/alertsource"
	// LabelHeartbeat names the Heartbeat whose missed ping opened the incident (set
	// when the name fits a label value).
	LabelHeartbeat = "klaxon.dev/heartbeat"
	// LabelAlertGroup identifies the alert group (a hash of the source and the group
	// key) whose alerts the incident deduplicates.
	LabelAlertGroup = "klaxon.dev/alert-group"
	// LabelAlertGroupSeq is the incident's sequence number within its group: 0 for the
	// first incident, one more for each incident opened after the previous one closed.
	LabelAlertGroupSeq = "klaxon.dev/alert-group-seq"
	// AnnotationFiring lists, as a JSON array, the fingerprints of the incident's alerts
	// that are firing; it decides when resolved alerts resolve the incident. Intake
	// writes it in the same request as the change of state it causes.
	AnnotationFiring = "klaxon.dev/firing"
	// AnnotationFiringOverflow is "true" when more alerts fired than AnnotationFiring
	// tracks; resolveWhen AllResolved then leaves the resolution to a person.
	AnnotationFiringOverflow = "klaxon.dev/firing-overflow"
	// AnnotationDowngradedBy names the MaintenanceWindow ("MaintenanceWindow/<ns>/<name>")
	// whose Downgrade set the severity of an incident intake opened.
	AnnotationDowngradedBy = "klaxon.dev/downgraded-by"
)

// EndpointAuth authenticates requests to an intake endpoint with credentials from a
// Secret in the endpoint's namespace.
type EndpointAuth struct {
	// Type of authentication.
	// +required
	Type AuthType `json:"type"`

	// SecretRef names the Secret with the credentials.
	// +required
	SecretRef SecretReference `json:"secretRef"`

	// SignatureHeader carries the HMAC signature.
	// +optional
	// +kubebuilder:default=X-Klaxon-Signature
	// +kubebuilder:validation:MaxLength=128
	SignatureHeader string `json:"signatureHeader,omitempty"`

	// TimestampHeader carries the Unix timestamp the HMAC covers.
	// +optional
	// +kubebuilder:default=X-Klaxon-Timestamp
	// +kubebuilder:validation:MaxLength=128
	TimestampHeader string `json:"timestampHeader,omitempty"`
}

// AlertMapping says where a Generic or CloudEvents payload keeps each field, as
// JSONPath expressions (k8s.io/client-go/util/jsonpath syntax, e.g. {.alert.title}).
type AlertMapping struct {
	// Alerts selects the list of alerts in a payload that carries several; the whole
	// document is one alert when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Alerts string `json:"alerts,omitempty"`

	// Title of the alert.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Title string `json:"title"`

	// Severity as the sender names it; severityMap translates it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Severity string `json:"severity,omitempty"`

	// Service affected.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Service string `json:"service,omitempty"`

	// Fingerprint identifies the alert across firing and resolved notifications; a
	// hash of the title and labels when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Fingerprint string `json:"fingerprint,omitempty"`

	// Status of the alert; a value in resolvedValues means resolved.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Status string `json:"status,omitempty"`

	// Description of the alert.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`

	// Labels is an object of string values to use as the alert's labels.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Labels string `json:"labels,omitempty"`

	// ResolvedValues of status that mean the alert is resolved (case-insensitive).
	// +optional
	// +kubebuilder:default={resolved,ok,closed}
	// +kubebuilder:validation:MaxItems=10
	ResolvedValues []string `json:"resolvedValues,omitempty"`
}

// ResolvePolicy says when resolved alerts resolve their incident.
// +kubebuilder:validation:Enum=AllResolved;AnyResolved;Never
type ResolvePolicy string

// Resolve policies.
const (
	ResolveAllResolved ResolvePolicy = "AllResolved"
	ResolveAnyResolved ResolvePolicy = "AnyResolved"
	ResolveNever       ResolvePolicy = "Never"
)

// AlertSourceSpec declares an authenticated intake endpoint,
// POST /api/v1/alerts/{namespace}/{name}, and how its alerts become incidents.
// +kubebuilder:validation:XValidation:rule="self.format == 'Alertmanager' || has(self.mapping)",message="Generic and CloudEvents sources need spec.mapping"
type AlertSourceSpec struct {
	// Format of the payload.
	// +required
	Format AlertFormat `json:"format"`

	// Description of the source.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Auth authenticates senders.
	// +required
	Auth EndpointAuth `json:"auth"`

	// Mapping of Generic and CloudEvents payloads.
	// +optional
	Mapping *AlertMapping `json:"mapping,omitempty"`

	// GroupBy labels: alerts with equal values attach to one incident. Empty uses the
	// sender's fingerprint (Alertmanager's groupKey for Alertmanager sources).
	// +optional
	// +kubebuilder:validation:MaxItems=20
	GroupBy []string `json:"groupBy,omitempty"`

	// SeverityMap translates the sender's severities (label "severity" for
	// Alertmanager) to Klaxon's, e.g. critical: SEV1.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	SeverityMap map[string]Severity `json:"severityMap,omitempty"`

	// DefaultSeverity suggested when an alert names none.
	// +optional
	DefaultSeverity Severity `json:"defaultSeverity,omitempty"`

	// Service of incidents when the alert names none.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Service string `json:"service,omitempty"`

	// EscalationPolicyRef for incidents from this source; triage decides when empty.
	// +optional
	EscalationPolicyRef *ObjectReference `json:"escalationPolicyRef,omitempty"`

	// ResolveWhen resolved alerts resolve the incident.
	// +optional
	// +kubebuilder:default=AllResolved
	ResolveWhen ResolvePolicy `json:"resolveWhen,omitempty"`

	// FlapWindow: a group that fires again this soon after its incident resolved
	// reopens it instead of opening a new one.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	FlapWindow metav1.Duration `json:"flapWindow,omitempty"`

	// RateLimit of requests; over it the source gets 429 (503 for Alertmanager).
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// MaxBodyBytes is the largest request accepted; larger ones get 413.
	// +optional
	// +kubebuilder:default=1048576
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=16777216
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
}

// AlertSourceStatus is what the source has received.
type AlertSourceStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the Secret is there and complete), Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Endpoint is the path senders post to.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// LastReceivedAt is when an accepted request last arrived.
	// +optional
	LastReceivedAt *metav1.Time `json:"lastReceivedAt,omitempty"`
}

// AlertSource is an authenticated intake endpoint for a monitoring tool, and how its
// alerts map to incidents.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=as,categories=klaxon
// +kubebuilder:printcolumn:name="Format",type=string,JSONPath=`.spec.format`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AlertSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec AlertSourceSpec `json:"spec"`
	// +optional
	Status AlertSourceStatus `json:"status,omitempty"`
}

// AlertSourceList is a list of AlertSources.
// +kubebuilder:object:root=true
type AlertSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertSource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AlertSource{}, &AlertSourceList{})
}

// GetConditions returns the status conditions.
func (o *AlertSource) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *AlertSource) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *AlertSource) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
