package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// readyOf returns an object's Ready and Stalled conditions as the API server has them.
func readyOf(g Gomega, obj conditioned) (ready, stalled *metav1.Condition) {
	g.Expect(directClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return meta.FindStatusCondition(obj.GetConditions(), klaxonv1.ConditionReady),
		meta.FindStatusCondition(obj.GetConditions(), klaxonv1.ConditionStalled)
}

func TestAlertSourceReadiness(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	src := &klaxonv1.AlertSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prometheus"},
		Spec: klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatAlertmanager,
			Auth: klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: "prom-auth"}}}}
	g.Expect(k8sClient.Create(ctx, src)).To(Succeed())

	expectReady := func(status metav1.ConditionStatus, reason string, stalled bool) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			ready, st := readyOf(g, src)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(status), ready.Message)
			g.Expect(ready.Reason).To(Equal(reason), ready.Message)
			g.Expect(st != nil && st.Status == metav1.ConditionTrue).To(Equal(stalled))
		}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
	}
	expectReady(metav1.ConditionFalse, klaxonv1.ReasonSecretNotFound, false)
	g.Expect(src.Status.Endpoint).To(Equal("/api/v1/alerts/" + ns + "/prometheus"))

	// The Secret appears without the token, then gets it: the source follows by itself.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prom-auth"}, Data: map[string][]byte{"x": []byte("s3cret-value")}}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	expectReady(metav1.ConditionFalse, klaxonv1.ReasonSecretKeyMissing, false)
	g.Expect(meta.FindStatusCondition(src.Status.Conditions, klaxonv1.ConditionReady).Message).NotTo(ContainSubstring("s3cret-value"))
	secret.Data[klaxonv1.SecretKeyAuthToken] = []byte("tok")
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	expectReady(metav1.ConditionTrue, klaxonv1.ReasonReconciled, false)

	// A mapping that cannot work, and a policy in another tenant: only an edit helps.
	src.Spec.Format = klaxonv1.FormatGeneric
	src.Spec.Mapping = &klaxonv1.AlertMapping{Title: "{.title["}
	g.Expect(k8sClient.Update(ctx, src)).To(Succeed())
	expectReady(metav1.ConditionFalse, klaxonv1.ReasonInvalidSpec, true)
	src.Spec.Mapping.Title = "{.title}"
	src.Spec.EscalationPolicyRef = &klaxonv1.ObjectReference{Name: "theirs", Namespace: "other-tenant"}
	g.Expect(k8sClient.Update(ctx, src)).To(Succeed())
	expectReady(metav1.ConditionFalse, klaxonv1.ReasonCrossTenantReference, true)
	src.Spec.EscalationPolicyRef.Namespace = systemNamespace
	g.Expect(k8sClient.Update(ctx, src)).To(Succeed())
	expectReady(metav1.ConditionTrue, klaxonv1.ReasonReconciled, false)
}

func TestMaintenanceWindowBoundaries(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	// Labelled direct: the suite's own reconciler (on the real clock) never sees it,
	// while this test walks its clock through it.
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	end := start.Add(2 * time.Hour)
	mw := &klaxonv1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-upgrade",
		Labels: map[string]string{directLabel: "true"}},
		Spec: klaxonv1.MaintenanceWindowSpec{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: end}}}
	g.Expect(k8sClient.Create(ctx, mw)).To(Succeed())

	var now time.Time
	r := &MaintenanceWindowReconciler{Client: directClient, Recorder: &events.FakeRecorder{}, Now: func() time.Time { return now }}
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(mw)}
	get := func() *klaxonv1.MaintenanceWindow {
		var got klaxonv1.MaintenanceWindow
		g.Expect(directClient.Get(ctx, req.NamespacedName, &got)).To(Succeed())
		return &got
	}
	for _, step := range []struct {
		now    time.Time
		active bool
		// wake is when the reconcile asks to come back: never before the boundary.
		wake time.Time
	}{
		{start.Add(-time.Hour), false, start},
		{start.Add(-time.Millisecond), false, start},
		{start, true, end},
		{end.Add(-time.Second), true, end},
		{end, false, time.Time{}},
	} {
		now = step.now
		res, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
		got := get()
		g.Expect(got.Status.Active).To(Equal(step.active), "at %s", now)
		if step.wake.IsZero() {
			g.Expect(res.RequeueAfter).To(BeZero(), "a window that never opens again is not requeued")
			g.Expect(got.Status.NextStart).To(BeNil())
			continue
		}
		wake := now.Add(res.RequeueAfter)
		g.Expect(wake).NotTo(BeTemporally("<", step.wake), "woken before the boundary at %s", now)
		g.Expect(wake).To(BeTemporally("<", step.wake.Add(time.Second)), "woken long after the boundary at %s", now)
		g.Expect(got.Status.NextStart.Time).To(BeTemporally("==", start))
		g.Expect(got.Status.NextEnd.Time).To(BeTemporally("==", end))
		ready, _ := readyOf(g, got)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
	}

	bad := &klaxonv1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: klaxonv1.MaintenanceWindowSpec{Recurrence: &klaxonv1.Recurrence{Cron: "30 2 * * *",
			Duration: metav1.Duration{Duration: time.Hour}, TimeZone: "Europe/Berln"}}}
	g.Expect(k8sClient.Create(ctx, bad)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ready, stalled := readyOf(g, bad)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(klaxonv1.ReasonInvalidSpec))
		g.Expect(ready.Message).To(ContainSubstring("recurrence.timeZone"))
		g.Expect(stalled).NotTo(BeNil())
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
}

// TestMaintenanceWindowOpensAndCloses runs on the real clock: the suite's reconciler
// flips Active at the boundaries, and never before them.
func TestMaintenanceWindowOpensAndCloses(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	start := time.Now().Add(2 * time.Second).Truncate(time.Second)
	end := start.Add(2 * time.Second)
	mw := &klaxonv1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "short"},
		Spec: klaxonv1.MaintenanceWindowSpec{Start: &metav1.Time{Time: start}, End: &metav1.Time{Time: end}}}
	g.Expect(k8sClient.Create(context.Background(), mw)).To(Succeed())
	var got klaxonv1.MaintenanceWindow
	g.Eventually(func(g Gomega) {
		g.Expect(directClient.Get(context.Background(), client.ObjectKeyFromObject(mw), &got)).To(Succeed())
		g.Expect(got.Status.Active).To(BeTrue())
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
	g.Expect(time.Now()).NotTo(BeTemporally("<", start), "active before its start")
	g.Eventually(func(g Gomega) {
		g.Expect(directClient.Get(context.Background(), client.ObjectKeyFromObject(mw), &got)).To(Succeed())
		g.Expect(got.Status.Active).To(BeFalse())
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
	g.Expect(time.Now()).NotTo(BeTemporally("<", end), "inactive before its end")
}

// heartbeatFor creates a Heartbeat with a bearer-token Secret.
func heartbeatFor(g Gomega, ns, name string, interval, grace time.Duration) *klaxonv1.Heartbeat {
	ctx := context.Background()
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-auth"},
		Data: map[string][]byte{klaxonv1.SecretKeyAuthToken: []byte("hb-token")}})).To(Succeed())
	hb := &klaxonv1.Heartbeat{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: klaxonv1.HeartbeatSpec{Interval: metav1.Duration{Duration: interval}, Grace: metav1.Duration{Duration: grace},
			Severity: klaxonv1.SEV2, Service: "backups",
			Auth: klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: name + "-auth"}}}}
	g.Expect(k8sClient.Create(ctx, hb)).To(Succeed())
	return hb
}

// ping pings a heartbeat through the suite's intake endpoint.
func ping(g Gomega, hb *klaxonv1.Heartbeat) {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/heartbeats/"+hb.Namespace+"/"+hb.Name, nil)
	req.Header.Set("Authorization", "Bearer hb-token")
	rec := httptest.NewRecorder()
	intakeHandler.ServeHTTP(rec, req)
	g.Expect(rec.Code).To(Equal(http.StatusOK), rec.Body.String())
}

// TestHeartbeatDeadline walks an injected clock up to a heartbeat's deadline: nothing
// happens before it, the miss opens exactly one incident at it, and a reconciler
// started afresh (a restart) finds the deadline and the miss in status.
func TestHeartbeatDeadline(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	// An hour: the suite's reconciler, on the real clock, never reaches the deadline.
	hb := heartbeatFor(g, ns, "backup", time.Hour, time.Minute)
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(hb), hb)).To(Succeed())
	deadline := intake.HeartbeatDeadline(hb, hb.CreationTimestamp.Time)

	var now time.Time
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(hb)}
	// The suite's reconciler (on the real clock, an hour from the deadline) writes the
	// same status concurrently; a conflict asks for a retry, which a test runs at once.
	reconcileOnce := func() (reconcile.Result, error) {
		r := &HeartbeatReconciler{Client: directClient, APIReader: directClient, Recorder: &events.FakeRecorder{},
			Refs: references.Resolver{SystemNamespace: systemNamespace}, Now: func() time.Time { return now }}
		for {
			res, err := r.Reconcile(ctx, req)
			if err != nil || !res.Requeue {
				return res, err
			}
		}
	}
	get := func() *klaxonv1.Heartbeat {
		var got klaxonv1.Heartbeat
		g.Expect(directClient.Get(ctx, req.NamespacedName, &got)).To(Succeed())
		return &got
	}
	for _, now = range []time.Time{hb.CreationTimestamp.Time.Add(30 * time.Minute), deadline.Add(-time.Second)} {
		res, err := reconcileOnce()
		g.Expect(err).NotTo(HaveOccurred())
		got := get()
		g.Expect(got.Status.State).To(Equal(klaxonv1.HeartbeatPending))
		g.Expect(got.Status.DeadlineAt.Time).To(BeTemporally("==", deadline))
		g.Expect(now.Add(res.RequeueAfter)).NotTo(BeTemporally("<", deadline), "requeued before the deadline")
		g.Expect(now.Add(res.RequeueAfter)).To(BeTemporally("<", deadline.Add(time.Second)))
		g.Expect(incidentsIn(g, ns)).To(BeEmpty(), "an incident before the deadline")
	}

	now = deadline
	for range 2 { // the second reconcile (a restart) opens nothing more
		_, err := reconcileOnce()
		g.Expect(err).NotTo(HaveOccurred())
	}
	got := get()
	g.Expect(got.Status.State).To(Equal(klaxonv1.HeartbeatDown))
	g.Expect(got.Status.Incident).To(Equal(intake.HeartbeatIncidentName("backup", deadline)))
	list := incidentsIn(g, ns)
	g.Expect(list).To(HaveLen(1))
	inc := list[0]
	g.Expect(inc.Name).To(Equal(got.Status.Incident))
	g.Expect(inc.Spec.Title).To(Equal("heartbeat backup missed"))
	g.Expect(inc.Spec.Service).To(Equal("backups"))
	g.Expect(inc.Spec.Source.Kind).To(Equal(klaxonv1.SourceHeartbeat))
	g.Expect(inc.Spec.Source.SuggestedSeverity).To(Equal(klaxonv1.SEV2))

	// The incident went missing (a restart between recording the miss and opening
	// it): the next reconcile opens it again, with the same name.
	g.Expect(directClient.Delete(ctx, &inc)).To(Succeed())
	g.Eventually(func() error {
		return directClient.Get(ctx, client.ObjectKeyFromObject(&inc), &klaxonv1.Incident{})
	}).ShouldNot(Succeed())
	_, err := reconcileOnce()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(incidentsIn(g, ns)).To(HaveLen(1))

	// The next ping resolves it, in the heartbeat's name, and the heartbeat is up.
	g.Eventually(func(g Gomega) { ping(g, hb) }, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var resolved klaxonv1.Incident
		g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(&inc), &resolved)).To(Succeed())
		g.Expect(resolved.Spec.State).To(Equal(klaxonv1.StateResolved))
		g.Expect(resolved.Annotations[klaxonv1.AnnotationStateChangedBy]).To(Equal("Heartbeat/backup"))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	g.Expect(get().Status.State).To(Equal(klaxonv1.HeartbeatUp))
}

// TestHeartbeatMissedOnTheRealClock: a one-second heartbeat nobody pings goes down
// with one incident, not before its deadline; a ping brings it back and resolves it.
func TestHeartbeatMissedOnTheRealClock(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	hb := heartbeatFor(g, ns, "cron", time.Second, 0)
	var got klaxonv1.Heartbeat
	g.Eventually(func(g Gomega) {
		g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(hb), &got)).To(Succeed())
		g.Expect(got.Status.State).To(Equal(klaxonv1.HeartbeatDown))
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
	// The miss is recorded first, then the incident opened.
	var list []klaxonv1.Incident
	g.Eventually(func(g Gomega) {
		list = incidentsIn(g, ns)
		g.Expect(list).To(HaveLen(1))
	}, 10*time.Second, 20*time.Millisecond).Should(Succeed())
	g.Consistently(func(g Gomega) { g.Expect(incidentsIn(g, ns)).To(HaveLen(1)) }, time.Second/2, 50*time.Millisecond).Should(Succeed())
	g.Expect(list[0].CreationTimestamp.Time).NotTo(BeTemporally("<", got.Status.DeadlineAt.Time), "opened before the deadline")

	ping(g, hb)
	g.Eventually(func(g Gomega) {
		var inc klaxonv1.Incident
		g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(&list[0]), &inc)).To(Succeed())
		g.Expect(inc.Spec.State).To(Equal(klaxonv1.StateResolved))
	}, 10*time.Second, 20*time.Millisecond).Should(Succeed())
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(hb), &got)).To(Succeed())
	// Up, or already down again after a second without a ping: either way, the first
	// miss opened one incident and the ping resolved it.
	g.Expect(got.Status.LastPingAt).NotTo(BeNil())
}

// incidentsIn lists a namespace's incidents as the API server has them.
func incidentsIn(g Gomega, ns string) []klaxonv1.Incident {
	var list klaxonv1.IncidentList
	g.Expect(directClient.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}
