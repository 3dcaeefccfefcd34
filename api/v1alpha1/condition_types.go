package v1alpha1

// Condition types. Every kind has Ready; Incidents have the lifecycle conditions too.
const (
	// ConditionReady is True when the object has been reconciled and everything it
	// references exists; False says what is missing.
	ConditionReady = "Ready"

	// ConditionStalled is True when the object cannot make progress until a person
	// changes it (an invalid time zone, a reference to another tenant): no retry helps.
	ConditionStalled = "Stalled"

	// ConditionAcknowledged is True while someone owns the incident (state
	// Acknowledged, or Resolved after an acknowledgement).
	ConditionAcknowledged = "Acknowledged"

	// ConditionResolved is True once the incident is resolved; paging has stopped.
	ConditionResolved = "Resolved"

	// ConditionPostmortemCommitted is True once the post-mortem record of a resolved
	// incident is committed to its PostmortemRepository.
	ConditionPostmortemCommitted = "PostmortemCommitted"
)

// Condition reasons, in CamelCase as Kubernetes expects.
const (
	// ReasonReconciled: the object is reconciled and all its references resolve.
	ReasonReconciled = "Reconciled"

	// ReasonReferenceNotFound: an object this one references does not exist (yet).
	// The object turns Ready by itself when it appears.
	ReasonReferenceNotFound = "ReferenceNotFound"

	// ReasonCrossTenantReference: a reference points into another tenant's namespace.
	// Only the object's own namespace and the provider's namespace are allowed.
	ReasonCrossTenantReference = "CrossTenantReference"

	// ReasonSecretNotFound: the referenced Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"

	// ReasonSecretKeyMissing: the referenced Secret lacks a key the channel type needs.
	ReasonSecretKeyMissing = "SecretKeyMissing"

	// ReasonInvalidSpec: the spec passed admission but cannot be used as written
	// (an unknown time zone, say). A person has to change it.
	ReasonInvalidSpec = "InvalidSpec"

	// ReasonTriggered, ReasonAcknowledged, ReasonResolved and ReasonReopened describe
	// an incident's state transitions (conditions, events and timeline entries).
	ReasonTriggered    = "Triggered"
	ReasonAcknowledged = "Acknowledged"
	ReasonResolved     = "Resolved"
	ReasonReopened     = "Reopened"

	// ReasonNotAcknowledged: the incident has not been acknowledged (yet, or since it
	// was reopened).
	ReasonNotAcknowledged = "NotAcknowledged"

	// ReasonNotResolved: the incident is open.
	ReasonNotResolved = "NotResolved"

	// ReasonTriaged: the triage decision point rated the incident (timeline entry
	// and event).
	ReasonTriaged = "Triaged"

	// ReasonNoEscalationPolicy: an open incident no escalation policy covers; nobody
	// is paged (timeline entry and Warning event).
	ReasonNoEscalationPolicy = "NoEscalationPolicy"

	// ReasonEscalationProblem: the incident's escalation policy, or a target of a
	// level, cannot be used; nobody is paged for it (timeline entry and Warning event).
	ReasonEscalationProblem = "EscalationProblem"

	// ReasonTemplateFailed: a stakeholder group's template failed while rendering and
	// the built-in message went instead (Warning event).
	ReasonTemplateFailed = "TemplateFailed"

	// ReasonStageChanged: an incident moved to another response stage.
	ReasonStageChanged = "StageChanged"

	// ReasonAssigned: an incident's assignee changed.
	ReasonAssigned = "Assigned"

	// ReasonNoteAdded: a note was added to the incident.
	ReasonNoteAdded = "NoteAdded"

	// ReasonAwaitingResolution: the post-mortem is committed only once the incident is
	// resolved.
	ReasonAwaitingResolution = "AwaitingResolution"
)
