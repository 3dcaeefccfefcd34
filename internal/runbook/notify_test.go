package runbook

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
)

type fakeTeller struct {
	got  []dispatch.Message
	told dispatch.Told
	err  error
}

func (f *fakeTeller) Tell(_ context.Context, _ *klaxonv1.Incident, m dispatch.Message, _ time.Time) (dispatch.Told, error) {
	f.got = append(f.got, m)
	return f.told, f.err
}

func notifyAction(dryRun bool) Action {
	rb := dbRunbook()
	return Action{Incident: openIncident(klaxonv1.StageTriage), Step: Step{Runbook: &rb, Step: &rb.Spec.Steps[1]}, DryRun: dryRun, Key: "r0/acme/db/tell-dba", Now: t0}
}

func TestNotifyExecutor(t *testing.T) {
	tests := []struct {
		name      string
		told      dispatch.Told
		err       error
		dryRun    bool
		wantState klaxonv1.RunbookStepState
		wantMsg   string
	}{
		{"everyone told", dispatch.Told{Delivered: []string{"Carol", "#dba"}}, nil, false, klaxonv1.StepSucceeded, "told acme/dba: Carol, #dba"},
		{"a dry run says who would hear", dispatch.Told{Delivered: []string{"Carol"}}, nil, true, klaxonv1.StepDryRun, "dry run: would tell acme/dba: Carol"},
		{"someone not reached fails the step", dispatch.Told{Delivered: []string{"Carol"}, Failures: []string{"Dan via acme/mail: 550"}}, nil, false,
			klaxonv1.StepFailed, "not reached: Dan via acme/mail: 550"},
		{"no group", dispatch.Told{}, errors.New("stakeholder group acme/dba has nobody to tell"), false, klaxonv1.StepFailed, "nobody to tell"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			teller := &fakeTeller{told: tc.told, err: tc.err}
			o := NotifyExecutor{Teller: teller}.Execute(context.Background(), notifyAction(tc.dryRun))
			if o.State != tc.wantState || !strings.Contains(o.Message, tc.wantMsg) {
				t.Fatalf("outcome = %+v, want %s with %q", o, tc.wantState, tc.wantMsg)
			}
			if len(teller.got) != 1 {
				t.Fatalf("told %d times", len(teller.got))
			}
			m := teller.got[0]
			// The group is in the runbook's namespace when the reference names none.
			if m.Group != (klaxonv1.ObjectReference{Namespace: "acme", Name: "dba"}) || m.Key != "r0/acme/db/tell-dba" ||
				m.DryRun != tc.dryRun || !strings.Contains(m.Body, "{{ .Incident.Name }}") {
				t.Errorf("message = %+v", m)
			}
		})
	}
}

func TestStageExecutor(t *testing.T) {
	rb := netRunbook()
	inc := openIncident(klaxonv1.StageContain)
	inc.ResourceVersion = ""
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(inc).Build()
	a := Action{Incident: inc.DeepCopy(), Step: Step{Runbook: &rb, Step: &rb.Spec.Steps[0]}, Now: t0}

	dry := a
	dry.DryRun = true
	if o := (StageExecutor{Client: c}).Execute(context.Background(), dry); o.State != klaxonv1.StepDryRun || !strings.Contains(o.Message, "would move") {
		t.Fatalf("dry run = %+v", o)
	}
	var got klaxonv1.Incident
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(inc), &got); err != nil || got.Spec.Stage != klaxonv1.StageContain {
		t.Fatalf("a dry run moved the incident to %s (%v)", got.Spec.Stage, err)
	}

	if o := (StageExecutor{Client: c}).Execute(context.Background(), a); o.State != klaxonv1.StepSucceeded {
		t.Fatalf("outcome = %+v", o)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "acme", Name: "db-down"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Stage != klaxonv1.StageInvestigate {
		t.Fatalf("stage = %s", got.Spec.Stage)
	}
	if by := got.Annotations[klaxonv1.AnnotationStageChangedBy]; by != "runbook klaxon-system/net step block" {
		t.Errorf("stage changed by %q", by)
	}
	if at := got.Annotations[klaxonv1.AnnotationStageChangedAt]; at != t0.Format(time.RFC3339Nano) {
		t.Errorf("stage changed at %q", at)
	}
}
