package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Input is what every decision point receives; each point's input embeds it.
// Its JSON is the Rego input document (policies/README.md has the schema).
type Input struct {
	// Incident the decision is about, as the API server has it. Policies see
	// its metadata (name, namespace, uid, labels, annotations, timestamps),
	// its spec, and the status fields that describe the incident rather than
	// log what the controller did: see slim and policies/README.md.
	Incident *v1alpha1.Incident `json:"incident,omitempty"`

	// Alerts deduplicated into the incident, oldest first; optional.
	Alerts []Alert `json:"alerts,omitempty"`

	// Tenant is the namespace whose policies apply: the incident's, or at
	// admission the object's. Required.
	Tenant string `json:"tenant"`

	// Now is the time of the decision, from the caller and never the clock,
	// so the decision replays. Required.
	Now time.Time `json:"now"`
}

// Alert is one alert as intake received it.
type Alert struct {
	// Status is firing or resolved.
	Status string `json:"status,omitempty"`
	// Labels of the alert, as sent.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations of the alert, as sent.
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the alert began firing.
	StartsAt time.Time `json:"startsAt,omitzero"`
	// EndsAt is when it resolved.
	EndsAt time.Time `json:"endsAt,omitzero"`
	// Fingerprint identifies the alert within its source.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// TriageInput is the input of the triage point.
type TriageInput struct {
	Input
}

// EscalationInput is the input of the escalation point.
type EscalationInput struct {
	Input
	// Policy is the EscalationPolicy the incident follows.
	Policy *v1alpha1.EscalationPolicy `json:"policy,omitempty"`
}

// NotifyInput is the input of the notify point: one event and the groups
// that might hear of it.
type NotifyInput struct {
	Input
	// Event to announce.
	Event v1alpha1.IncidentEvent `json:"event"`
	// Groups are the candidate audiences, usually the incident's
	// status.stakeholderGroups.
	Groups []NotifyGroup `json:"groups"`
}

// NotifyGroup is a candidate audience: the parts of a StakeholderGroup a
// policy decides on, without its members, channels and templates.
type NotifyGroup struct {
	// Key is "namespace/name"; the engine fills it in when empty. Decisions
	// are keyed by it.
	Key string `json:"key"`
	// Namespace of the StakeholderGroup.
	Namespace string `json:"namespace"`
	// Name of the StakeholderGroup.
	Name string `json:"name"`
	// Audience of the group.
	Audience v1alpha1.Audience `json:"audience"`
	// NotifyOn are the events the group subscribes to; empty means Triggered
	// and Resolved, the CRD's default.
	NotifyOn []v1alpha1.IncidentEvent `json:"notifyOn,omitempty"`
	// MinSeverity is the least severe incident the group hears about.
	MinSeverity v1alpha1.Severity `json:"minSeverity,omitempty"`
	// Categories the group hears about; empty for all.
	Categories []string `json:"categories,omitempty"`
	// Labels of the StakeholderGroup object.
	Labels map[string]string `json:"labels,omitempty"`
	// Notified is true when the group already heard about this incident (the
	// caller knows from status.notifications); it then keeps hearing, so that
	// it learns of the resolution even when the severity dropped since.
	Notified bool `json:"notified,omitempty"`
}

// NotifyGroupFor describes a StakeholderGroup as a notify candidate.
func NotifyGroupFor(sg *v1alpha1.StakeholderGroup, notified bool) NotifyGroup {
	return NotifyGroup{
		Key:         sg.Namespace + "/" + sg.Name,
		Namespace:   sg.Namespace,
		Name:        sg.Name,
		Audience:    sg.Spec.Audience,
		NotifyOn:    sg.Spec.NotifyOn,
		MinSeverity: sg.Spec.MinSeverity,
		Categories:  sg.Spec.Categories,
		Labels:      sg.Labels,
		Notified:    notified,
	}
}

// ActionInput is the input of the actions point: may this step's action run?
type ActionInput struct {
	Input
	// Action to run.
	Action Action `json:"action"`
}

// Action describes an automated runbook step to the actions point.
type Action struct {
	// Runbook is "namespace/name" of the Runbook.
	Runbook string `json:"runbook"`
	// Step is the step's name.
	Step string `json:"step"`
	// Stage the step belongs to.
	Stage v1alpha1.IncidentStage `json:"stage,omitempty"`
	// Type of the action.
	Type v1alpha1.ActionType `json:"type"`
	// DryRun is true when the action runs without effect.
	DryRun bool `json:"dryRun,omitempty"`
	// Kubernetes settings, for type kubernetes.
	Kubernetes *v1alpha1.KubernetesAction `json:"kubernetes,omitempty"`
	// Webhook target, for type webhook.
	Webhook *WebhookTarget `json:"webhook,omitempty"`
	// Notify target, for type notify.
	Notify *NotifyTarget `json:"notify,omitempty"`
	// SetStage is the stage to move to, for type setStage.
	SetStage v1alpha1.IncidentStage `json:"setStage,omitempty"`
}

// WebhookTarget is where a webhook action posts: the host only, since the
// path and query may carry credentials and the input is recorded.
type WebhookTarget struct {
	// Host (and port) of the URL; empty when the URL is in a Secret.
	Host string `json:"host,omitempty"`
	// FromSecret is true when the URL comes from the Secret.
	FromSecret bool `json:"fromSecret,omitempty"`
}

// NotifyTarget is the group a notify action messages.
type NotifyTarget struct {
	// Group is "namespace/name"; the namespace is the runbook's when the
	// reference leaves it empty.
	Group string `json:"group"`
}

// ActionFor describes a runbook step's action to the actions point.
func ActionFor(rb *v1alpha1.Runbook, step *v1alpha1.RunbookStep) Action {
	a := Action{Runbook: rb.Namespace + "/" + rb.Name, Step: step.Name, Stage: step.Stage}
	if step.Action == nil {
		return a
	}
	ra := step.Action
	a.Type, a.DryRun, a.SetStage, a.Kubernetes = ra.Type, ra.DryRun, ra.SetStage, ra.Kubernetes
	if ra.Webhook != nil {
		a.Webhook = &WebhookTarget{FromSecret: ra.Webhook.URL == ""}
		if u, err := url.Parse(ra.Webhook.URL); err == nil && ra.Webhook.URL != "" {
			a.Webhook.Host = u.Host
		}
	}
	if ra.Notify != nil {
		ns := ra.Notify.GroupRef.Namespace
		if ns == "" {
			ns = rb.Namespace
		}
		a.Notify = &NotifyTarget{Group: ns + "/" + ra.Notify.GroupRef.Name}
	}
	return a
}

// AdmissionInput is the input of the admission point: a manifest on its way
// into the API server.
type AdmissionInput struct {
	Input
	// Operation is CREATE, UPDATE, DELETE or CONNECT.
	Operation string `json:"operation"`
	// Kind of the object, e.g. EscalationPolicy.
	Kind string `json:"kind"`
	// Object is the manifest as sent (nil on DELETE).
	Object json.RawMessage `json:"object,omitempty"`
	// OldObject is the stored object on UPDATE and DELETE.
	OldObject json.RawMessage `json:"oldObject,omitempty"`
	// User making the request.
	User UserInfo `json:"user"`
}

// UserInfo is who makes an admission request.
type UserInfo struct {
	// Username of the requester.
	Username string `json:"username,omitempty"`
	// Groups the requester belongs to.
	Groups []string `json:"groups,omitempty"`
}

// RedactInput is the input of the redact point.
type RedactInput struct {
	Input
}

// lastApplied is the annotation kubectl apply keeps a whole copy of the
// object in.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// slim returns a copy of the incident with what policies decide on and
// nothing else: object bookkeeping (managedFields, resourceVersion,
// generation, owners, finalizers, the last-applied annotation) and the
// controller's logs (conditions, timeline, notifications, decisions, alert
// fingerprints) are left out. They grow with the incident, would make every
// evaluation slower and every record larger, and a decision that read them
// would change with every status write. The caller's object is not changed.
func slim(inc *v1alpha1.Incident) *v1alpha1.Incident {
	if inc == nil {
		return nil
	}
	c := new(v1alpha1.Incident)
	slimInto(c, inc)
	return c
}

// slimInto writes slim's copy of inc to c.
func slimInto(dst, inc *v1alpha1.Incident) {
	c := v1alpha1.Incident{TypeMeta: inc.TypeMeta, Spec: inc.Spec}
	c.Name, c.Namespace, c.UID = inc.Name, inc.Namespace, inc.UID
	c.Labels, c.Annotations = inc.Labels, inc.Annotations
	c.CreationTimestamp, c.DeletionTimestamp = inc.CreationTimestamp, inc.DeletionTimestamp
	if _, ok := inc.Annotations[lastApplied]; ok {
		c.Annotations = make(map[string]string, len(inc.Annotations))
		for k, v := range inc.Annotations {
			if k != lastApplied {
				c.Annotations[k] = v
			}
		}
	}
	st := &inc.Status
	c.Status = v1alpha1.IncidentStatus{
		Severity:          st.Severity,
		Category:          st.Category,
		EscalationPolicy:  st.EscalationPolicy,
		StakeholderGroups: st.StakeholderGroups,
		Runbooks:          st.Runbooks,
		TriggeredAt:       st.TriggeredAt,
		ReopenedAt:        st.ReopenedAt,
		AcknowledgedAt:    st.AcknowledgedAt,
		ResolvedAt:        st.ResolvedAt,
		TimeToAcknowledge: st.TimeToAcknowledge,
		TimeToResolve:     st.TimeToResolve,
		ReopenCount:       st.ReopenCount,
		Escalation:        st.Escalation,
	}
	if st.Alerts != nil {
		c.Status.Alerts = &v1alpha1.AlertSummary{Count: st.Alerts.Count, FirstSeen: st.Alerts.FirstSeen, LastSeen: st.Alerts.LastSeen}
	}
	*dst = c
}

// validate checks what every point needs, normalises the time to UTC, so
// the same instant always records as the same text, and slims the incident.
func (in *Input) validate() error {
	if err := in.check(); err != nil {
		return err
	}
	in.Incident = slim(in.Incident)
	return nil
}

// check is validate without slimming the incident.
func (in *Input) check() error {
	if in.Tenant == "" {
		return errors.New("input.tenant is required")
	}
	if in.Now.IsZero() {
		return errors.New("input.now is required: decisions take their time from the caller")
	}
	in.Now = in.Now.UTC()
	return nil
}

// slims holds the incidents marshalInput encodes, about a kilobyte each:
// only the JSON outlives the call.
var slims = sync.Pool{New: func() any { return new(v1alpha1.Incident) }}

// marshalInput encodes in, whose common part is common, as validate would
// have it: with the incident slimmed. The incident common points to is
// left as it was, and so is common.
func marshalInput(common *Input, in any) ([]byte, error) {
	orig := common.Incident
	if orig == nil {
		return encodeJSON(in)
	}
	c := slims.Get().(*v1alpha1.Incident)
	slimInto(c, orig)
	common.Incident = c
	defer func() {
		common.Incident = orig
		*c = v1alpha1.Incident{} // keep nothing of this incident in the pool
		slims.Put(c)
	}()
	return encodeJSON(in)
}

// jsonBufs are scratch buffers for encodeJSON.
var jsonBufs = sync.Pool{New: func() any { return new([]byte) }}

// encodeJSON is json.Marshal(in), written by appendJSON into a scratch
// buffer and copied out at its exact size.
func encodeJSON(in any) ([]byte, error) {
	bp := jsonBufs.Get().(*[]byte)
	b, err := appendJSON((*bp)[:0], in)
	var out []byte
	if err == nil {
		out = bytes.Clone(b)
	}
	if cap(b) <= 64<<10 { // a huge input's buffer is not kept
		*bp = b[:0]
		jsonBufs.Put(bp)
	}
	return out, err
}

// encodeInput renders the input as JSON (the record) and as the AST value
// the policies evaluate.
func encodeInput(in any) (json.RawMessage, ast.Object, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the input: %w", err)
	}
	v, err := valueFromJSON(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("convert the input: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, nil, errors.New("the input is not a JSON object")
	}
	return raw, obj, nil
}

// commonStrings are the member names and enum values that recur in every
// input; their terms are built once and shared (OPA never changes a term it
// is given).
var commonStrings = func() map[string]*ast.Term {
	words := []string{
		// input
		"incident", "alerts", "tenant", "now", "policy", "event", "groups", "action", "operation",
		"kind", "object", "oldObject", "user", "username", "key", "namespace", "name", "audience",
		"notifyOn", "minSeverity", "categories", "labels", "notified", "runbook", "step", "stage",
		"type", "dryRun", "kubernetes", "webhook", "notify", "setStage", "host", "group", "status",
		"annotations", "startsAt", "endsAt", "fingerprint",
		// Incident
		"apiVersion", "metadata", "spec", "uid", "resourceVersion", "generation",
		"creationTimestamp", "finalizers", "ownerReferences", "title", "description", "source",
		"suggestedSeverity", "groupKey", "severity", "category", "service", "customer",
		"escalationPolicyRef", "state", "assignee", "acknowledgedBy", "affected", "apps", "servers",
		"networks", "rootCause", "resolution", "actionItems", "notes", "observedGeneration",
		"conditions", "notesSeen", "escalationPolicy", "stakeholderGroups", "runbooks", "triggeredAt",
		"reopenedAt", "acknowledgedAt", "resolvedAt", "timeToAcknowledge", "timeToResolve",
		"reopenCount", "escalation", "level", "cycle", "nextEscalationAt", "exhausted",
		"notifications", "target", "channel", "reason", "phase", "attempts", "lastAttemptAt",
		"message", "timeline", "time", "actor", "timelineArchive", "segments", "entries", "count",
		"firstSeen", "lastSeen", "fingerprints", "decisions", "point", "id", "summary", "postmortem",
		"repository", "path", "commit", "lastTransitionTime",
		// values
		"klaxon.dev/v1alpha1", "Incident", "True", "False", "Unknown", "Ready",
		"Triggered", "Acknowledged", "Resolved", "Escalated", "StageChanged", "PostmortemPublished",
		"Triage", "Contain", "Investigate", "Remediate", "Restore", "Verify", "Monitor",
		"Manual", "AlertSource", "Heartbeat", "SEV1", "SEV2", "SEV3", "SEV4", "SEV5",
		"firing", "resolved", "Pending", "Sent", "Failed", "Suppressed",
		// common alert labels
		"alertname", "priority", "instance", "job", "team", "env", "environment", "cluster", "app",
	}
	m := make(map[string]*ast.Term, len(words))
	for _, w := range words {
		m[w] = ast.StringTerm(w)
	}
	return m
}()
