package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// +kubebuilder:webhook:path=/mutate-klaxon-dev-v1alpha1-incident,mutating=true,failurePolicy=ignore,sideEffects=None,groups=klaxon.dev,resources=incidents,verbs=create;update,versions=v1alpha1,name=mincident.klaxon.dev,admissionReviewVersions=v1,timeoutSeconds=5

// Stamper records, on every change of an incident's state, stage or assignee, who made
// it (the request's user) and when (the time the API server asked), in the
// klaxon.dev/*-changed-by and *-changed-at annotations. The controller reads them, so
// the timeline and MTTA are exact even when it was down at that moment.
type Stamper struct {
	// Now is the clock.
	Now func() time.Time
	// Trusted are users (Klaxon's own service account) whose requests may name the
	// actor themselves: an acknowledgement through a signed link is the responder's,
	// not the controller's.
	Trusted map[string]bool
}

// Handle implements admission.Handler.
func (s *Stamper) Handle(_ context.Context, req admission.Request) admission.Response {
	var inc, old klaxonv1.Incident
	if err := json.Unmarshal(req.Object.Raw, &inc); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	user := req.UserInfo.Username
	at := s.Now().UTC().Format(time.RFC3339Nano)
	stamps := map[string]string{}
	stamp := func(byKey, atKey string) {
		// A trusted requester that names the actor in this very request keeps it. It
		// names them by setting the by-annotation, or, when the actor is the one who
		// made the last change too (an AlertSource resolving the incident it opened, a
		// responder resolving what they acknowledged), by setting the at-annotation
		// afresh beside it; a by-annotation left from an earlier change names nobody.
		by := inc.Annotations[byKey]
		named := by != "" && (by != old.Annotations[byKey] || inc.Annotations[atKey] != old.Annotations[atKey])
		if !s.Trusted[user] || !named {
			stamps[byKey] = user
		}
		stamps[atKey] = at
	}

	creating := req.Operation == admissionv1.Create
	if creating || effectiveState(&inc) != effectiveState(&old) {
		stamp(klaxonv1.AnnotationStateChangedBy, klaxonv1.AnnotationStateChangedAt)
	}
	if !creating && effectiveStage(&inc) != effectiveStage(&old) {
		stamp(klaxonv1.AnnotationStageChangedBy, klaxonv1.AnnotationStageChangedAt)
	}
	if !creating && inc.Spec.Assignee != old.Spec.Assignee || creating && inc.Spec.Assignee != "" {
		stamp(klaxonv1.AnnotationAssigneeChangedBy, klaxonv1.AnnotationAssigneeChangedAt)
	}
	if len(stamps) == 0 {
		return admission.Allowed("")
	}
	// Patch the object as sent, not a typed round trip of it, so nothing but the
	// annotations can change.
	var obj map[string]any
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	for k, v := range stamps {
		ann[k] = v
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

func effectiveState(inc *klaxonv1.Incident) klaxonv1.IncidentState {
	if inc.Spec.State == "" {
		return klaxonv1.StateTriggered
	}
	return inc.Spec.State
}

func effectiveStage(inc *klaxonv1.Incident) klaxonv1.IncidentStage {
	if inc.Spec.Stage == "" {
		return klaxonv1.StageTriage
	}
	return inc.Spec.Stage
}
