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

// decisionExists reports whether the IncidentDecision of decision id exists.
func decisionExists(g Gomega, inc *klaxonv1.Incident, id string) bool {
	var obj klaxonv1.IncidentDecision
	err := directClient.Get(context.Background(), client.ObjectKey{Namespace: inc.Namespace, Name: inc.Name + "-" + id}, &obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(obj.OwnerReferences).To(HaveLen(1))
	g.Expect(obj.OwnerReferences[0].UID).To(Equal(inc.UID))
	return true
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
	finish, err := r.commit(ctx, inc, orig, decisions)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "got %v", err)
	g.Expect(finish).To(BeNil())
	g.Expect(decisionExists(g, inc, "c-triage")).To(BeFalse())
	g.Expect(decisionExists(g, inc, "c-escalation")).To(BeFalse())

	// The retry, from what is stored now, writes status and both decisions.
	var fresh klaxonv1.Incident
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &fresh)).To(Succeed())
	orig = fresh.DeepCopy()
	for _, d := range decisions {
		incident.AppendDecision(&fresh.Status, d)
	}
	finish, err = r.commit(ctx, &fresh, orig, decisions)
	g.Expect(err).NotTo(HaveOccurred())
	finish()
	g.Expect(decisionExists(g, &fresh, "c-triage")).To(BeTrue())
	g.Expect(decisionExists(g, &fresh, "c-escalation")).To(BeTrue())
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &fresh)).To(Succeed())
	g.Expect(fresh.Status.Decisions).To(HaveLen(2))
}

// A decision the API server refuses while it takes the status write does not hold
// status (and so the pages it claims) back; it is stored again afterwards, and one
// that can never be stored raises a Warning.
func TestCommitStoresRefusedDecisionLater(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	inc := directIncident(g, ns, "refused")

	base, err := client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	refusals := map[string]int{}
	refuse := map[string]int{"r-escalation": 2, "r-never": 1000}
	flaky := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if d, ok := obj.(*klaxonv1.IncidentDecision); ok {
				mu.Lock()
				refused := refusals[d.Spec.ID] < refuse[d.Spec.ID]
				if refused {
					refusals[d.Spec.ID]++
				}
				mu.Unlock()
				if refused {
					return apierrors.NewServiceUnavailable("etcd is catching up")
				}
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	recorder := events.NewFakeRecorder(10)
	r := &IncidentReconciler{Client: flaky, Recorder: recorder}

	orig := inc.DeepCopy()
	decisions := []incident.Decision{testDecision("triage", "r-triage"), testDecision("escalation", "r-escalation"),
		testDecision("notify", "r-never")}
	for _, d := range decisions {
		incident.AppendDecision(&inc.Status, d)
	}
	finish, err := r.commit(ctx, inc, orig, decisions)
	g.Expect(err).NotTo(HaveOccurred())
	var stored klaxonv1.Incident
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &stored)).To(Succeed())
	g.Expect(stored.Status.Decisions).To(HaveLen(3), "status is written whatever happens to the decisions")

	finish()
	g.Expect(refusals["r-escalation"]).To(Equal(2))
	g.Expect(decisionExists(g, inc, "r-triage")).To(BeTrue())
	g.Expect(decisionExists(g, inc, "r-escalation")).To(BeTrue(), "stored on a retry")
	g.Expect(decisionExists(g, inc, "r-never")).To(BeFalse())
	g.Expect(recorder.Events).To(HaveLen(1))
	g.Expect(<-recorder.Events).To(And(HavePrefix("Warning DecisionNotStored"), ContainSubstring("r-never")))
}
