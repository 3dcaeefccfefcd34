package intake

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Bounds of what an alert copies into spec.source, so that an alert with huge
// annotations still opens an incident far under its 128 KiB budget. The counts are
// the CRD's; the value lengths and the total are intake's.
const (
	maxSourceEntries    = 64
	maxSourceKey        = 256
	maxLabelValue       = 1024
	maxAnnotationValue  = 4096
	maxSourceTotalBytes = 48 << 10
	maxServiceLength    = 253
)

// Actor is how intake names itself in the klaxon.dev/state-changed-by annotation and
// in notes: "AlertSource/<name>" or "Heartbeat/<name>".
func Actor(kind klaxonv1.SourceKind, name string) string { return string(kind) + "/" + name }

// NewIncident is the incident a plan opens for an AlertSource's group: lead is the
// alert it is opened from, downgradeTo a maintenance window's severity (empty when no
// window downgraded it), downgradedBy that window ("namespace/name").
func NewIncident(src *klaxonv1.AlertSource, lead Alert, plan Plan, downgradeTo klaxonv1.Severity, downgradedBy string, now time.Time) *klaxonv1.Incident {
	name := IncidentName(src.Name, lead.GroupKey, plan.Seq)
	labels := map[string]string{
		klaxonv1.LabelAlertGroup:    GroupHash(src.Name, lead.GroupKey),
		klaxonv1.LabelAlertGroupSeq: strconv.Itoa(plan.Seq),
	}
	if len(validation.IsValidLabelValue(src.Name)) == 0 {
		labels[klaxonv1.LabelAlertSource] = src.Name
	}
	annotations := map[string]string{
		klaxonv1.AnnotationStateChangedBy: Actor(klaxonv1.SourceAlertSource, src.Name),
		klaxonv1.AnnotationStateChangedAt: now.UTC().Format(time.RFC3339Nano),
		klaxonv1.AnnotationFiring:         EncodeFiring(plan.Firing.List()),
	}
	if plan.Firing.Overflow {
		annotations[klaxonv1.AnnotationFiringOverflow] = "true"
	}
	suggested := lead.SuggestedSeverity
	var severity klaxonv1.Severity
	if downgradeTo != "" {
		// A window's downgrade is its owner's decision about this incident, so it is
		// written where a person's would be: triage ranks the alert's own severity
		// label above a suggestion, and would otherwise undo the downgrade.
		suggested, severity = downgradeTo, downgradeTo
		annotations[klaxonv1.AnnotationDowngradedBy] = "MaintenanceWindow/" + downgradedBy
	}
	inc := &klaxonv1.Incident{
		ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: name, Labels: labels, Annotations: annotations},
		Spec: klaxonv1.IncidentSpec{
			Title:               lead.Title,
			Description:         lead.Description,
			Service:             truncate(lead.Service, maxServiceLength),
			Severity:            severity,
			EscalationPolicyRef: src.Spec.EscalationPolicyRef.DeepCopy(),
			State:               plan.State,
			Source: &klaxonv1.IncidentSource{
				Kind:              klaxonv1.SourceAlertSource,
				Name:              src.Name,
				SuggestedSeverity: suggested,
				GroupKey:          lead.GroupKey,
			},
		},
	}
	budget := maxSourceTotalBytes
	inc.Spec.Source.Labels = boundedMap(lead.Labels, maxLabelValue, &budget)
	inc.Spec.Source.Annotations = boundedMap(lead.Annotations, maxAnnotationValue, &budget)
	if inc.Spec.Title == "" {
		inc.Spec.Title = "alert " + lead.Fingerprint
	}
	return inc
}

// HeartbeatIncident is the incident a heartbeat's missed deadline opens. Its name
// follows from the heartbeat and the deadline, so the controller and a ping racing it
// (or a restarted controller) agree on which incident a miss is.
func HeartbeatIncident(hb *klaxonv1.Heartbeat, deadline time.Time, state klaxonv1.IncidentState, now time.Time) *klaxonv1.Incident {
	title := hb.Spec.Title
	if title == "" {
		title = oneLine("heartbeat "+hb.Name+" missed", MaxTitleLength)
	}
	labels := map[string]string{}
	if len(validation.IsValidLabelValue(hb.Name)) == 0 {
		labels[klaxonv1.LabelHeartbeat] = hb.Name
	}
	interval := hb.Spec.Interval.Duration
	return &klaxonv1.Incident{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: hb.Namespace, Name: HeartbeatIncidentName(hb.Name, deadline), Labels: labels,
			Annotations: map[string]string{
				klaxonv1.AnnotationStateChangedBy: Actor(klaxonv1.SourceHeartbeat, hb.Name),
				klaxonv1.AnnotationStateChangedAt: now.UTC().Format(time.RFC3339Nano),
			},
		},
		Spec: klaxonv1.IncidentSpec{
			Title: title,
			Description: truncate(strings.TrimSpace("No ping arrived within "+interval.String()+" (and "+hb.Spec.Grace.Duration.String()+
				" grace); the deadline was "+deadline.UTC().Format(time.RFC3339)+". "+hb.Spec.Description), MaxDescriptionLength),
			Service:             hb.Spec.Service,
			EscalationPolicyRef: hb.Spec.EscalationPolicyRef.DeepCopy(),
			State:               state,
			Source: &klaxonv1.IncidentSource{
				Kind:              klaxonv1.SourceHeartbeat,
				Name:              hb.Name,
				SuggestedSeverity: hb.Spec.Severity,
				GroupKey:          "deadline " + deadline.UTC().Format(time.RFC3339),
			},
		},
	}
}

// CheckHeartbeat reports what in a Heartbeat's spec its schema admits but timing
// cannot work with (a duration pattern admits 0s), naming the field.
func CheckHeartbeat(spec klaxonv1.HeartbeatSpec) error {
	if d := spec.Interval.Duration; d <= 0 {
		return fmt.Errorf("spec.interval: must be positive, got %s", d)
	}
	return nil
}

// HeartbeatDeadline is when a heartbeat whose last ping (or creation) was at base
// goes down: base + interval + grace, rounded up to the second that status stores, so
// the stored deadline is never earlier than the real one.
func HeartbeatDeadline(hb *klaxonv1.Heartbeat, base time.Time) time.Time {
	d := base.Add(hb.Spec.Interval.Duration + hb.Spec.Grace.Duration)
	if t := d.Truncate(time.Second); !t.Equal(d) {
		return t.Add(time.Second)
	}
	return d
}

// HeartbeatIncidentName names the incident of a heartbeat's miss of deadline.
func HeartbeatIncidentName(heartbeat string, deadline time.Time) string {
	// The NUL keeps the key apart from any AlertSource group key of the same text.
	return IncidentName(heartbeat, "Heartbeat\x00"+deadline.UTC().Format(time.RFC3339Nano), 0)
}

// boundedMap copies at most maxSourceEntries entries of m, shortest keys first, each value
// cut to valueLimit characters, until budget bytes are used. Values stay as sent
// otherwise: they need not be valid Kubernetes label values.
func boundedMap(m map[string]string, valueLimit int, budget *int) map[string]string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" && len(k) <= maxSourceKey && utf8.ValidString(k) {
			keys = append(keys, k)
		}
	}
	// Shortest keys first: past the bound, the labels people read (alertname, job,
	// severity, team) matter more than long generated ones.
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) < len(keys[j])
		}
		return keys[i] < keys[j]
	})
	out := make(map[string]string, min(len(keys), maxSourceEntries))
	for _, k := range keys {
		if len(out) == maxSourceEntries {
			break
		}
		// JSON decoding already replaced invalid UTF-8; this guards specs built in code.
		v := truncate(strings.ToValidUTF8(m[k], "\uFFFD"), valueLimit)
		if *budget-len(k)-len(v) < 0 {
			break
		}
		*budget -= len(k) + len(v)
		out[k] = v
	}
	return out
}
