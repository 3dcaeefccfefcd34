package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	corev1 "k8s.io/api/core/v1"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
)

func getIncident(g Gomega, ns, name string) *klaxonv1.Incident {
	var inc klaxonv1.Incident
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &inc)).To(Succeed())
	return &inc
}

// updateSpec changes an incident's spec, retrying on conflicts with the controller.
func updateSpec(g Gomega, ns, name string, mutate func(*klaxonv1.Incident)) {
	g.Eventually(func() error {
		inc := &klaxonv1.Incident{}
		if err := apiReader.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, inc); err != nil {
			return err
		}
		mutate(inc)
		return k8sClient.Update(context.Background(), inc)
	}).Should(Succeed())
}

func TestIncidentLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	inc := &klaxonv1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: "db-down", Namespace: ns},
		Spec:       klaxonv1.IncidentSpec{Title: "primary database unreachable", Severity: klaxonv1.SEV1, Service: "db"},
	}
	g.Expect(k8sClient.Create(ctx, inc)).To(Succeed())

	g.Eventually(func(g Gomega) {
		got := getIncident(g, ns, "db-down")
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(got.Status.State).To(Equal(klaxonv1.StateTriggered))
		g.Expect(got.Status.TriggeredAt).NotTo(BeNil())
		g.Expect(got.Status.Severity).To(Equal(klaxonv1.SEV1))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, klaxonv1.ConditionReady)).To(BeTrue())
		g.Expect(meta.IsStatusConditionFalse(got.Status.Conditions, klaxonv1.ConditionAcknowledged)).To(BeTrue())
		g.Expect(got.Status.Timeline).To(HaveLen(3))
		g.Expect(got.Status.Timeline[0].Type).To(Equal("Triggered"))
		g.Expect(got.Status.Timeline[1].Type).To(Equal("Triaged"))
		// Nothing picks an escalation policy for it: the timeline says nobody is paged.
		g.Expect(got.Status.Timeline[2].Type).To(Equal("NoEscalationPolicy"))
		g.Expect(got.Status.Timeline[2].Message).To(HavePrefix("no escalation policy: nobody is paged"))
	}).Should(Succeed())

	updateSpec(g, ns, "db-down", func(i *klaxonv1.Incident) {
		i.Spec.State, i.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, "alice"
	})
	g.Eventually(func(g Gomega) {
		got := getIncident(g, ns, "db-down")
		g.Expect(got.Status.State).To(Equal(klaxonv1.StateAcknowledged))
		g.Expect(got.Status.AcknowledgedAt).NotTo(BeNil())
		g.Expect(got.Status.TimeToAcknowledge).NotTo(BeNil())
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, klaxonv1.ConditionAcknowledged)).To(BeTrue())
		g.Expect(got.Status.Timeline[len(got.Status.Timeline)-1].Actor).To(Equal("alice"))
	}).Should(Succeed())

	updateSpec(g, ns, "db-down", func(i *klaxonv1.Incident) {
		i.Spec.State, i.Spec.Stage = klaxonv1.StateResolved, klaxonv1.StageMonitor
		i.Spec.RootCause = "disk full"
	})
	var resolved *klaxonv1.Incident
	g.Eventually(func(g Gomega) {
		resolved = getIncident(g, ns, "db-down")
		g.Expect(resolved.Status.State).To(Equal(klaxonv1.StateResolved))
		g.Expect(resolved.Status.Stage).To(Equal(klaxonv1.StageMonitor))
		g.Expect(resolved.Status.TimeToResolve).NotTo(BeNil())
		g.Expect(meta.IsStatusConditionTrue(resolved.Status.Conditions, klaxonv1.ConditionResolved)).To(BeTrue())
	}).Should(Succeed())
	g.Expect(resolved.Status.TimeToResolve.Duration).To(BeNumerically(">=", resolved.Status.TimeToAcknowledge.Duration))
	var types []string
	for _, e := range resolved.Status.Timeline {
		types = append(types, e.Type)
	}
	g.Expect(types).To(Equal([]string{"Triggered", "Triaged", "NoEscalationPolicy", "Acknowledged", "StageChanged", "Resolved"}))

	// Reconciling again changes nothing: no write, so the resourceVersion stays.
	r := &IncidentReconciler{Client: k8sClient, Recorder: &events.FakeRecorder{}, Engine: engine, Now: time.Now}
	_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(resolved)})
	g.Expect(err).NotTo(HaveOccurred())
	again := &klaxonv1.Incident{}
	g.Expect(apiReader.Get(ctx, client.ObjectKeyFromObject(resolved), again)).To(Succeed())
	g.Expect(again.ResourceVersion).To(Equal(resolved.ResourceVersion))

	// One event per transition, and no more; the triage of the new incident is told
	// in its Triggered event rather than one of its own.
	g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		reasons := map[string]int{}
		for _, e := range evs.Items {
			if e.Regarding.Name == "db-down" {
				reasons[e.Reason]++
				if e.Reason == "Triggered" {
					g.Expect(e.Note).To(MatchRegexp(`^incident opened: .*; triaged SEV\d`))
				}
			}
		}
		g.Expect(reasons).To(Equal(map[string]int{"Triggered": 1, "NoEscalationPolicy": 1, "Acknowledged": 1, "StageChanged": 1, "Resolved": 1}))
	}).Should(Succeed())
	g.Consistently(func(g Gomega) int {
		var evs eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		return len(evs.Items)
	}, 2*time.Second, 200*time.Millisecond).Should(Equal(5))
	// That nobody is paged is a Warning: where people watching a cluster look.
	var evs eventsv1.EventList
	g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	for _, e := range evs.Items {
		want := corev1.EventTypeNormal
		if e.Reason == "NoEscalationPolicy" {
			want = corev1.EventTypeWarning
		}
		g.Expect(e.Type).To(Equal(want), e.Reason)
	}

	// Reopen: back to Triggered, counted.
	updateSpec(g, ns, "db-down", func(i *klaxonv1.Incident) { i.Spec.State = klaxonv1.StateTriggered })
	g.Eventually(func(g Gomega) {
		got := getIncident(g, ns, "db-down")
		g.Expect(got.Status.ReopenCount).To(Equal(int32(1)))
		g.Expect(got.Status.State).To(Equal(klaxonv1.StateTriggered))
		g.Expect(meta.IsStatusConditionFalse(got.Status.Conditions, klaxonv1.ConditionResolved)).To(BeTrue())
		// A new episode, still without a policy: said again, once.
		last := got.Status.Timeline[len(got.Status.Timeline)-2:]
		g.Expect([]string{last[0].Type, last[1].Type}).To(Equal([]string{"Reopened", "NoEscalationPolicy"}))
	}).Should(Succeed())
}

// TestIncidentHistoryStaysBounded drives one incident through thousands of
// transitions: the incident stays under 128 KiB and its whole history reads back in
// order from the incident and its archived segments. The test calls the reconciler
// itself after each change (the suite's manager does not see this incident), so no
// two changes coalesce and no time goes to polling.
func TestIncidentHistoryStaysBounded(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	const name = "long-sev1"
	key := client.ObjectKey{Namespace: ns, Name: name}
	g.Expect(directClient.Create(ctx, &klaxonv1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{directLabel: "true"}},
		Spec:       klaxonv1.IncidentSpec{Title: "region outage", Severity: klaxonv1.SEV1},
	})).To(Succeed())
	r := &IncidentReconciler{Client: directClient, Recorder: &events.FakeRecorder{}, Engine: engine, Now: time.Now}
	reconcileOnce := func() {
		res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.RequeueAfter).To(BeZero(), "nothing else writes this incident, so no conflict")
	}
	reconcileOnce()

	stages := []klaxonv1.IncidentStage{klaxonv1.StageContain, klaxonv1.StageInvestigate, klaxonv1.StageRemediate,
		klaxonv1.StageRestore, klaxonv1.StageVerify, klaxonv1.StageMonitor, klaxonv1.StageTriage}
	severities := []klaxonv1.Severity{klaxonv1.SEV2, klaxonv1.SEV1}
	// Each step makes four transitions: acknowledge or withdraw the acknowledgement,
	// change stage, assignee and severity.
	const steps, perStep = 500, 4
	inc := &klaxonv1.Incident{}
	for i := 0; i < steps; i++ {
		g.Expect(directClient.Get(ctx, key, inc)).To(Succeed())
		if i%2 == 0 {
			inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, fmt.Sprintf("responder-%d", i)
		} else {
			inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateTriggered, ""
		}
		inc.Spec.Stage, inc.Spec.Assignee = stages[i%len(stages)], fmt.Sprintf("responder-%d", i)
		inc.Spec.Severity = severities[i%2]
		g.Expect(directClient.Update(ctx, inc)).To(Succeed())
		reconcileOnce()
	}

	got := &klaxonv1.Incident{}
	g.Expect(directClient.Get(ctx, key, got)).To(Succeed())
	raw, err := json.Marshal(got)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("incident after %d transitions: %d bytes, %d timeline entries in status, %d archived in %d segments",
		steps*perStep, len(raw), len(got.Status.Timeline), got.Status.TimelineArchive.Entries, got.Status.TimelineArchive.Segments)
	g.Expect(len(raw)).To(BeNumerically("<", 128*1024))
	g.Expect(len(got.Status.Timeline)).To(BeNumerically("<=", incident.MaxTimeline))

	history, err := incident.History(ctx, directClient, got)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(history).To(HaveLen(2 + steps*perStep))
	g.Expect(history[0].Type).To(Equal("Triggered"))
	g.Expect(history[1].Type).To(Equal("Triaged"))
	for i := 0; i < steps; i++ {
		step := history[2+perStep*i : 2+perStep*(i+1)]
		ack := "Acknowledged"
		if i%2 == 1 {
			ack = "Unacknowledged"
		}
		g.Expect([]string{step[0].Type, step[1].Type, step[2].Type, step[3].Type}).To(
			Equal([]string{ack, "StageChanged", "Assigned", "SeverityChanged"}), "step %d", i)
		g.Expect(step[2].Message).To(Equal(fmt.Sprintf("assigned to responder-%d", i)))
	}
	var segs klaxonv1.IncidentTimelineList
	g.Expect(directClient.List(ctx, &segs, client.InNamespace(ns))).To(Succeed())
	for _, s := range segs.Items {
		g.Expect(s.OwnerReferences).To(HaveLen(1))
		g.Expect(s.OwnerReferences[0].UID).To(Equal(got.UID))
	}
}

// TestReusedNameDoesNotInheritHistory: an incident whose name an earlier, deleted
// incident had (intake reuses names once retention deleted the old one) neither
// reads nor collides with the earlier one's timeline segments, which the garbage
// collector may not have removed yet (envtest runs none).
func TestReusedNameDoesNotInheritHistory(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	const name = "reused"
	key := client.ObjectKey{Namespace: ns, Name: name}
	create := func() *klaxonv1.Incident {
		inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{directLabel: "true"}},
			Spec: klaxonv1.IncidentSpec{Title: "disk full", Severity: klaxonv1.SEV3}}
		g.Expect(directClient.Create(ctx, inc)).To(Succeed())
		return inc
	}
	r := &IncidentReconciler{Client: directClient, Recorder: &events.FakeRecorder{}, Engine: engine, Now: time.Now}
	// drive makes n assignee changes, reconciling each; a reconcile that meets the
	// earlier incident's segment fails once and succeeds on its retry.
	drive := func(n int, who string) {
		for i := 0; i < n; i++ {
			inc := &klaxonv1.Incident{}
			g.Expect(directClient.Get(ctx, key, inc)).To(Succeed())
			inc.Spec.Assignee = fmt.Sprintf("%s-%d", who, i)
			g.Expect(directClient.Update(ctx, inc)).To(Succeed())
			g.Eventually(func() error {
				_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key})
				return err
			}, 10*time.Second, 10*time.Millisecond).Should(Succeed())
		}
	}

	// The earlier incident archives more segments than the new one will.
	first := create()
	drive(incident.MaxTimeline+60, "old")
	var segs klaxonv1.IncidentTimelineList
	g.Expect(directClient.List(ctx, &segs, client.InNamespace(ns))).To(Succeed())
	g.Expect(len(segs.Items)).To(BeNumerically(">=", 2), "the first incident archived part of its timeline")
	g.Expect(directClient.Delete(ctx, first)).To(Succeed())

	second := create()
	g.Expect(second.UID).NotTo(Equal(first.UID))
	drive(incident.MaxTimeline+5, "new")
	got := &klaxonv1.Incident{}
	g.Expect(directClient.Get(ctx, key, got)).To(Succeed())
	history, err := incident.History(ctx, directClient, got)
	g.Expect(err).NotTo(HaveOccurred())
	for _, e := range history {
		g.Expect(e.Message).NotTo(ContainSubstring("old-"), "the earlier incident's entry %q", e.Message)
	}
	g.Expect(history).To(ContainElement(HaveField("Message", "assigned to new-0")))
}
