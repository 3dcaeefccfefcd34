package controllers

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// window is how late a page may arrive under -race on two cores. A page is never
// accepted early.
const window = 2 * time.Second

// tenantWithPolicy creates, in a new namespace, a webhook channel to sink, one
// responder per level (named after it) and an escalation policy paging them level by
// level with the given delays. It waits until the policy is Ready.
func tenantWithPolicy(t *testing.T, g Gomega, s *sink, people []string, delays []time.Duration) string {
	ctx := context.Background()
	ns := newNamespace(t)
	s.channel(g, ns, "pager")
	ep := &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	for i, p := range people {
		g.Expect(k8sClient.Create(ctx, responder(ns, p, "pager"))).To(Succeed())
		ep.Spec.Levels = append(ep.Spec.Levels, klaxonv1.EscalationLevel{Delay: metav1.Duration{Duration: delays[i]},
			Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: p}}})
	}
	g.Expect(k8sClient.Create(ctx, ep)).To(Succeed())
	expectReady(g, ep)
	return ns
}

func openIncident(g Gomega, ns, name string, lbls map[string]string) *klaxonv1.Incident {
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
		Spec: klaxonv1.IncidentSpec{Title: "payments failing", Severity: klaxonv1.SEV2,
			EscalationPolicyRef: &klaxonv1.ObjectReference{Name: "default"}}}
	g.Expect(directClient.Create(context.Background(), inc)).To(Succeed())
	return inc
}

// triggeredAt reads when the incident was opened, as status records it.
func triggeredAt(g Gomega, ns, name string) time.Time {
	var at time.Time
	g.Eventually(func(g Gomega) {
		inc := &klaxonv1.Incident{}
		g.Expect(directClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, inc)).To(Succeed())
		g.Expect(inc.Status.TriggeredAt).NotTo(BeNil())
		at = inc.Status.TriggeredAt.Time
	}).Should(Succeed())
	return at
}

// TestEscalationClimbsAndStops: an unacknowledged incident pages level 1 at once and
// level 2 after its delay, each within the window and never early; acknowledging
// stops the climb before level 3.
func TestEscalationClimbsAndStops(t *testing.T) {
	g := NewWithT(t)
	s := newSink(t)
	ns := tenantWithPolicy(t, g, s, []string{"alice", "bob", "carol"}, []time.Duration{0, 3 * time.Second, 4 * time.Second})
	openIncident(g, ns, "payments", nil)
	t0 := triggeredAt(g, ns, "payments")

	g.Eventually(func() []arrival { return s.received("alice") }, 10*time.Second, 20*time.Millisecond).Should(HaveLen(1))
	alice := s.received("alice")[0]
	g.Expect(alice.at).To(BeTemporally(">=", t0))
	g.Expect(alice.at).To(BeTemporally("<=", t0.Add(window+time.Second)), "the first page is prompt") // t0 is truncated to the second
	g.Expect(alice.payload.Event).To(BeEquivalentTo("Triggered"))
	g.Expect(alice.payload.Incident.Level).To(BeEquivalentTo(1))
	g.Expect(alice.payload.Links.Acknowledge).To(HavePrefix("http://klaxon.test/api/v1/respond/"))

	g.Eventually(func() []arrival { return s.received("bob") }, 15*time.Second, 20*time.Millisecond).Should(HaveLen(1))
	bob := s.received("bob")[0]
	due := t0.Add(3 * time.Second)
	g.Expect(bob.at).To(BeTemporally(">=", due), "never early")
	g.Expect(bob.at).To(BeTemporally("<=", due.Add(window)))
	g.Expect(bob.payload.Event).To(BeEquivalentTo("Escalated"))
	g.Expect(bob.payload.Incident.Level).To(BeEquivalentTo(2))

	updateSpec(g, ns, "payments", func(i *klaxonv1.Incident) {
		i.Spec.State, i.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "bob"
	})
	g.Consistently(func() []arrival { return s.received("carol") }, 7*time.Second, 100*time.Millisecond).Should(BeEmpty())

	inc := getIncident(g, ns, "payments")
	g.Expect(inc.Status.Escalation.Level).To(Equal(int32(2)))
	g.Expect(inc.Status.Escalation.NextEscalationAt).To(BeNil())
	var types []string
	for _, e := range inc.Status.Timeline {
		types = append(types, e.Type)
	}
	g.Expect(types).To(ContainElements("Paged", "Escalated", "Notified", "Acknowledged"))
	// Both pages are in the log, sent once each.
	sent := 0
	for _, n := range inc.Status.Notifications {
		if n.Phase == klaxonv1.NotificationSent && n.Event != klaxonv1.EventAcknowledged {
			sent++
		}
	}
	g.Expect(sent).To(Equal(2))

	// The escalation decision kept the policy it decided on, without its managed fields.
	var decisions klaxonv1.IncidentDecisionList
	g.Expect(k8sClient.List(context.Background(), &decisions, client.InNamespace(ns))).To(Succeed())
	var inputs []string
	for _, rec := range decisions.Items {
		for _, d := range rec.Spec.Decisions {
			if d.Point == "escalation" {
				inputs = append(inputs, string(d.Input))
			}
		}
	}
	g.Expect(inputs).To(HaveLen(1))
	g.Expect(inputs[0]).To(ContainSubstring(`"policy":{`))
	g.Expect(inputs[0]).NotTo(ContainSubstring("managedFields"))
}

// TestRestartNeitherLosesNorRepeats stops the manager between two pages and starts a
// new one after the second is due: it pages level 2 once and never level 1 again.
func TestRestartNeitherLosesNorRepeats(t *testing.T) {
	g := NewWithT(t)
	s := newSink(t)
	ns := tenantWithPolicy(t, g, s, []string{"alice", "bob"}, []time.Duration{0, 4 * time.Second})

	stop := startDirectManager(t)
	openIncident(g, ns, "restart", map[string]string{directLabel: "true"})
	g.Eventually(func() []arrival { return s.received("alice") }, 10*time.Second, 20*time.Millisecond).Should(HaveLen(1))
	stop()

	t0 := triggeredAt(g, ns, "restart")
	// Nothing runs while level 2 falls due.
	time.Sleep(time.Until(t0.Add(5 * time.Second)))
	g.Expect(s.received("bob")).To(BeEmpty())

	stop = startDirectManager(t)
	defer stop()
	g.Eventually(func() []arrival { return s.received("bob") }, 10*time.Second, 20*time.Millisecond).Should(HaveLen(1))
	g.Consistently(func() int { return len(s.received("alice")) + len(s.received("bob")) }, 3*time.Second, 100*time.Millisecond).Should(Equal(2))

	// Level 2 is the last: the timeline says escalation ends there, right after its
	// page, and does not claim that nobody answered a page a moment old.
	var types []string
	var exhausted string
	var inc klaxonv1.Incident
	g.Expect(directClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "restart"}, &inc)).To(Succeed())
	for _, e := range inc.Status.Timeline {
		types = append(types, e.Type)
		if e.Type == "EscalationExhausted" {
			exhausted = e.Message
		}
	}
	g.Expect(types).To(ContainElements("Escalated", "EscalationExhausted"))
	g.Expect(exhausted).To(Equal("the last level of " + ns + "/default is paged: no further escalation or repeat"))
}

// startDirectManager runs a manager of its own over the incidents labelled
// directLabel (the suite's manager ignores them) and returns how to stop it.
func startDirectManager(t *testing.T) func() {
	t.Helper()
	onlyDirect, err := labels.Parse(directLabel + " = true")
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{&klaxonv1.Incident{}: {Label: onlyDirect}}},
		// This process already runs the suite's controllers under the same names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := SetupWithManager(mgr, suiteOptions()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// TestRetriesThenDelivers: a receiver that answers 500 twice and then 200 gets the
// page once, with three attempts recorded.
func TestRetriesThenDelivers(t *testing.T) {
	g := NewWithT(t)
	s := newSink(t, response{status: http.StatusInternalServerError}, response{status: http.StatusInternalServerError})
	ns := tenantWithPolicy(t, g, s, []string{"alice"}, []time.Duration{0})
	openIncident(g, ns, "flaky", nil)

	g.Eventually(func() []arrival { return s.received("alice") }, 20*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	g.Expect(s.all()).To(HaveLen(3))
	keys := map[string]bool{}
	for _, a := range s.all() {
		keys[a.key] = true
	}
	g.Expect(keys).To(HaveLen(1), "every attempt carries the same Idempotency-Key")
	g.Eventually(func(g Gomega) {
		inc := getIncident(g, ns, "flaky")
		var page *klaxonv1.NotificationRecord
		for i := range inc.Status.Notifications {
			if inc.Status.Notifications[i].Event == klaxonv1.EventTriggered {
				page = &inc.Status.Notifications[i]
			}
		}
		g.Expect(page).NotTo(BeNil())
		g.Expect(page.Phase).To(Equal(klaxonv1.NotificationSent))
		g.Expect(page.Attempts).To(Equal(int32(3)))
	}).Should(Succeed())
}

// TestRetryAfterIsHonoured: after a 429 with Retry-After: 2 the next attempt waits
// at least 2 seconds.
func TestRetryAfterIsHonoured(t *testing.T) {
	g := NewWithT(t)
	s := newSink(t, response{status: http.StatusTooManyRequests, retryAfter: 2})
	ns := tenantWithPolicy(t, g, s, []string{"alice"}, []time.Duration{0})
	openIncident(g, ns, "limited", nil)

	g.Eventually(func() []arrival { return s.received("alice") }, 20*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	all := s.all()
	g.Expect(all).To(HaveLen(2))
	g.Expect(all[1].at.Sub(all[0].at)).To(BeNumerically(">=", 2*time.Second))
}
