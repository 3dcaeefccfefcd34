package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/klaxon-ops/klaxon/internal/references"
)

// +kubebuilder:webhook:path=/validate-klaxon-dev-v1alpha1,mutating=false,failurePolicy=fail,sideEffects=None,groups=klaxon.dev,resources=responders;oncallschedules;escalationpolicies;stakeholdergroups;notificationchannels;incidentpolicies;alertsources;heartbeats;maintenancewindows;runbooks;postmortemrepositories,verbs=create;update,versions=v1alpha1,name=vconfig.klaxon.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-klaxon-dev-v1alpha1-incident,mutating=false,failurePolicy=ignore,sideEffects=None,groups=klaxon.dev,resources=incidents,verbs=create;update,versions=v1alpha1,name=vincident.klaxon.dev,admissionReviewVersions=v1,timeoutSeconds=5

// Policy is the part of the policy engine admission uses.
type Policy interface {
	// Check compiles an IncidentPolicy's modules in the sandbox and runs its tests;
	// it returns the problems, each with file, line and column where known.
	Check(ctx context.Context, obj client.Object) []string
	// Deny evaluates every layer's data.klaxon.admission.deny for a tenant's object
	// and returns the union of the messages.
	Deny(ctx context.Context, req DenyRequest) ([]string, error)
}

// DenyRequest is what admission policies see of a request.
type DenyRequest struct {
	// Tenant is the object's namespace.
	Tenant string
	// Operation is CREATE or UPDATE.
	Operation string
	// Kind of the object.
	Kind string
	// User making the request, and their groups.
	User   string
	Groups []string
	// Object and OldObject as sent (OldObject is nil on create).
	Object, OldObject json.RawMessage
	// Now is the time of the request.
	Now time.Time
}

// Validator refuses Klaxon objects that cannot work, with the reason, and those an
// admission policy denies.
type Validator struct {
	// Refs enforces the tenancy rule on references.
	Refs references.Resolver
	// Policy evaluates admission policies; nil skips them.
	Policy Policy
	// Now is the clock.
	Now func() time.Time
}

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	obj, err := newObject(req.Kind.Kind)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if err := json.Unmarshal(req.Object.Raw, obj); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding %s: %w", req.Kind.Kind, err))
	}
	// The namespace is not always in the object on create.
	if obj.GetNamespace() == "" {
		obj.SetNamespace(req.Namespace)
	}

	problems := checkObject(obj)
	problems = append(problems, v.crossTenant(obj)...)
	if v.Policy != nil {
		problems = append(problems, v.Policy.Check(ctx, obj)...)
		deny, err := v.Policy.Deny(ctx, v.denyRequest(req, obj))
		if err != nil {
			// A broken policy never blocks the configuration that could fix it;
			// the built-in defaults have already been applied by the engine.
			log.FromContext(ctx).Error(err, "admission policy failed", "kind", req.Kind.Kind, "name", req.Name)
		}
		problems = append(problems, deny...)
	}
	if len(problems) == 0 {
		return admission.Allowed("")
	}
	return admission.Denied(strings.Join(dedupStrings(problems), "; "))
}

// crossTenant refuses references into another tenant's namespace at admission, the
// earliest a person can be told.
func (v *Validator) crossTenant(obj client.Object) []string {
	var out []string
	for _, r := range v.Refs.Of(obj) {
		if r.Namespace != obj.GetNamespace() && r.Namespace != v.Refs.SystemNamespace {
			out = append(out, fmt.Sprintf("%s: %s %s/%s is in another tenant's namespace; reference objects in %q or %q only",
				r.Field, r.Kind, r.Namespace, r.Name, obj.GetNamespace(), v.Refs.SystemNamespace))
		}
	}
	return out
}

func (v *Validator) denyRequest(req admission.Request, obj client.Object) DenyRequest {
	dr := DenyRequest{Tenant: obj.GetNamespace(), Operation: string(req.Operation), Kind: req.Kind.Kind,
		User: req.UserInfo.Username, Groups: req.UserInfo.Groups, Now: v.Now(), Object: req.Object.Raw}
	if req.Operation == admissionv1.Update {
		dr.OldObject = req.OldObject.Raw
	}
	return dr
}

func dedupStrings(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
