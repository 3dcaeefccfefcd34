package incident

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// History returns the incident's whole timeline, oldest first: the archived segments
// in sequence, then the entries still in status.
func History(ctx context.Context, r client.Reader, inc *klaxonv1.Incident) ([]klaxonv1.TimelineEntry, error) {
	var segs klaxonv1.IncidentTimelineList
	if err := r.List(ctx, &segs, client.InNamespace(inc.Namespace),
		client.MatchingLabels{klaxonv1.LabelIncident: LabelValue(inc.Name)}); err != nil {
		return nil, fmt.Errorf("listing timeline segments of %s/%s: %w", inc.Namespace, inc.Name, err)
	}
	items := segs.Items[:0]
	for _, s := range segs.Items {
		// The label may be a hash; the spec names the incident exactly, and the owner
		// tells this incident from an earlier one of the same name whose segments
		// the garbage collector has not removed yet.
		if s.Spec.Incident == inc.Name && metav1.IsControlledBy(&s, inc) {
			items = append(items, s)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Spec.Sequence < items[j].Spec.Sequence })

	var out []klaxonv1.TimelineEntry
	for i, s := range items {
		if s.Spec.Sequence != int32(i+1) {
			return nil, fmt.Errorf("timeline of %s/%s: segment %d is missing", inc.Namespace, inc.Name, i+1)
		}
		out = append(out, s.Spec.Entries...)
	}
	return append(out, inc.Status.Timeline...), nil
}
