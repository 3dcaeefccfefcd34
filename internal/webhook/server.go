package webhook

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/klaxon-ops/klaxon/internal/references"
)

// Paths the handlers serve; config/webhook/manifests.yaml (generated from the markers
// in this package) points the API server at them.
const (
	PathStampIncident    = "/mutate-klaxon-dev-v1alpha1-incident"
	PathValidate         = "/validate-klaxon-dev-v1alpha1"
	PathValidateIncident = "/validate-klaxon-dev-v1alpha1-incident"
)

// Register adds Klaxon's admission handlers to a webhook server.
func Register(srv webhook.Server, v *Validator, s *Stamper) {
	srv.Register(PathStampIncident, &webhook.Admission{Handler: s})
	srv.Register(PathValidate, &webhook.Admission{Handler: v})
	srv.Register(PathValidateIncident, &webhook.Admission{Handler: v})
}

// Options configures admission.
type Options struct {
	// SystemNamespace is the provider's namespace.
	SystemNamespace string
	// Policy evaluates admission policies; nil skips them.
	Policy Policy
	// Trusted users may name the actor of an incident change themselves (Klaxon's own
	// identity, acting for a responder who used a signed link).
	Trusted []string
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// Setup registers Klaxon's admission handlers on the manager's webhook server.
func Setup(mgr ctrl.Manager, opts Options) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	trusted := map[string]bool{}
	for _, u := range opts.Trusted {
		trusted[u] = true
	}
	Register(mgr.GetWebhookServer(),
		&Validator{Refs: references.Resolver{SystemNamespace: opts.SystemNamespace}, Policy: opts.Policy, Now: opts.Now},
		&Stamper{Now: opts.Now, Trusted: trusted})
}
