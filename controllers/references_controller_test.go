package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// readyCondition fetches obj and returns its Ready condition.
func readyCondition(g Gomega, obj conditioned) *metav1.Condition {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return meta.FindStatusCondition(obj.GetConditions(), klaxonv1.ConditionReady)
}

func expectNotReady(g Gomega, obj conditioned, reason, messagePart string) {
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, obj)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(reason))
		g.Expect(c.Message).To(ContainSubstring(messagePart))
	}).Should(Succeed())
}

func expectReady(g Gomega, obj conditioned) {
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, obj)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(meta.FindStatusCondition(obj.GetConditions(), klaxonv1.ConditionStalled)).To(BeNil())
	}).Should(Succeed())
}

func webhookChannel(ns, name string) *klaxonv1.NotificationChannel {
	return &klaxonv1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook, Webhook: &klaxonv1.WebhookChannel{URL: "http://127.0.0.1:9/hook"}},
	}
}

func responder(ns, name, channel string) *klaxonv1.Responder {
	return &klaxonv1.Responder{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: klaxonv1.ResponderSpec{DisplayName: name, ContactMethods: []klaxonv1.ContactMethod{
			{ChannelRef: klaxonv1.ObjectReference{Name: channel}, Address: name}}},
	}
}

// TestReferencesTurnReady checks each kind reports what it is missing and turns Ready
// by itself when it appears, through watches (nothing here touches the waiting object).
func TestReferencesTurnReady(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	ep := &klaxonv1.EscalationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: klaxonv1.EscalationPolicySpec{Levels: []klaxonv1.EscalationLevel{
			{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetOnCallSchedule, Name: "primary"}}},
			{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "dave"}}},
		}},
	}
	g.Expect(k8sClient.Create(ctx, ep)).To(Succeed())
	expectNotReady(g, ep, klaxonv1.ReasonReferenceNotFound, "OnCallSchedule "+ns+"/primary not found (spec.levels[0].targets[0])")

	sg := &klaxonv1.StakeholderGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "mgmt", Namespace: ns},
		Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceManagement,
			Members: []klaxonv1.ObjectReference{{Name: "dave"}}},
	}
	g.Expect(k8sClient.Create(ctx, sg)).To(Succeed())
	expectNotReady(g, sg, klaxonv1.ReasonReferenceNotFound, "Responder "+ns+"/dave not found")

	dave := responder(ns, "dave", "pager")
	g.Expect(k8sClient.Create(ctx, dave)).To(Succeed())
	expectNotReady(g, dave, klaxonv1.ReasonReferenceNotFound, "NotificationChannel "+ns+"/pager not found")
	expectReady(g, sg) // dave exists now
	expectNotReady(g, ep, klaxonv1.ReasonReferenceNotFound, "OnCallSchedule "+ns+"/primary")

	g.Expect(k8sClient.Create(ctx, webhookChannel(ns, "pager"))).To(Succeed())
	expectReady(g, dave)

	g.Expect(k8sClient.Create(ctx, &klaxonv1.OnCallSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "primary", Namespace: ns},
		Spec: klaxonv1.OnCallScheduleSpec{TimeZone: "UTC", Layers: []klaxonv1.ScheduleLayer{{
			Name: "weekly", Start: "2026-01-05", HandoffTime: "09:00",
			RotationLength: metav1.Duration{Duration: 168 * 3600e9}, Responders: []klaxonv1.ObjectReference{{Name: "dave"}}}}},
	})).To(Succeed())
	expectReady(g, ep)

	// Deleting what an object references takes it back to not Ready.
	g.Expect(k8sClient.Delete(ctx, dave)).To(Succeed())
	expectNotReady(g, ep, klaxonv1.ReasonReferenceNotFound, "Responder "+ns+"/dave not found (spec.levels[1].targets[0])")
}

// TestProviderNamespaceReferences checks a tenant may use the provider's objects but
// never another tenant's.
func TestProviderNamespaceReferences(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tenant, other := newNamespace(t), newNamespace(t)

	g.Expect(k8sClient.Create(ctx, webhookChannel(systemNamespace, "noc-"+tenant))).To(Succeed())
	g.Expect(k8sClient.Create(ctx, webhookChannel(other, "theirs"))).To(Succeed())

	ok := responder(tenant, "uses-provider", "noc-"+tenant)
	ok.Spec.ContactMethods[0].ChannelRef.Namespace = systemNamespace
	g.Expect(k8sClient.Create(ctx, ok)).To(Succeed())
	expectReady(g, ok)

	bad := responder(tenant, "uses-other-tenant", "theirs")
	bad.Spec.ContactMethods[0].ChannelRef.Namespace = other
	g.Expect(k8sClient.Create(ctx, bad)).To(Succeed())
	expectNotReady(g, bad, klaxonv1.ReasonCrossTenantReference, "another tenant's namespace")
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(bad), bad)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(bad.Status.Conditions, klaxonv1.ConditionStalled)).To(BeTrue())
	}).Should(Succeed())

	// A provider object appearing later is noticed across namespaces.
	late := responder(tenant, "waits-for-provider", "late-"+tenant)
	late.Spec.ContactMethods[0].ChannelRef.Namespace = systemNamespace
	g.Expect(k8sClient.Create(ctx, late)).To(Succeed())
	expectNotReady(g, late, klaxonv1.ReasonReferenceNotFound, "NotificationChannel "+systemNamespace+"/late-"+tenant)
	g.Expect(k8sClient.Create(ctx, webhookChannel(systemNamespace, "late-"+tenant))).To(Succeed())
	expectReady(g, late)
}

// TestChannelSecret checks a channel names a missing Secret, then a missing key, and
// turns Ready when the Secret is complete — without the key's value in any message.
func TestChannelSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	nc := &klaxonv1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "pd", Namespace: ns},
		Spec: klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty,
			SecretRef: &klaxonv1.SecretReference{Name: "pd-credentials"}},
	}
	g.Expect(k8sClient.Create(ctx, nc)).To(Succeed())
	expectNotReady(g, nc, klaxonv1.ReasonSecretNotFound, "Secret "+ns+"/pd-credentials not found")

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pd-credentials", Namespace: ns},
		Data: map[string][]byte{"wrongKey": []byte("x")}}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	expectNotReady(g, nc, klaxonv1.ReasonSecretKeyMissing, `lacks key(s) ["routingKey"]`)

	const routingKey = "R0UT1NGK3Y-very-secret"
	secret.Data = map[string][]byte{"routingKey": []byte(routingKey)}
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	expectReady(g, nc)

	// A Slack incoming webhook URL is a credential: a bad one is reported by key name.
	slack := &klaxonv1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "slack", Namespace: ns},
		Spec: klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack,
			SecretRef: &klaxonv1.SecretReference{Name: "slack-credentials"}},
	}
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "slack-credentials", Namespace: ns},
		Data: map[string][]byte{"url": []byte("not a url T000/B000/XXXX")}})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, slack)).To(Succeed())
	expectNotReady(g, slack, klaxonv1.ReasonSecretKeyMissing, `key "url" is not an http(s) URL`)
	c := readyCondition(g, slack)
	g.Expect(c.Message).NotTo(ContainSubstring("T000"))
}
