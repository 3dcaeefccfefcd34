package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChannelType is the delivery backend of a NotificationChannel.
// +kubebuilder:validation:Enum=webhook;slack;msteams;email;pagerduty
type ChannelType string

// Channel types.
const (
	ChannelWebhook   ChannelType = "webhook"
	ChannelSlack     ChannelType = "slack"
	ChannelMSTeams   ChannelType = "msteams"
	ChannelEmail     ChannelType = "email"
	ChannelPagerDuty ChannelType = "pagerduty"
)

// Keys a NotificationChannel's Secret may hold. Which are required depends on the type.
const (
	// SecretKeyURL: the endpoint, for webhook (unless spec.webhook.url is set), slack
	// incoming webhooks and msteams.
	SecretKeyURL = "url"
	// SecretKeySigningKey: the HMAC key that signs webhook deliveries (optional).
	SecretKeySigningKey = "signingKey"
	// SecretKeyToken: a Slack bot token for chat.postMessage.
	SecretKeyToken = "token"
	// SecretKeyUsername and SecretKeyPassword: SMTP authentication (optional).
	SecretKeyUsername = "username"
	SecretKeyPassword = "password"
	// SecretKeyRoutingKey: a PagerDuty Events API v2 integration (routing) key.
	SecretKeyRoutingKey = "routingKey"
)

// WebhookChannel posts a signed JSON document to an HTTP endpoint.
type WebhookChannel struct {
	// URL to post to when it is not a secret; otherwise the Secret's "url" key.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url,omitempty"`
}

// SlackMode is how messages reach Slack.
// +kubebuilder:validation:Enum=IncomingWebhook;API
type SlackMode string

// Slack modes.
const (
	SlackIncomingWebhook SlackMode = "IncomingWebhook"
	SlackAPI             SlackMode = "API"
)

// SlackChannel posts Block Kit messages to Slack.
type SlackChannel struct {
	// Mode: IncomingWebhook (Secret key "url") or API (chat.postMessage with the
	// Secret key "token").
	// +optional
	// +kubebuilder:default=IncomingWebhook
	Mode SlackMode `json:"mode,omitempty"`

	// Channel ID to post to in API mode when the recipient gives no address.
	// +optional
	// +kubebuilder:validation:MaxLength=80
	Channel string `json:"channel,omitempty"`

	// APIURL overrides Slack's Web API base URL (tests, proxies).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	APIURL string `json:"apiURL,omitempty"`
}

// MSTeamsChannel posts Adaptive Cards to a Teams incoming webhook or Workflows URL
// (Secret key "url").
type MSTeamsChannel struct{}

// EmailTLS is how an SMTP connection is secured.
// +kubebuilder:validation:Enum=StartTLS;TLS;None
type EmailTLS string

// E-mail TLS modes.
const (
	EmailStartTLS EmailTLS = "StartTLS"
	EmailTLSOnly  EmailTLS = "TLS"
	EmailNoTLS    EmailTLS = "None"
)

// EmailChannel sends mail through an SMTP server.
type EmailChannel struct {
	// Host of the SMTP server.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// Port of the SMTP server.
	// +optional
	// +kubebuilder:default=587
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// From address.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=320
	From string `json:"from"`

	// TLS mode.
	// +optional
	// +kubebuilder:default=StartTLS
	TLS EmailTLS `json:"tls,omitempty"`

	// InsecureSkipVerify skips certificate checks (test servers only).
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// PagerDutyChannel sends Events API v2 trigger, acknowledge and resolve events
// (Secret key "routingKey").
type PagerDutyChannel struct {
	// URL of the Events API; PagerDuty's when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`
}

// RateLimit is a token bucket: a steady rate and a burst.
type RateLimit struct {
	// PerMinute is the steady rate of messages.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	PerMinute int32 `json:"perMinute"`

	// Burst is how many messages may go at once.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Burst int32 `json:"burst,omitempty"`
}

// NotificationChannelSpec declares a delivery channel. Secrets are referenced, never
// inlined.
// +kubebuilder:validation:XValidation:rule="self.type != 'email' || has(self.email)",message="an email channel needs spec.email (host and from)"
// +kubebuilder:validation:XValidation:rule="self.type != 'webhook' || (has(self.webhook) && has(self.webhook.url)) || has(self.secretRef)",message="a webhook channel needs spec.webhook.url or a secretRef whose Secret holds the url"
// +kubebuilder:validation:XValidation:rule="!(self.type in ['slack', 'msteams', 'pagerduty']) || has(self.secretRef)",message="slack, msteams and pagerduty channels need a secretRef"
type NotificationChannelSpec struct {
	// Type of channel.
	// +required
	Type ChannelType `json:"type"`

	// Description of the channel.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// SecretRef names a Secret in this namespace with the channel's credentials: url,
	// signingKey, token, username, password or routingKey, as the type needs.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// Webhook settings.
	// +optional
	Webhook *WebhookChannel `json:"webhook,omitempty"`

	// Slack settings.
	// +optional
	Slack *SlackChannel `json:"slack,omitempty"`

	// MSTeams settings.
	// +optional
	MSTeams *MSTeamsChannel `json:"msteams,omitempty"`

	// Email settings.
	// +optional
	Email *EmailChannel `json:"email,omitempty"`

	// PagerDuty settings.
	// +optional
	PagerDuty *PagerDutyChannel `json:"pagerduty,omitempty"`

	// RateLimit overrides the type's default (Slack 1/s, PagerDuty 120/min).
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// Timeout of one delivery attempt.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Timeout metav1.Duration `json:"timeout,omitempty"`
}

// NotificationChannelStatus is the observed state of a NotificationChannel.
type NotificationChannelStatus struct {
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

// NotificationChannel is a way to deliver messages: webhook, Slack, Teams, e-mail or
// PagerDuty.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nc,categories=klaxon
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NotificationChannel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec NotificationChannelSpec `json:"spec"`
	// +optional
	Status NotificationChannelStatus `json:"status,omitempty"`
}

// NotificationChannelList is a list of NotificationChannels.
// +kubebuilder:object:root=true
type NotificationChannelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NotificationChannel `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NotificationChannel{}, &NotificationChannelList{})
}

// GetConditions returns the status conditions.
func (o *NotificationChannel) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *NotificationChannel) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *NotificationChannel) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
