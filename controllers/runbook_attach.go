package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
	"github.com/klaxon-ops/klaxon/internal/runbook"
)

// maxRunbooks is the bound on status.runbooks (the CRD's maxItems).
const maxRunbooks = 32

// +kubebuilder:rbac:groups=klaxon.dev,resources=runbooks,verbs=get;list;watch

// attachRunbooks adds the runbooks whose selector matches the incident, from its
// namespace and the provider's, to those triage's policy named, and notes a change
// of the attached set (before is the set before triage) in the timeline. It runs
// with triage, so a runbook created later attaches when triage runs again.
func (r *IncidentReconciler) attachRunbooks(ctx context.Context, inc *klaxonv1.Incident, before []string, now time.Time) error {
	var candidates []klaxonv1.Runbook
	namespaces := []string{inc.Namespace}
	if sys := r.Engine.SystemNamespace(); sys != inc.Namespace {
		namespaces = append(namespaces, sys)
	}
	for _, ns := range namespaces {
		var list klaxonv1.RunbookList
		if err := r.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("listing runbooks in %s: %w", ns, err)
		}
		candidates = append(candidates, list.Items...)
	}
	slices.SortFunc(candidates, func(a, b klaxonv1.Runbook) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	st := &inc.Status
	st.Runbooks = runbook.Attach(st.Runbooks, runbook.Match(candidates, inc), maxRunbooks)
	if !slices.Equal(before, st.Runbooks) && len(st.Runbooks) > 0 {
		incident.AppendTimeline(st, klaxonv1.TimelineEntry{Time: metav1.NewTime(now.Truncate(time.Second)), Type: "RunbooksAttached",
			Actor: "klaxon", Message: "runbooks " + strings.Join(st.Runbooks, ", ")})
	}
	return nil
}
