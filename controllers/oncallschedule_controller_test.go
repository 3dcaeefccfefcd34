package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestOnCallScheduleHandsOff checks the schedule publishes who is on call and who is
// next, and republishes at the handoff by itself (a requeue, no edit).
func TestOnCallScheduleHandsOff(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	for _, n := range []string{"alice", "bob"} {
		g.Expect(k8sClient.Create(ctx, responder(ns, n, "pager"))).To(Succeed())
	}
	g.Expect(k8sClient.Create(ctx, webhookChannel(ns, "pager"))).To(Succeed())

	// A rotation of 4 seconds starting today at midnight UTC: handoffs every 4s.
	today := time.Now().UTC().Format("2006-01-02")
	s := &klaxonv1.OnCallSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: ns},
		Spec: klaxonv1.OnCallScheduleSpec{TimeZone: "UTC", Layers: []klaxonv1.ScheduleLayer{{
			Name: "fast", Start: today, HandoffTime: "00:00", RotationLength: metav1.Duration{Duration: 4 * time.Second},
			Responders: []klaxonv1.ObjectReference{{Name: "alice"}, {Name: "bob"}}}}},
	}
	g.Expect(k8sClient.Create(ctx, s)).To(Succeed())

	var first klaxonv1.OnCallSchedule
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), &first)).To(Succeed())
		g.Expect(first.Status.OnCall).To(HaveLen(1))
		g.Expect(first.Status.NextHandoff).NotTo(BeNil())
		g.Expect(first.Status.NextOnCall).To(HaveLen(1))
		g.Expect(first.Status.NextOnCall[0]).NotTo(Equal(first.Status.OnCall[0]))
		g.Expect(meta.IsStatusConditionTrue(first.Status.Conditions, klaxonv1.ConditionReady)).To(BeTrue())
	}).Should(Succeed())

	// At the handoff the next responder is published, never before it.
	g.Eventually(func(g Gomega) {
		var now klaxonv1.OnCallSchedule
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), &now)).To(Succeed())
		g.Expect(now.Status.OnCall).To(Equal(first.Status.NextOnCall))
		g.Expect(now.Status.NextHandoff.Time).To(BeTemporally(">", first.Status.NextHandoff.Time))
	}, 15*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(time.Now()).To(BeTemporally(">=", first.Status.NextHandoff.Time))
}

func TestOnCallScheduleInvalidTimeZone(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	s := &klaxonv1.OnCallSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: "mars", Namespace: ns},
		Spec: klaxonv1.OnCallScheduleSpec{TimeZone: "Mars/Olympus_Mons", Layers: []klaxonv1.ScheduleLayer{{
			Name: "l", Start: "2026-01-05", HandoffTime: "09:00", RotationLength: metav1.Duration{Duration: 24 * time.Hour},
			Responders: []klaxonv1.ObjectReference{{Name: "alice"}}}}},
	}
	g.Expect(k8sClient.Create(ctx, s)).To(Succeed())
	expectNotReady(g, s, klaxonv1.ReasonInvalidSpec, "Mars/Olympus_Mons")
	g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, klaxonv1.ConditionStalled)).To(BeTrue())

	// Fixing the zone clears Stalled; the missing responder is what remains.
	s.Spec.TimeZone = "Europe/Berlin"
	g.Expect(k8sClient.Update(ctx, s)).To(Succeed())
	expectNotReady(g, s, klaxonv1.ReasonReferenceNotFound, "Responder "+ns+"/alice not found")
	g.Expect(meta.FindStatusCondition(s.Status.Conditions, klaxonv1.ConditionStalled)).To(BeNil())
	g.Expect(s.Status.OnCall).To(Equal([]string{"alice"}))
}
