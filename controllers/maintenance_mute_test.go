package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestMaintenanceHoldsPages: an incident intake opened for a service under an open
// Suppress window pages nobody while the window is open, and pages once when it
// closes; an incident a person opened for the same service pages at once.
func TestMaintenanceHoldsPages(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := newSink(t)
	ns := tenantWithPolicy(t, g, s, []string{"alice"}, []time.Duration{0})

	mw := &klaxonv1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-patching"},
		Spec: klaxonv1.MaintenanceWindowSpec{
			Start:    &metav1.Time{Time: time.Now().Add(-time.Minute)},
			End:      &metav1.Time{Time: time.Now().Add(time.Hour)},
			Selector: klaxonv1.MaintenanceSelector{Services: []string{"payments-db"}},
			Action:   klaxonv1.MaintenanceSuppress}}
	g.Expect(k8sClient.Create(ctx, mw)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
		g.Expect(mw.Status.Active).To(BeTrue())
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())

	// Opened by intake before it saw the window (or just before the window began).
	fromAlert := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "db-slow", Namespace: ns},
		Spec: klaxonv1.IncidentSpec{Title: "database slow", Severity: klaxonv1.SEV2, Service: "payments-db",
			EscalationPolicyRef: &klaxonv1.ObjectReference{Name: "default"},
			Source: &klaxonv1.IncidentSource{Kind: klaxonv1.SourceAlertSource, Name: "prometheus",
				Labels: map[string]string{"alertname": "PostgresSlowQueries"}}}}
	g.Expect(directClient.Create(ctx, fromAlert)).To(Succeed())
	// Opened by a person: someone meant to raise it, maintenance or not.
	byHand := fromAlert.DeepCopy()
	byHand.ObjectMeta = metav1.ObjectMeta{Name: "db-down", Namespace: ns}
	byHand.Spec.Source = nil
	g.Expect(directClient.Create(ctx, byHand)).To(Succeed())

	pagesFor := func(name string) int {
		n := 0
		for _, a := range s.received("alice") {
			if a.payload.Incident.Name == name {
				n++
			}
		}
		return n
	}
	g.Eventually(func() int { return pagesFor("db-down") }, 10*time.Second, 20*time.Millisecond).Should(Equal(1))
	g.Consistently(func() int { return pagesFor("db-slow") }, 3*time.Second, 50*time.Millisecond).Should(BeZero())

	held := getIncident(g, ns, "db-slow")
	g.Expect(held.Status.Timeline).To(ContainElement(HaveField("Type", "NotificationHeld")))
	g.Expect(held.Status.Notifications).To(ContainElement(HaveField("Phase", klaxonv1.NotificationHeld)))

	// The window closes early: the held page goes out, once.
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(mw), mw)).To(Succeed())
	closed := time.Now()
	mw.Spec.End = &metav1.Time{Time: closed}
	g.Expect(k8sClient.Update(ctx, mw)).To(Succeed())
	g.Eventually(func() int { return pagesFor("db-slow") }, 15*time.Second, 20*time.Millisecond).Should(Equal(1))
	g.Consistently(func() int { return pagesFor("db-slow") }, 2*time.Second, 100*time.Millisecond).Should(Equal(1))
	for _, a := range s.received("alice") {
		if a.payload.Incident.Name == "db-slow" {
			g.Expect(a.at).NotTo(BeTemporally("<", closed.Truncate(time.Second)), "paged while the window was open")
		}
	}
}
