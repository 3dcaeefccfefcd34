package webhook

import (
	"fmt"
	"strings"
	"time"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
	"github.com/klaxon-ops/klaxon/internal/maintenance"
	"github.com/klaxon-ops/klaxon/internal/notify"
	"github.com/klaxon-ops/klaxon/internal/oncall"
	"github.com/klaxon-ops/klaxon/internal/postmortem"
	"github.com/klaxon-ops/klaxon/internal/runbook"
)

// newObject returns an empty typed object of a Klaxon kind.
func newObject(kind string) (client.Object, error) {
	switch kind {
	case "Incident":
		return &klaxonv1.Incident{}, nil
	case "Responder":
		return &klaxonv1.Responder{}, nil
	case "OnCallSchedule":
		return &klaxonv1.OnCallSchedule{}, nil
	case "EscalationPolicy":
		return &klaxonv1.EscalationPolicy{}, nil
	case "StakeholderGroup":
		return &klaxonv1.StakeholderGroup{}, nil
	case "NotificationChannel":
		return &klaxonv1.NotificationChannel{}, nil
	case "IncidentPolicy":
		return &klaxonv1.IncidentPolicy{}, nil
	case "AlertSource":
		return &klaxonv1.AlertSource{}, nil
	case "Heartbeat":
		return &klaxonv1.Heartbeat{}, nil
	case "MaintenanceWindow":
		return &klaxonv1.MaintenanceWindow{}, nil
	case "Runbook":
		return &klaxonv1.Runbook{}, nil
	case "PostmortemRepository":
		return &klaxonv1.PostmortemRepository{}, nil
	}
	return nil, fmt.Errorf("kind %q is not validated here", kind)
}

// checkObject runs the checks the API server's schema cannot express: time zones
// that exist, schedules, windows, mappings and templates that compile. Each check is
// the code the controller or intake runs on the object later, so admission refuses
// exactly what would fail there. Each message names the field.
func checkObject(obj client.Object) []string {
	var out []string
	switch o := obj.(type) {
	case *klaxonv1.Responder:
		if err := checkTimeZone(o.Spec.TimeZone); err != nil {
			out = append(out, "spec.timeZone: "+err.Error())
		}
	case *klaxonv1.OnCallSchedule:
		if _, err := oncall.Compile(o.Spec); err != nil {
			out = append(out, "spec."+err.Error())
		}
	case *klaxonv1.StakeholderGroup:
		for i, t := range o.Spec.Templates {
			if err := notify.Validate(t); err != nil {
				out = append(out, fmt.Sprintf("spec.templates[%d]: %v", i, err))
			}
		}
	case *klaxonv1.AlertSource:
		if err := intake.ValidateSpec(o.Spec); err != nil {
			// The error leads with "invalid alert source spec: " and then the field.
			out = append(out, "spec."+strings.TrimPrefix(err.Error(), intake.ErrInvalidSpec.Error()+": "))
		}
	case *klaxonv1.Heartbeat:
		if err := intake.CheckHeartbeat(o.Spec); err != nil {
			out = append(out, err.Error())
		}
	case *klaxonv1.MaintenanceWindow:
		if _, err := maintenance.Compile(o.Spec); err != nil {
			out = append(out, "spec."+err.Error())
		}
	case *klaxonv1.Runbook:
		out = append(out, checkRunbook(o.Spec)...)
	case *klaxonv1.PostmortemRepository:
		out = append(out, postmortem.CheckSpec(o.Spec)...)
	case *klaxonv1.NotificationChannel:
		if err := checkChannel(o.Spec); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// checkRunbook refuses steps that could only fail when they run: a notify message
// that does not render (the Runbook controller's check), and a kubernetes action whose
// patch cannot be built or that the API server would refuse for its apiVersion,
// labels or annotations.
func checkRunbook(spec klaxonv1.RunbookSpec) []string {
	var out []string
	for i, s := range spec.Steps {
		a := s.Action
		if a == nil {
			continue
		}
		at := field.NewPath("spec", "steps").Index(i).Child("action")
		if a.Notify != nil {
			if err := notify.Validate(klaxonv1.MessageTemplate{Body: a.Notify.Message}); err != nil {
				out = append(out, fmt.Sprintf("%s: %v", at.Child("notify", "message"), err))
			}
		}
		if k := a.Kubernetes; k != nil {
			kp := at.Child("kubernetes")
			if _, err := schema.ParseGroupVersion(k.APIVersion); err != nil {
				out = append(out, fmt.Sprintf("%s: %v", kp.Child("apiVersion"), err))
			}
			if err := runbook.CheckPatch(k); err != nil {
				out = append(out, fmt.Sprintf("%s: %v", kp, err))
			}
			for _, e := range metav1validation.ValidateLabels(k.Labels, kp.Child("labels")) {
				out = append(out, e.Error())
			}
			for _, e := range apivalidation.ValidateAnnotations(k.Annotations, kp.Child("annotations")) {
				out = append(out, e.Error())
			}
		}
	}
	return out
}

// checkChannel builds the channel's notifier as dispatch does before its first
// delivery, with a stand-in for each Secret key its type needs: what fails then is
// the spec (an e-mail sender that is no address, a URL that is not http(s)). Whether
// the real Secret holds its keys is the controller's to check; it may come later.
func checkChannel(spec klaxonv1.NotificationChannelSpec) error {
	standIn := map[string][]byte{}
	for _, k := range notify.RequiredSecretKeys(spec) {
		standIn[k] = []byte("admission")
		if k == klaxonv1.SecretKeyURL {
			standIn[k] = []byte("https://admission.invalid/")
		}
	}
	_, err := notify.New(spec, standIn, notify.Options{})
	return err
}

// checkTimeZone accepts an empty zone (UTC) or an IANA name.
func checkTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	if tz == "Local" {
		return fmt.Errorf("%q depends on the controller's machine; name an IANA zone such as Europe/Berlin", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("unknown time zone %q", tz)
	}
	return nil
}
