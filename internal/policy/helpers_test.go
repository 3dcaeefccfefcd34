package policy

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// testNow is the time every test decision is about.
var testNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// policy is a Source with one module.
func policy(namespace, name, module string) Source {
	return Source{Namespace: namespace, Name: name, Modules: map[string]string{"policy.rego": module}}
}

func upsert(t *testing.T, e *Engine, src Source) string {
	t.Helper()
	rev, problems := e.Upsert(context.Background(), src)
	if len(problems) > 0 {
		t.Fatalf("upsert %s: %v", src.Key(), problems)
	}
	return rev
}

// incident builds an incident in a namespace with a title and alert labels.
func incident(namespace, title string, labels map[string]string) *v1alpha1.Incident {
	triggered := metav1.NewTime(testNow.Add(-time.Hour))
	inc := &v1alpha1.Incident{
		TypeMeta:   metav1.TypeMeta{APIVersion: "klaxon.dev/v1alpha1", Kind: "Incident"},
		ObjectMeta: metav1.ObjectMeta{Name: "inc-1", Namespace: namespace, CreationTimestamp: triggered},
		Spec:       v1alpha1.IncidentSpec{Title: title, State: v1alpha1.StateTriggered, Stage: v1alpha1.StageTriage},
		Status:     v1alpha1.IncidentStatus{TriggeredAt: &triggered},
	}
	if labels != nil {
		inc.Spec.Source = &v1alpha1.IncidentSource{Kind: v1alpha1.SourceAlertSource, Name: "am", Labels: labels}
	}
	return inc
}

func triageIn(inc *v1alpha1.Incident) TriageInput {
	return TriageInput{Input{Incident: inc, Tenant: inc.Namespace, Now: testNow}}
}

func triage(t *testing.T, e *Engine, inc *v1alpha1.Incident) (TriageDecision, Record) {
	t.Helper()
	d, rec, err := e.Triage(context.Background(), triageIn(inc))
	if err != nil {
		t.Fatal(err)
	}
	return d, rec
}

// fuzzStrings appends n strings of up to maxPieces pieces drawn from pieces
// (seeded, so every run checks the same cases) to cases.
func fuzzStrings(cases []string, seed uint64, n, maxPieces int, pieces ...string) []string {
	r := rand.New(rand.NewPCG(seed, seed+1))
	for range n {
		var b strings.Builder
		for range r.IntN(maxPieces) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		cases = append(cases, b.String())
	}
	return cases
}
