package references

import (
	"fmt"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// runbookRefs are what a Runbook references: the stakeholder groups its notify steps
// message, the Secrets of its webhook steps, and the ServiceAccount its kubernetes
// steps run as. A provider's runbook (in the system namespace) runs as the account of
// that name in each tenant's namespace, which no single reference can name, so its
// account is not checked here.
func (rs Resolver) runbookRefs(rb *klaxonv1.Runbook, ref func(kind, field string, r klaxonv1.ObjectReference) Ref) []Ref {
	ns := rb.Namespace
	var out []Ref
	if sa := rb.Spec.ServiceAccountName; sa != "" && ns != rs.SystemNamespace {
		out = append(out, Ref{Kind: KindServiceAccount, Namespace: ns, Name: sa, Field: "spec.serviceAccountName"})
	}
	for i, s := range rb.Spec.Steps {
		a := s.Action
		if a == nil {
			continue
		}
		if a.Notify != nil {
			out = append(out, ref(KindStakeholderGroup, fmt.Sprintf("spec.steps[%d].action.notify.groupRef", i), a.Notify.GroupRef))
		}
		if a.Webhook != nil && a.Webhook.SecretRef != nil {
			// Secrets are only ever read from the referencing object's namespace.
			out = append(out, Ref{Kind: KindSecret, Namespace: ns, Name: a.Webhook.SecretRef.Name,
				Field: fmt.Sprintf("spec.steps[%d].action.webhook.secretRef", i)})
		}
	}
	return out
}
