package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// warningsOf are the notes of the Warning events about an incident, by reason.
func warningsOf(g Gomega, ns, name string) map[string][]string {
	var evs eventsv1.EventList
	g.Expect(k8sClient.List(context.Background(), &evs, client.InNamespace(ns))).To(Succeed())
	out := map[string][]string{}
	for _, e := range evs.Items {
		if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

// TestTemplateFailureFallsBackWithWarning: a group's template that parses but fails
// while rendering does not cost the group its message: the built-in one goes
// instead, and a Warning event says so.
func TestTemplateFailureFallsBackWithWarning(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := newSink(t)
	ns := newNamespace(t)
	s.channel(g, ns, "status")
	g.Expect(k8sClient.Create(ctx, &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: ns},
		Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceCustomers,
			Channels:  []klaxonv1.GroupChannel{{ChannelRef: klaxonv1.ObjectReference{Name: "status"}, Address: "status-page"}},
			Templates: []klaxonv1.MessageTemplate{{Event: klaxonv1.EventTriggered, Body: `{{ fail "no words for this" }}`}}}})).To(Succeed())

	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "outage", Namespace: ns},
		Spec: klaxonv1.IncidentSpec{Title: "checkout down", Service: "checkout", Customer: "acme", Severity: klaxonv1.SEV2}}
	g.Expect(k8sClient.Create(ctx, inc)).To(Succeed())

	g.Eventually(func() []arrival { return s.received("status-page") }, 20*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	got := s.received("status-page")[0].payload
	g.Expect(got.Event).To(BeEquivalentTo("Triggered"))
	g.Expect(got.Text).To(ContainSubstring("We are investigating"), "the built-in customers' message")
	g.Expect(got.Text).NotTo(ContainSubstring("no words"))
	g.Eventually(func(g Gomega) {
		w := warningsOf(g, ns, "outage")
		g.Expect(w["TemplateFailed"]).To(HaveLen(1))
		g.Expect(w["TemplateFailed"][0]).To(ContainSubstring("no words for this"))
	}, 10*time.Second).Should(Succeed())
}

// TestMissingEscalationPolicyWarnsThenPages: an incident whose escalation policy does
// not exist says so in its timeline and in a Warning event, once, and pages as soon as
// the policy is created.
func TestMissingEscalationPolicyWarnsThenPages(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := newSink(t)
	ns := newNamespace(t)
	s.channel(g, ns, "pager")
	g.Expect(k8sClient.Create(ctx, responder(ns, "alice", "pager"))).To(Succeed())

	openIncident(g, ns, "db", nil) // follows "default", which does not exist yet
	want := "escalation policy " + ns + "/default not found; nobody is paged until it exists"
	g.Eventually(func(g Gomega) {
		var msgs []string
		for _, e := range getIncident(g, ns, "db").Status.Timeline {
			if e.Type == "EscalationProblem" {
				msgs = append(msgs, e.Message)
			}
		}
		g.Expect(msgs).To(Equal([]string{want}))
		g.Expect(warningsOf(g, ns, "db")["EscalationProblem"]).To(Equal([]string{want}))
	}, 20*time.Second).Should(Succeed())
	g.Expect(s.all()).To(BeEmpty())

	g.Expect(k8sClient.Create(ctx, &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: klaxonv1.EscalationPolicySpec{Levels: []klaxonv1.EscalationLevel{
			{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "alice"}}}}}})).To(Succeed())
	g.Eventually(func() []arrival { return s.received("alice") }, 20*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	g.Expect(warningsOf(g, ns, "db")["EscalationProblem"]).To(HaveLen(1), "said once")
}
