package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// providerRouting sends security incidents of one tenant's customers to the NOC's
// escalation policy and the legal group, and enforces SEV1 for data breaches.
const providerRouting = `package klaxon.triage

escalation_policy := "klaxon-system/noc" if input.incident.spec.category == "security"

stakeholder_groups := ["klaxon-system/legal", "security"] if input.incident.spec.category == "security"

severity := "SEV1" if input.incident.spec.category == "data-breach"

enforced := {"severity"} if input.incident.spec.category == "data-breach"
`

func incidentPolicy(ns, name string, modules map[string]string) *klaxonv1.IncidentPolicy {
	return &klaxonv1.IncidentPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: klaxonv1.IncidentPolicySpec{Modules: modules}}
}

// TestTriageFillsStatus checks a provider's policy and a tenant's policy decide an
// incident's routing, a person's explicit value wins unless the provider enforces
// it, and the decision with its input is kept.
func TestTriageFillsStatus(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tenant := newNamespace(t)

	provider := incidentPolicy(systemNamespace, "routing-"+tenant, map[string]string{"triage.rego": providerRouting})
	g.Expect(k8sClient.Create(ctx, provider)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(ctx, provider) })
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, provider)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(provider.Status.Revision).NotTo(BeEmpty())
	}).Should(Succeed())

	// The tenant names its own runbook for everything.
	tenantPolicy := incidentPolicy(tenant, "runbooks", map[string]string{"triage.rego": `package klaxon.triage

runbooks := ["first-response"]
`})
	g.Expect(k8sClient.Create(ctx, tenantPolicy)).To(Succeed())
	expectReady(g, tenantPolicy)

	sec := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "intrusion", Namespace: tenant},
		Spec: klaxonv1.IncidentSpec{Title: "suspicious logins", Category: "security", Severity: klaxonv1.SEV2}}
	g.Expect(k8sClient.Create(ctx, sec)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := getIncident(g, tenant, "intrusion")
		g.Expect(got.Status.EscalationPolicy).To(Equal("klaxon-system/noc"))
		g.Expect(got.Status.StakeholderGroups).To(Equal([]string{"klaxon-system/legal", tenant + "/security"}))
		g.Expect(got.Status.Runbooks).To(Equal([]string{tenant + "/first-response"}))
		g.Expect(got.Status.Severity).To(Equal(klaxonv1.SEV2), "the person's severity wins")
		g.Expect(got.Status.Decisions).To(HaveLen(1))
		g.Expect(got.Status.Decisions[0].Point).To(Equal("triage"))
	}).Should(Succeed())

	// The decision's input is kept in an IncidentDecision owned by the incident.
	got := getIncident(g, tenant, "intrusion")
	var decisions klaxonv1.IncidentDecisionList
	g.Expect(k8sClient.List(ctx, &decisions, client.InNamespace(tenant))).To(Succeed())
	g.Expect(decisions.Items).To(HaveLen(1))
	rec := decisions.Items[0]
	g.Expect(rec.Spec.Decisions).To(HaveLen(1))
	g.Expect(rec.Spec.Decisions[0].ID).To(Equal(got.Status.Decisions[0].ID))
	g.Expect(string(rec.Spec.Decisions[0].Input)).To(ContainSubstring(`"suspicious logins"`))
	g.Expect(rec.OwnerReferences[0].UID).To(Equal(got.UID))

	breach := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "breach", Namespace: tenant},
		Spec: klaxonv1.IncidentSpec{Title: "customer export found online", Category: "data-breach", Severity: klaxonv1.SEV3}}
	g.Expect(k8sClient.Create(ctx, breach)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getIncident(g, tenant, "breach").Status.Severity).To(Equal(klaxonv1.SEV1), "the provider enforces SEV1")
	}).Should(Succeed())

	// Another tenant is untouched by this tenant's policy.
	other := newNamespace(t)
	g.Expect(k8sClient.Create(ctx, &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: other},
		Spec: klaxonv1.IncidentSpec{Title: "slow page"}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := getIncident(g, other, "x")
		g.Expect(got.Status.Decisions).To(HaveLen(1))
		g.Expect(got.Status.Runbooks).To(BeEmpty())
	}).Should(Succeed())
}

// TestBrokenPolicyKeepsTheLastGood checks a policy that stops compiling says why,
// with file, line and column, while its previous revision keeps deciding.
func TestBrokenPolicyKeepsTheLastGood(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tenant := newNamespace(t)

	p := incidentPolicy(tenant, "routing", map[string]string{"triage.rego": `package klaxon.triage

escalation_policy := "night-shift"
`})
	g.Expect(k8sClient.Create(ctx, p)).To(Succeed())
	expectReady(g, p)
	good := p.Status.Revision

	// Admission would refuse this; the controller must cope when it gets through
	// (the webhook was down, or the policy predates it).
	p.Spec.Modules["triage.rego"] = "package klaxon.triage\n\nescalation_policy := \"day-shift\" if {\n  input.incident.spec.title ==\n}\n"
	g.Expect(k8sClient.Update(ctx, p)).To(Succeed())
	expectNotReady(g, p, ReasonPolicyInvalid, "triage.rego:")
	g.Expect(p.Status.Revision).To(Equal(good))
	g.Expect(p.Status.Errors).NotTo(BeEmpty())
	g.Expect(p.Status.Errors[0].File).To(Equal("triage.rego"))
	g.Expect(p.Status.Errors[0].Line).To(BeNumerically(">", 0))
	g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, klaxonv1.ConditionStalled)).To(BeTrue())
	g.Expect(meta.FindStatusCondition(p.Status.Conditions, klaxonv1.ConditionReady).Message).To(ContainSubstring("stays in force"))

	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "still-routed", Namespace: tenant},
		Spec: klaxonv1.IncidentSpec{Title: "disk full"}}
	g.Expect(k8sClient.Create(ctx, inc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getIncident(g, tenant, "still-routed").Status.EscalationPolicy).To(Equal(tenant + "/night-shift"))
	}).Should(Succeed())
}

// TestFailingPolicyFallsBack checks a tenant policy that fails at evaluation leaves
// the decision to the built-in default and the timeline says so.
func TestFailingPolicyFallsBack(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tenant := newNamespace(t)

	// Two values for one complete rule: a conflict error at evaluation time.
	p := incidentPolicy(tenant, "conflicted", map[string]string{"triage.rego": `package klaxon.triage

severity := "SEV1" if input.incident.spec.title != ""

severity := "SEV2" if input.incident.spec.service != ""
`})
	p.Spec.Data = &apiextensionsv1.JSON{Raw: []byte(`{"note":"data is readable as data.klaxon.config"}`)}
	g.Expect(k8sClient.Create(ctx, p)).To(Succeed())
	expectReady(g, p)

	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "conflict", Namespace: tenant},
		Spec: klaxonv1.IncidentSpec{Title: "checkout down", Service: "checkout"}}
	g.Expect(k8sClient.Create(ctx, inc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := getIncident(g, tenant, "conflict")
		var types []string
		for _, e := range got.Status.Timeline {
			types = append(types, e.Type)
		}
		g.Expect(types).To(ContainElement("PolicyFallback"))
		g.Expect(got.Status.Severity).NotTo(BeEmpty())
	}).Should(Succeed())
}
