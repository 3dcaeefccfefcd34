package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Severity ranks an incident, SEV1 the most severe.
// +kubebuilder:validation:Enum=SEV1;SEV2;SEV3;SEV4;SEV5
type Severity string

// Severities, most severe first.
const (
	SEV1 Severity = "SEV1"
	SEV2 Severity = "SEV2"
	SEV3 Severity = "SEV3"
	SEV4 Severity = "SEV4"
	SEV5 Severity = "SEV5"
)

// Rank is 1 for SEV1 through 5 for SEV5, and 0 for an empty or unknown severity.
func (s Severity) Rank() int {
	switch s {
	case SEV1:
		return 1
	case SEV2:
		return 2
	case SEV3:
		return 3
	case SEV4:
		return 4
	case SEV5:
		return 5
	}
	return 0
}

// IncidentState is who owns the incident: nobody yet, a responder, or nobody any more.
// +kubebuilder:validation:Enum=Triggered;Acknowledged;Resolved
type IncidentState string

// Incident states. Resolved -> Triggered is a reopen.
const (
	StateTriggered    IncidentState = "Triggered"
	StateAcknowledged IncidentState = "Acknowledged"
	StateResolved     IncidentState = "Resolved"
)

// IncidentStage is the response step the team is in.
// +kubebuilder:validation:Enum=Triage;Contain;Investigate;Remediate;Restore;Verify;Monitor
type IncidentStage string

// Response stages, in the order a response usually takes them.
const (
	// StageTriage: identify and assess.
	StageTriage IncidentStage = "Triage"
	// StageContain: a temporary fix that stops the damage.
	StageContain IncidentStage = "Contain"
	// StageInvestigate: find the root cause.
	StageInvestigate IncidentStage = "Investigate"
	// StageRemediate: fix the root cause.
	StageRemediate IncidentStage = "Remediate"
	// StageRestore: bring service back to normal.
	StageRestore IncidentStage = "Restore"
	// StageVerify: test and verify the fix.
	StageVerify IncidentStage = "Verify"
	// StageMonitor: watch for recurrence for a time set by severity.
	StageMonitor IncidentStage = "Monitor"
)

// IncidentEvent is something that happens to an incident that an audience may hear of.
// +kubebuilder:validation:Enum=Triggered;Acknowledged;Escalated;StageChanged;Resolved;PostmortemPublished
type IncidentEvent string

// Incident events that stakeholder groups subscribe to.
const (
	EventTriggered           IncidentEvent = "Triggered"
	EventAcknowledged        IncidentEvent = "Acknowledged"
	EventEscalated           IncidentEvent = "Escalated"
	EventStageChanged        IncidentEvent = "StageChanged"
	EventResolved            IncidentEvent = "Resolved"
	EventPostmortemPublished IncidentEvent = "PostmortemPublished"
)

// SourceKind says what opened an incident.
// +kubebuilder:validation:Enum=Manual;AlertSource;Heartbeat
type SourceKind string

// Incident sources.
const (
	SourceManual      SourceKind = "Manual"
	SourceAlertSource SourceKind = "AlertSource"
	SourceHeartbeat   SourceKind = "Heartbeat"
)

// Annotations that record who changed an incident and when. The admission webhook
// stamps them from the API request, so the timeline and MTTA are exact even when the
// controller is down; without them the controller uses the time it observes the change.
const (
	AnnotationStateChangedBy    = "klaxon.dev/state-changed-by"
	AnnotationStateChangedAt    = "klaxon.dev/state-changed-at"
	AnnotationStageChangedBy    = "klaxon.dev/stage-changed-by"
	AnnotationStageChangedAt    = "klaxon.dev/stage-changed-at"
	AnnotationAssigneeChangedBy = "klaxon.dev/assignee-changed-by"
	AnnotationAssigneeChangedAt = "klaxon.dev/assignee-changed-at"
)

// LabelIncident is set on objects that belong to an incident (its archived timeline).
const LabelIncident = "klaxon.dev/incident"

// IncidentSource records what opened the incident and what the alert said. Intake
// writes it; triage reads it.
type IncidentSource struct {
	// Kind of source: Manual, AlertSource or Heartbeat.
	// +optional
	// +kubebuilder:default=Manual
	Kind SourceKind `json:"kind,omitempty"`

	// Name of the AlertSource or Heartbeat that opened the incident.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// Labels of the alert. Values are kept as sent; they need not be valid Kubernetes
	// label values.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations of the alert (summary, description, runbook_url, ...).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`

	// SuggestedSeverity is the severity the alert suggests; triage decides the
	// effective one.
	// +optional
	SuggestedSeverity Severity `json:"suggestedSeverity,omitempty"`

	// GroupKey identifies the alert group this incident deduplicates.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	GroupKey string `json:"groupKey,omitempty"`
}

// AffectedResources lists what the incident touches.
type AffectedResources struct {
	// Apps (applications, services, deployments) affected.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=253
	Apps []string `json:"apps,omitempty"`

	// Servers (hosts, nodes) affected.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=253
	Servers []string `json:"servers,omitempty"`

	// Networks (CIDRs, VPCs, segments) affected.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=253
	Networks []string `json:"networks,omitempty"`
}

// ActionItem is follow-up work that comes out of the incident.
type ActionItem struct {
	// Description of the work.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description"`

	// Owner of the work.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Owner string `json:"owner,omitempty"`

	// URL of the ticket that tracks it.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// Done is true once the work is finished.
	// +optional
	Done bool `json:"done,omitempty"`
}

// IncidentNote is a note a responder adds; the controller copies each new note into
// the timeline.
type IncidentNote struct {
	// Author of the note.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Author string `json:"author,omitempty"`

	// Time the note was written; the controller uses the time it sees the note when
	// empty.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`

	// Text of the note.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Text string `json:"text"`
}

// IncidentSpec is what people and intake say about the incident.
// +kubebuilder:validation:XValidation:rule="self.state != 'Acknowledged' || (has(self.acknowledgedBy) && size(self.acknowledgedBy) > 0)",message="acknowledgedBy must name who acknowledged the incident when state is Acknowledged"
type IncidentSpec struct {
	// Title is a one-line summary.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Title string `json:"title"`

	// Description of what is happening.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Description string `json:"description,omitempty"`

	// Source is what opened the incident; written by intake.
	// +optional
	Source *IncidentSource `json:"source,omitempty"`

	// Severity set by a person; overrides triage. Empty lets triage decide.
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// Category of the incident, e.g. security, availability, performance, data-breach.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Category string `json:"category,omitempty"`

	// Service affected.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Service string `json:"service,omitempty"`

	// Customer affected (an MSP's customer).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Customer string `json:"customer,omitempty"`

	// EscalationPolicyRef names the escalation policy to page; triage picks one when
	// empty.
	// +optional
	EscalationPolicyRef *ObjectReference `json:"escalationPolicyRef,omitempty"`

	// State of the incident. Setting Resolved on a Triggered or Acknowledged incident
	// resolves it; setting Triggered on a Resolved one reopens it.
	// +optional
	// +kubebuilder:default=Triggered
	State IncidentState `json:"state,omitempty"`

	// Stage of the response.
	// +optional
	// +kubebuilder:default=Triage
	Stage IncidentStage `json:"stage,omitempty"`

	// Assignee is the incident commander or owner.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Assignee string `json:"assignee,omitempty"`

	// AcknowledgedBy names who acknowledged; required with state Acknowledged.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AcknowledgedBy string `json:"acknowledgedBy,omitempty"`

	// Affected apps, servers and networks.
	// +optional
	Affected *AffectedResources `json:"affected,omitempty"`

	// RootCause found by the investigation.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	RootCause string `json:"rootCause,omitempty"`

	// Resolution: what fixed it.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Resolution string `json:"resolution,omitempty"`

	// ActionItems are the follow-ups.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	ActionItems []ActionItem `json:"actionItems,omitempty"`

	// Notes added by responders, oldest first.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Notes []IncidentNote `json:"notes,omitempty"`

	// Checklist ticks off runbook steps done by hand, oldest first: append one to
	// tick a step of status.runbookSteps. The controller records each new tick once.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Checklist []ChecklistTick `json:"checklist,omitempty"`
}

// ChecklistTick says a responder did a runbook step by hand.
type ChecklistTick struct {
	// Runbook of the step, as namespace/name or, in the incident's namespace, name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=320
	Runbook string `json:"runbook"`

	// Step is the step's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Step string `json:"step"`

	// By names who did it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	By string `json:"by,omitempty"`
}

// RunbookStepState is where one runbook step stands for an incident.
// +kubebuilder:validation:Enum=Pending;Succeeded;Failed;Denied;DryRun;Open;Done
type RunbookStepState string

// Runbook step states. Automatic steps go Pending (claimed, written before the action
// runs, so it never runs twice) to Succeeded, Failed or DryRun, or straight to Denied
// when policy refuses them. Checklist steps are Open until a responder ticks them Done.
const (
	StepPending   RunbookStepState = "Pending"
	StepSucceeded RunbookStepState = "Succeeded"
	StepFailed    RunbookStepState = "Failed"
	StepDenied    RunbookStepState = "Denied"
	StepDryRun    RunbookStepState = "DryRun"
	StepOpen      RunbookStepState = "Open"
	StepDone      RunbookStepState = "Done"
)

// RunbookStepResult is one runbook step of a stage the incident entered: an automatic
// action and its outcome, or a checklist item for responders.
type RunbookStepResult struct {
	// Runbook is the Runbook, as namespace/name.
	// +required
	// +kubebuilder:validation:MaxLength=320
	Runbook string `json:"runbook"`

	// Step is the step's name.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Step string `json:"step"`

	// Stage the step belongs to.
	// +optional
	Stage IncidentStage `json:"stage,omitempty"`

	// Action type of the step; empty for guidance only.
	// +optional
	Action ActionType `json:"action,omitempty"`

	// State of the step.
	// +required
	State RunbookStepState `json:"state"`

	// ReopenCount is the episode the entry belongs to: a reopened incident runs its
	// steps again.
	// +optional
	ReopenCount int32 `json:"reopenCount,omitempty"`

	// By is who acted: the impersonated ServiceAccount of a kubernetes action,
	// klaxon for the other actions, the responder who ticked a checklist item.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	By string `json:"by,omitempty"`

	// Time of the last change of state.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`

	// Decision is the id of the actions policy decision that allowed or denied it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Decision string `json:"decision,omitempty"`

	// Message says what was done and how it went, or why not.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Message string `json:"message,omitempty"`
}

// EscalationStatus is where the incident is on its escalation policy. The deadline
// lives here so timers survive a restart.
type EscalationStatus struct {
	// Level last paged, counting from 1; 0 before the first page.
	// +optional
	Level int32 `json:"level,omitempty"`

	// Cycle through the policy's levels, counting from 0; repeats increase it.
	// +optional
	Cycle int32 `json:"cycle,omitempty"`

	// StartedAt is when this episode's escalation counts from: the trigger (or the
	// reopen), to the microsecond. Kubernetes keeps creation times to the second, so
	// it is the moment Klaxon first saw the trigger, and at most a second after the
	// triggeredAt (or reopenedAt) second: never before the incident began.
	// +optional
	StartedAt *PreciseTime `json:"startedAt,omitempty"`

	// LevelPagedAt is when Level was paged: the deadline it fell due at, not the
	// send time; the next level is due its delay after this.
	// +optional
	LevelPagedAt *PreciseTime `json:"levelPagedAt,omitempty"`

	// NextEscalationAt is when the next level is due unless someone acknowledges,
	// to the microsecond.
	// +optional
	NextEscalationAt *PreciseTime `json:"nextEscalationAt,omitempty"`

	// StartLevel is the level the escalation decision started this episode at
	// (skipping earlier levels for, say, a SEV1); 0 or 1 for the first.
	// +optional
	StartLevel int32 `json:"startLevel,omitempty"`

	// Policy is the EscalationPolicy this episode follows, as namespace/name, and
	// PolicyDecision the id of the escalation decision taken for it.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Policy string `json:"policy,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PolicyDecision string `json:"policyDecision,omitempty"`

	// Exhausted is true once every level of every cycle has been paged.
	// +optional
	Exhausted bool `json:"exhausted,omitempty"`
}

// NotificationPhase is where one delivery stands.
// +kubebuilder:validation:Enum=Pending;Sent;Failed;Suppressed;Held
type NotificationPhase string

// Notification phases. Pending is written before sending, so a restart neither loses
// nor repeats a page. Held is a delivery a maintenance window holds: it is not
// attempted yet, and goes out (Pending, then Sent) when the window closes, unless the
// incident is resolved first (Suppressed).
const (
	NotificationPending    NotificationPhase = "Pending"
	NotificationSent       NotificationPhase = "Sent"
	NotificationFailed     NotificationPhase = "Failed"
	NotificationSuppressed NotificationPhase = "Suppressed"
	NotificationHeld       NotificationPhase = "Held"
)

// NotificationRecord is one entry of the incident's notification log: one per target,
// channel and event.
type NotificationRecord struct {
	// Key identifies the delivery: reopen count, event, level, cycle, target, channel.
	// +required
	// +kubebuilder:validation:MaxLength=512
	Key string `json:"key"`

	// Event announced.
	// +required
	Event IncidentEvent `json:"event"`

	// Target is who was notified: a responder or stakeholder group.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Target string `json:"target"`

	// Channel is the NotificationChannel used.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Channel string `json:"channel"`

	// Reason it was sent: first, escalated, repeat, resolved, ...
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// Phase of the delivery.
	// +required
	Phase NotificationPhase `json:"phase"`

	// Attempts made so far.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// FirstAttemptAt is when the first attempt was made; retries give up a bounded
	// time after it.
	// +optional
	FirstAttemptAt *metav1.Time `json:"firstAttemptAt,omitempty"`

	// LastAttemptAt is when the last attempt was made.
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`

	// Message is the outcome of the last attempt, e.g. the error.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`
}

// TimelineEntry is one thing that happened: who did what, when.
type TimelineEntry struct {
	// Time it happened.
	// +required
	Time metav1.Time `json:"time"`

	// Type of entry, e.g. Triggered, Acknowledged, StageChanged, Notified, Decision.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Type string `json:"type"`

	// Actor is who did it: a user, a responder or the controller.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Actor string `json:"actor,omitempty"`

	// Message describes it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`
}

// TimelineArchiveStatus counts timeline entries moved to IncidentTimeline objects.
type TimelineArchiveStatus struct {
	// Segments is the number of IncidentTimeline objects holding older entries.
	// +optional
	Segments int32 `json:"segments,omitempty"`

	// Entries is the number of entries they hold.
	// +optional
	Entries int64 `json:"entries,omitempty"`
}

// AlertSummary counts the alerts deduplicated into the incident.
type AlertSummary struct {
	// Count of alerts received.
	// +optional
	Count int64 `json:"count,omitempty"`

	// FirstSeen is when the first alert arrived.
	// +optional
	FirstSeen *metav1.Time `json:"firstSeen,omitempty"`

	// LastSeen is when the latest alert arrived.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`

	// Fingerprints of the distinct alerts, up to the bound.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=128
	Fingerprints []string `json:"fingerprints,omitempty"`
}

// DecisionRecord is one policy decision taken for the incident.
type DecisionRecord struct {
	// Point is the decision point: triage, escalation, notify, actions.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Point string `json:"point"`

	// ID of the decision; the post-mortem record holds its input under this id.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// Time of the decision.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`

	// Summary of the outcome.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Summary string `json:"summary,omitempty"`

	// InputHash identifies what the decision was taken on; triage runs again only when
	// its inputs change.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	InputHash string `json:"inputHash,omitempty"`
}

// ResponseDeadline is a time by which something must be done about the incident.
type ResponseDeadline struct {
	// Name of the deadline, e.g. regulator-notification.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// At is the deadline.
	// +required
	At metav1.Time `json:"at"`

	// Description of what must be done.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`
}

// PostmortemStatus says where the incident's record was committed.
type PostmortemStatus struct {
	// Repository is the PostmortemRepository used.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Repository string `json:"repository,omitempty"`

	// Path of the record in the repository.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path,omitempty"`

	// Commit id of the latest version of the record.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Commit string `json:"commit,omitempty"`

	// Branch the record was committed to: the repository's branch, or the incident's
	// own branch in PullRequest mode.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Branch string `json:"branch,omitempty"`

	// URL of the pull or merge request opened for the record, in PullRequest mode.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// CommittedAt is when the latest version of the record was committed.
	// +optional
	CommittedAt *metav1.Time `json:"committedAt,omitempty"`
}

// IncidentStatus is what the controller observed and did; only it writes here.
//
// Status is one atomic value to the API server's field manager: it is written whole,
// by optimistic PUT, never applied field by field, so per-field ownership would buy
// nothing and cost every write. Granular, the controller's managedFields entry listed
// each field and condition (about 1 KB); kube-apiserver spent 7% less CPU over the
// paging harness's first-page phase without it.
// +structType=atomic
type IncidentStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Acknowledged, Resolved, PostmortemCommitted, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// State the controller last observed; a difference from spec.state is a transition.
	// +optional
	State IncidentState `json:"state,omitempty"`

	// Stage the controller last observed.
	// +optional
	Stage IncidentStage `json:"stage,omitempty"`

	// Assignee the controller last observed.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Assignee string `json:"assignee,omitempty"`

	// NotesSeen counts spec.notes already copied into the timeline.
	// +optional
	NotesSeen int32 `json:"notesSeen,omitempty"`

	// Severity in effect: spec.severity, or triage's decision.
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// Category in effect.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Category string `json:"category,omitempty"`

	// Service in effect: spec.service, or triage's decision.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Service string `json:"service,omitempty"`

	// EscalationPolicy in effect, as namespace/name.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	EscalationPolicy string `json:"escalationPolicy,omitempty"`

	// StakeholderGroups that hear about this incident, as namespace/name.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=320
	StakeholderGroups []string `json:"stakeholderGroups,omitempty"`

	// Runbooks attached to this incident, as namespace/name.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=320
	Runbooks []string `json:"runbooks,omitempty"`

	// RunbookSteps are the steps of the attached runbooks in the stages the incident
	// entered, oldest first: automatic actions with their outcome, and the checklist
	// for responders. Entries of earlier reopens go first when the list is full.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	RunbookSteps []RunbookStepResult `json:"runbookSteps,omitempty"`

	// ChecklistSeen counts spec.checklist ticks already recorded.
	// +optional
	ChecklistSeen int32 `json:"checklistSeen,omitempty"`

	// TriggeredAt is when the incident was opened.
	// +optional
	TriggeredAt *metav1.Time `json:"triggeredAt,omitempty"`

	// ReopenedAt is when the incident was last reopened.
	// +optional
	ReopenedAt *metav1.Time `json:"reopenedAt,omitempty"`

	// AcknowledgedAt is when it was acknowledged (since the last reopen).
	// +optional
	AcknowledgedAt *metav1.Time `json:"acknowledgedAt,omitempty"`

	// ResolvedAt is when it was resolved.
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`

	// TimeToAcknowledge is from (re)trigger to acknowledgement.
	// +optional
	TimeToAcknowledge *metav1.Duration `json:"timeToAcknowledge,omitempty"`

	// TimeToResolve is from the first trigger to resolution.
	// +optional
	TimeToResolve *metav1.Duration `json:"timeToResolve,omitempty"`

	// ReopenCount counts reopens; it is part of every notification key, so a reopened
	// incident pages again.
	// +optional
	ReopenCount int32 `json:"reopenCount,omitempty"`

	// Escalation is the position on the escalation policy.
	// +optional
	Escalation *EscalationStatus `json:"escalation,omitempty"`

	// Notifications is the notification log, one entry per target, channel and event.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	Notifications []NotificationRecord `json:"notifications,omitempty"`

	// Timeline of the newest entries, oldest first. Older entries are moved to
	// IncidentTimeline objects owned by the incident.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Timeline []TimelineEntry `json:"timeline,omitempty"`

	// TimelineArchive counts the entries moved out of the timeline.
	// +optional
	TimelineArchive *TimelineArchiveStatus `json:"timelineArchive,omitempty"`

	// Deadlines that apply to the response, e.g. a regulator's 72 hours to notify a
	// personal-data breach, as the escalation decision set them.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Deadlines []ResponseDeadline `json:"deadlines,omitempty"`

	// Alerts deduplicated into this incident.
	// +optional
	Alerts *AlertSummary `json:"alerts,omitempty"`

	// Decisions taken by policy for this incident, newest last; older ones, and the
	// inputs of all, are in IncidentDecision objects owned by the incident.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Decisions []DecisionRecord `json:"decisions,omitempty"`

	// PendingDecisions are the records (IncidentDecision specs, as gzip-compressed
	// JSON, each the decisions one reconcile took) whose IncidentDecision objects are
	// not stored yet. A page
	// goes out after the one status write that claims it, and the records of the
	// decisions behind it are written ahead in that same write; the controller
	// stores them as objects right after and clears them here. A crash in between,
	// or an object the API server refuses, loses no decision's input: the next
	// reconcile stores them again.
	// +optional
	// +kubebuilder:validation:MaxLength=49152
	PendingDecisions []byte `json:"pendingDecisions,omitempty"`

	// Postmortem says where the record was committed.
	// +optional
	Postmortem *PostmortemStatus `json:"postmortem,omitempty"`
}

// Incident is one incident: what, how bad, its state and stage, who was told, and
// its record.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=inc,categories=klaxon
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.status.severity`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.spec.stage`
// +kubebuilder:printcolumn:name="Level",type=integer,JSONPath=`.status.escalation.level`
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Incident struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IncidentSpec `json:"spec"`
	// +optional
	Status IncidentStatus `json:"status,omitempty"`
}

// IncidentList is a list of Incidents.
// +kubebuilder:object:root=true
type IncidentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Incident `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Incident{}, &IncidentList{})
}

// GetConditions returns the status conditions.
func (o *Incident) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *Incident) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (o *Incident) SetObservedGeneration(g int64) { o.Status.ObservedGeneration = g }
