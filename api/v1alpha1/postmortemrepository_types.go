package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommitMode is how records reach the repository.
// +kubebuilder:validation:Enum=Direct;PullRequest
type CommitMode string

// Commit modes.
const (
	// CommitDirect commits to the branch.
	CommitDirect CommitMode = "Direct"
	// CommitPullRequest pushes a branch postmortem/<namespace>/<name> per incident and
	// opens a pull or merge request when a forge is configured.
	CommitPullRequest CommitMode = "PullRequest"
)

// ForgeType is the hosting service whose API opens pull requests.
// +kubebuilder:validation:Enum=GitHub;GitLab
type ForgeType string

// Forges.
const (
	ForgeGitHub ForgeType = "GitHub"
	ForgeGitLab ForgeType = "GitLab"
)

// Secret keys a PostmortemRepository reads, besides SecretKeyUsername and
// SecretKeyPassword (basic auth over https; a token as the password works for GitHub
// and GitLab), SecretKeySigningKey (an armored OpenPGP private key that signs commits)
// and SecretKeyToken (the forge's API token).
const (
	// SecretKeySSHPrivateKey and SecretKeyKnownHosts: ssh remotes.
	SecretKeySSHPrivateKey = "identity"
	SecretKeyKnownHosts    = "known_hosts"
	// SecretKeyPassphrase unlocks the signing key.
	SecretKeyPassphrase = "passphrase"
)

// DefaultRetention is how long a resolved incident whose record is committed stays
// in the API server when spec.retention is unset: 30 days.
const DefaultRetention = 30 * 24 * time.Hour

// The post-mortem controller's marks on Incidents.
const (
	// FinalizerPostmortem keeps an Incident whose post-mortem record is not committed
	// yet from being deleted. It is on an Incident only while the record of its
	// current spec is not in git, and only where a PostmortemRepository applies.
	FinalizerPostmortem = "klaxon.dev/postmortem"
	// AnnotationReleasePostmortem set to "true" on an Incident removes
	// FinalizerPostmortem on purpose, for example to delete an incident whose
	// repository stays unreachable; the record is still committed if it can be.
	AnnotationReleasePostmortem = "klaxon.dev/release-postmortem"
)

// Reasons of an Incident's PostmortemCommitted condition, besides ReasonAwaitingResolution
// and the kinds of a failed commit (RemoteUnavailable, AuthenticationFailed,
// PushRejected, InvalidConfiguration), and of a PostmortemRepository's Ready condition.
const (
	// ReasonCommitted: the record of the incident's current spec is in git.
	ReasonCommitted = "Committed"
	// ReasonAwaitingDeliveries: the incident is resolved and its last notifications
	// are still being delivered; the record waits for them (at most 15 minutes).
	ReasonAwaitingDeliveries = "AwaitingDeliveries"
	// ReasonRepositoryNotReady: the PostmortemRepository cannot be used as it is (a
	// missing Secret or key, an invalid spec); its Ready condition says why.
	ReasonRepositoryNotReady = "RepositoryNotReady"
	// ReasonNoRepository: no PostmortemRepository applies to the incident any more.
	ReasonNoRepository = "NoRepository"
	// ReasonInvalidSecret: a Secret holds a key that cannot be used (a signing key
	// that does not parse or unlock).
	ReasonInvalidSecret = "InvalidSecret"
)

// Forge opens pull or merge requests for records committed in PullRequest mode.
type Forge struct {
	// Type of forge.
	// +required
	Type ForgeType `json:"type"`

	// APIURL of the forge (https://api.github.com, https://gitlab.example.com/api/v4).
	// +required
	// +kubebuilder:validation:MaxLength=2048
	APIURL string `json:"apiURL"`

	// Project is owner/repo on GitHub, or the project path or id on GitLab.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Project string `json:"project"`

	// SecretRef holds the API "token".
	// +required
	SecretRef SecretReference `json:"secretRef"`
}

// Author names the committer of records.
type Author struct {
	// Name of the author.
	// +optional
	// +kubebuilder:default=Klaxon
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// Email of the author.
	// +optional
	// +kubebuilder:default="klaxon@localhost"
	// +kubebuilder:validation:MaxLength=320
	Email string `json:"email,omitempty"`
}

// Redaction masks what must never reach git, where history is permanent.
type Redaction struct {
	// Patterns (RE2) whose matches are masked in the record, in addition to the
	// built-in e-mail, phone-number and token patterns.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Patterns []string `json:"patterns,omitempty"`

	// Fields of the record (front-matter paths, e.g. customer) masked entirely.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Fields []string `json:"fields,omitempty"`

	// DisableBuiltins turns off the built-in patterns.
	// +optional
	DisableBuiltins bool `json:"disableBuiltins,omitempty"`
}

// PostmortemRepositorySpec declares where post-mortem records are committed.
type PostmortemRepositorySpec struct {
	// URL of the remote: file://, https:// or ssh://.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(file|https?|ssh)://`
	URL string `json:"url"`

	// Branch records are committed to (the base branch in PullRequest mode).
	// +optional
	// +kubebuilder:default=main
	// +kubebuilder:validation:MaxLength=253
	Branch string `json:"branch,omitempty"`

	// PathTemplate of a record (text/template over .Year, .Month, .Namespace, .Name,
	// .Severity, .Service).
	// +optional
	// +kubebuilder:default="postmortems/{{ .Year }}/{{ .Namespace }}/{{ .Name }}.md"
	// +kubebuilder:validation:MaxLength=512
	PathTemplate string `json:"pathTemplate,omitempty"`

	// SecretRef holds credentials: username and password (https), identity and
	// known_hosts (ssh), signingKey and passphrase (OpenPGP).
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// Author of the commits.
	// +optional
	Author Author `json:"author,omitempty"`

	// Sign commits with the Secret's signingKey.
	// +optional
	Sign bool `json:"sign,omitempty"`

	// Mode: Direct or PullRequest.
	// +optional
	// +kubebuilder:default=Direct
	Mode CommitMode `json:"mode,omitempty"`

	// Forge opens pull requests in PullRequest mode.
	// +optional
	Forge *Forge `json:"forge,omitempty"`

	// Redaction before anything reaches git.
	// +optional
	Redaction Redaction `json:"redaction,omitempty"`

	// Retention: resolved incidents whose record is committed are deleted this long
	// after they resolved; the record in git is the archive. 0s keeps them; the
	// default is 720h (30 days), also for a client that leaves the field out.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Retention *metav1.Duration `json:"retention,omitempty"`
}

// PostmortemRepositoryStatus is the observed state of a PostmortemRepository.
type PostmortemRepositoryStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the remote answers and credentials work), Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastCommit is the last commit pushed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LastCommit string `json:"lastCommit,omitempty"`

	// LastPushAt is when it was pushed.
	// +optional
	LastPushAt *metav1.Time `json:"lastPushAt,omitempty"`
}

// PostmortemRepository is a git remote, branch and path where post-mortem records of
// resolved incidents are committed.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pmr,categories=klaxon
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Branch",type=string,JSONPath=`.spec.branch`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PostmortemRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PostmortemRepositorySpec `json:"spec"`
	// +optional
	Status PostmortemRepositoryStatus `json:"status,omitempty"`
}

// PostmortemRepositoryList is a list of PostmortemRepositories.
// +kubebuilder:object:root=true
type PostmortemRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PostmortemRepository `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PostmortemRepository{}, &PostmortemRepositoryList{})
}

// GetConditions returns the status conditions.
func (o *PostmortemRepository) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *PostmortemRepository) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *PostmortemRepository) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }

// RetentionPeriod is spec.retention, DefaultRetention when unset; 0 keeps incidents.
func (s *PostmortemRepositorySpec) RetentionPeriod() time.Duration {
	if s.Retention == nil {
		return DefaultRetention
	}
	return s.Retention.Duration
}
