package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
)

// directIncident creates an incident the suite's manager does not see, so the test
// alone writes it.
func directIncident(g Gomega, ns, name string) *klaxonv1.Incident {
	inc := &klaxonv1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{directLabel: "true"}},
		Spec:       klaxonv1.IncidentSpec{Title: "checkout returns 500s", Severity: klaxonv1.SEV2, Service: "checkout"},
	}
	g.Expect(directClient.Create(context.Background(), inc)).To(Succeed())
	return inc
}

func testDecision(point, id string) incident.Decision {
	return incident.Decision{Point: point, ID: id, Time: time.Now(), Summary: point + " decided",
		Input: []byte(`{"tenant":"t"}`), Output: map[string]string{"severity": "SEV2"}}
}

// decisionExists reports whether an IncidentDecision of inc holds decision id.
func decisionExists(g Gomega, inc *klaxonv1.Incident, id string) bool {
	var list klaxonv1.IncidentDecisionList
	g.Expect(directClient.List(context.Background(), &list, client.InNamespace(inc.Namespace),
		client.MatchingLabels{klaxonv1.LabelIncident: incident.LabelValue(inc.Name)})).To(Succeed())
	for _, rec := range list.Items {
		for _, d := range rec.Spec.Decisions {
			if d.ID == id {
				g.Expect(rec.OwnerReferences).To(HaveLen(1))
				g.Expect(rec.OwnerReferences[0].UID).To(Equal(inc.UID))
				return true
			}
		}
	}
	return false
}

// A status write that loses to another writer leaves no decision behind that
// status does not refer to: the decisions created with it are deleted again.
func TestCommitLeavesNoDecisionWhenStatusConflicts(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	inc := directIncident(g, ns, "conflict")
	r := &IncidentReconciler{Client: directClient, Recorder: &events.FakeRecorder{}}

	orig := inc.DeepCopy()
	// Someone else writes the incident after this reconcile read it.
	other := inc.DeepCopy()
	other.Annotations = map[string]string{"example.com/touched": "yes"}
	g.Expect(directClient.Update(ctx, other)).To(Succeed())

	decisions := []incident.Decision{testDecision("triage", "c-triage"), testDecision("escalation", "c-escalation")}
	for _, d := range decisions {
		incident.AppendDecision(&inc.Status, d)
	}
	for _, ahead := range []bool{false, true} {
		_, err := r.commit(ctx, inc.DeepCopy(), orig, decisions, ahead)
		g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "ahead=%v: got %v", ahead, err)
		g.Expect(decisionExists(g, inc, "c-triage")).To(BeFalse())
		g.Expect(decisionExists(g, inc, "c-escalation")).To(BeFalse())
	}

	// The retry, from what is stored now, writes status and both decisions.
	var fresh klaxonv1.Incident
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &fresh)).To(Succeed())
	orig = fresh.DeepCopy()
	for _, d := range decisions {
		incident.AppendDecision(&fresh.Status, d)
	}
	toStore, err := r.commit(ctx, &fresh, orig, decisions, false)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(toStore).To(BeEmpty())
	g.Expect(decisionExists(g, &fresh, "c-triage")).To(BeTrue())
	g.Expect(decisionExists(g, &fresh, "c-escalation")).To(BeTrue())
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &fresh)).To(Succeed())
	g.Expect(fresh.Status.Decisions).To(HaveLen(2))
	g.Expect(fresh.Status.PendingDecisions).To(BeEmpty())
}

// refusingClient refuses to create the IncidentDecisions whose record ids
// (incident.RecordID) are in refuse, as many times as each says, with a 503.
func refusingClient(g Gomega, refuse map[string]int) (client.Client, map[string]int) {
	base, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	refusals := map[string]int{}
	return interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if d, ok := obj.(*klaxonv1.IncidentDecision); ok {
				mu.Lock()
				id := incident.RecordID(d.Spec)
				refused := refusals[id] < refuse[id]
				if refused {
					refusals[id]++
				}
				mu.Unlock()
				if refused {
					return apierrors.NewServiceUnavailable("etcd is catching up")
				}
			}
			return c.Create(ctx, obj, opts...)
		},
	}), refusals
}

// pendingIDs are the ids of the records status keeps in pendingDecisions.
func pendingIDs(g Gomega, inc *klaxonv1.Incident) []string {
	specs, err := incident.Pending(&inc.Status)
	g.Expect(err).NotTo(HaveOccurred())
	var ids []string
	for _, s := range specs {
		for _, d := range s.Decisions {
			g.Expect(string(d.Input)).To(Equal(`{"tenant":"t"}`), "the record keeps the input")
			ids = append(ids, d.ID)
		}
	}
	return ids
}

// A decision the API server refuses while it takes the status write does not hold
// status (and so the pages it claims) back: its record is kept in status, with a
// Warning, and stored by a later reconcile; one that can never be stored stays there,
// and the post-mortem still has its input.
func TestCommitKeepsRefusedDecisionInStatus(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	inc := directIncident(g, ns, "refused")
	// Three reconciles' records: the first stored at once, the second refused
	// twice, the third always.
	flaky, refusals := refusingClient(g, map[string]int{"r-escalation": 2, "r-never": 1000})
	recorder := events.NewFakeRecorder(10)
	r := &IncidentReconciler{Client: flaky, Recorder: recorder}

	var stored klaxonv1.Incident
	for _, decisions := range [][]incident.Decision{
		{testDecision("triage", "r-triage")},
		{testDecision("escalation", "r-escalation"), testDecision("notify", "r-notify")},
		{testDecision("notify", "r-never")},
	} {
		g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
		orig := stored.DeepCopy()
		for _, d := range decisions {
			incident.AppendDecision(&stored.Status, d)
		}
		_, err := r.commit(ctx, &stored, orig, decisions, false)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
	g.Expect(stored.Status.Decisions).To(HaveLen(4), "status is written whatever happens to the decisions")
	g.Expect(pendingIDs(g, &stored)).To(ConsistOf("r-escalation", "r-notify", "r-never"))
	g.Expect(decisionExists(g, inc, "r-triage")).To(BeTrue())
	g.Expect(recorder.Events).To(HaveLen(2))
	g.Expect(<-recorder.Events).To(HavePrefix("Warning DecisionNotStored"))

	// Later reconciles store what they can and clear it from status.
	for range 2 {
		g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
		orig := stored.DeepCopy()
		r.storePending(ctx, &stored)
		g.Expect(writeStatus(ctx, directClient, &stored, orig, true)).To(Succeed())
	}
	g.Expect(refusals["r-escalation"]).To(Equal(2))
	g.Expect(decisionExists(g, inc, "r-escalation")).To(BeTrue(), "stored on a retry")
	g.Expect(decisionExists(g, inc, "r-notify")).To(BeTrue(), "stored with the escalation decision taken with it")
	g.Expect(decisionExists(g, inc, "r-never")).To(BeFalse())
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
	g.Expect(pendingIDs(g, &stored)).To(ConsistOf("r-never"))

	pm := &PostmortemReconciler{APIReader: directClient}
	inputs, err := pm.decisionInputs(ctx, &stored)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(inputs).To(HaveKey("r-never"))
	g.Expect(inputs).To(HaveKey("r-escalation"))
	g.Expect(inputs).To(HaveKey("r-notify"))
	g.Expect(inputs).To(HaveKey("r-triage"))
}

// With a page to send, a decision's record is written ahead in the status write that
// claims the page: one write before the page instead of two. A crash before the
// objects are stored loses nothing: the next reconcile stores them from status.
func TestCommitWritesDecisionsAheadOfAPage(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	inc := directIncident(g, ns, "ahead")
	r := &IncidentReconciler{Client: directClient, Recorder: &events.FakeRecorder{}}

	orig := inc.DeepCopy()
	decisions := []incident.Decision{testDecision("triage", "a-triage"), testDecision("escalation", "a-escalation")}
	for _, d := range decisions {
		incident.AppendDecision(&inc.Status, d)
	}
	toStore, err := r.commit(ctx, inc, orig, decisions, true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(toStore).To(HaveLen(1), "the decisions taken together are one record")
	g.Expect(toStore[0].Decisions).To(HaveLen(2))
	g.Expect(decisionExists(g, inc, "a-triage")).To(BeFalse(), "nothing but the status is written before the page")
	var stored klaxonv1.Incident
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
	g.Expect(pendingIDs(g, &stored)).To(ConsistOf("a-triage", "a-escalation"))

	// The controller stops here (toStore is lost with it); a new one starts.
	restarted := &IncidentReconciler{Client: directClient, Recorder: &events.FakeRecorder{}}
	orig = stored.DeepCopy()
	restarted.storePending(ctx, &stored)
	g.Expect(writeStatus(ctx, directClient, &stored, orig, true)).To(Succeed())
	g.Expect(decisionExists(g, inc, "a-triage")).To(BeTrue())
	g.Expect(decisionExists(g, inc, "a-escalation")).To(BeTrue())
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
	g.Expect(stored.Status.PendingDecisions).To(BeEmpty())
	g.Expect(stored.Status.Decisions).To(HaveLen(2))
}
