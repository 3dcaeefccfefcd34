package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ActionType is what an automated runbook step does.
// +kubebuilder:validation:Enum=webhook;kubernetes;notify;setStage
type ActionType string

// Runbook action types.
const (
	// ActionWebhook: a signed POST to an automation endpoint.
	ActionWebhook ActionType = "webhook"
	// ActionKubernetes: scale, patch, label or annotate a named object, as the
	// Runbook's ServiceAccount.
	ActionKubernetes ActionType = "kubernetes"
	// ActionNotify: message a stakeholder group.
	ActionNotify ActionType = "notify"
	// ActionSetStage: move the incident to another stage.
	ActionSetStage ActionType = "setStage"
)

// KubernetesOperation is what a kubernetes action does to its object.
// +kubebuilder:validation:Enum=scale;patch;label;annotate
type KubernetesOperation string

// Kubernetes operations.
const (
	OperationScale    KubernetesOperation = "scale"
	OperationPatch    KubernetesOperation = "patch"
	OperationLabel    KubernetesOperation = "label"
	OperationAnnotate KubernetesOperation = "annotate"
)

// RunbookSelector picks the incidents a runbook applies to; every field set must match.
type RunbookSelector struct {
	// Services the runbook covers; any when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Services []string `json:"services,omitempty"`

	// Categories the runbook covers; any when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Categories []string `json:"categories,omitempty"`

	// Severities the runbook covers; any when empty.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	Severities []Severity `json:"severities,omitempty"`

	// MatchLabels: alert labels (spec.source.labels) that must all have these values.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// WebhookAction calls an automation endpoint with a signed JSON body (the same
// signature as webhook notifications: HMAC-SHA256 of "<timestamp>.<body>").
// +kubebuilder:validation:XValidation:rule="has(self.url) || has(self.secretRef)",message="a webhook action needs url or a secretRef whose Secret holds url"
type WebhookAction struct {
	// URL to post to when it is not a secret; otherwise the Secret's "url" key.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url,omitempty"`

	// SecretRef holds "url" and the "signingKey" the body is signed with.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}

// KubernetesAction changes one named object in the incident's namespace, as the
// Runbook's ServiceAccount there.
// +kubebuilder:validation:XValidation:rule="self.operation != 'scale' || has(self.replicas)",message="scale needs replicas"
// +kubebuilder:validation:XValidation:rule="self.operation != 'patch' || has(self.patch)",message="patch needs patch, a JSON merge patch"
// +kubebuilder:validation:XValidation:rule="self.operation != 'label' || has(self.labels)",message="label needs labels"
// +kubebuilder:validation:XValidation:rule="self.operation != 'annotate' || has(self.annotations)",message="annotate needs annotations"
type KubernetesAction struct {
	// Operation to perform.
	// +required
	Operation KubernetesOperation `json:"operation"`

	// APIVersion of the object, e.g. apps/v1.
	// +required
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`

	// Kind of the object, e.g. Deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`

	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Replicas for scale.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// Patch (a JSON merge patch) for patch.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Patch string `json:"patch,omitempty"`

	// Labels to set (an empty value removes the label) for label.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations to set (an empty value removes it) for annotate.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NotifyAction messages a stakeholder group.
type NotifyAction struct {
	// GroupRef names the StakeholderGroup.
	// +required
	GroupRef ObjectReference `json:"groupRef"`

	// Message to send: a Go text/template over the same data as a stakeholder
	// group's templates ({{ .Incident.Title }}, {{ .Links.Incident }}, ...).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message"`
}

// RunbookAction is what an automated step does.
// +kubebuilder:validation:XValidation:rule="self.type != 'webhook' || has(self.webhook)",message="a webhook action needs webhook"
// +kubebuilder:validation:XValidation:rule="self.type != 'kubernetes' || has(self.kubernetes)",message="a kubernetes action needs kubernetes"
// +kubebuilder:validation:XValidation:rule="self.type != 'notify' || has(self.notify)",message="a notify action needs notify"
// +kubebuilder:validation:XValidation:rule="self.type != 'setStage' || has(self.setStage)",message="a setStage action needs setStage"
type RunbookAction struct {
	// Type of action.
	// +required
	Type ActionType `json:"type"`

	// Webhook settings.
	// +optional
	Webhook *WebhookAction `json:"webhook,omitempty"`

	// Kubernetes settings.
	// +optional
	Kubernetes *KubernetesAction `json:"kubernetes,omitempty"`

	// Notify settings.
	// +optional
	Notify *NotifyAction `json:"notify,omitempty"`

	// SetStage is the stage to move to.
	// +optional
	SetStage IncidentStage `json:"setStage,omitempty"`

	// DryRun runs the action without effect and records what it would have done:
	// kubernetes actions are sent with dryRun=All (the API server validates and
	// authorizes them and changes nothing); webhook, notify and setStage actions are
	// not sent at all.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// RunbookStep is one step of the response in one stage.
// +kubebuilder:validation:XValidation:rule="!has(self.automatic) || !self.automatic || has(self.action)",message="an automatic step needs an action"
type RunbookStep struct {
	// Name of the step, unique in the runbook.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Stage the step belongs to.
	// +required
	Stage IncidentStage `json:"stage"`

	// Guidance for responders, in Markdown.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Guidance string `json:"guidance,omitempty"`

	// Action the step takes, if any.
	// +optional
	Action *RunbookAction `json:"action,omitempty"`

	// Automatic steps run their action when the incident enters their stage (after
	// the policy allows it); the others are a checklist for responders.
	// +optional
	Automatic bool `json:"automatic,omitempty"`
}

// RunbookSpec declares the playbook for matching incidents.
// +kubebuilder:validation:XValidation:rule="self.steps.all(s, self.steps.exists_one(t, t.name == s.name))",message="step names must be unique"
// +kubebuilder:validation:XValidation:rule="!self.steps.exists(s, has(s.action) && s.action.type == 'kubernetes') || (has(self.serviceAccountName) && size(self.serviceAccountName) > 0)",message="kubernetes actions need serviceAccountName: they run as that ServiceAccount, never as Klaxon"
type RunbookSpec struct {
	// Description of the runbook.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Selector of the incidents the runbook applies to.
	// +optional
	Selector RunbookSelector `json:"selector,omitempty"`

	// ServiceAccountName is the ServiceAccount, in the incident's namespace, that
	// kubernetes actions run as (impersonated), so a tenant never acts with the
	// controller's rights nor outside its namespace. A provider's runbook (in the
	// system namespace) runs as the ServiceAccount of this name in each tenant's
	// namespace, so every tenant decides what it may do there.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// DryRun runs every action of the runbook as a dry run (see RunbookAction.DryRun):
	// a way to try a new runbook on real incidents.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// Steps of the response.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Steps []RunbookStep `json:"steps"`
}

// RunbookStatus is the observed state of a Runbook.
type RunbookStatus struct {
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

// Runbook is the per-stage playbook for matching incidents; some steps act by
// themselves.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rb,categories=klaxon
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Runbook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RunbookSpec `json:"spec"`
	// +optional
	Status RunbookStatus `json:"status,omitempty"`
}

// RunbookList is a list of Runbooks.
// +kubebuilder:object:root=true
type RunbookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Runbook `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Runbook{}, &RunbookList{})
}

// GetConditions returns the status conditions.
func (o *Runbook) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Runbook) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *Runbook) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
