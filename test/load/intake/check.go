package main

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// incidentCheck is what the API server holds after the ingest stream: one incident
// per group, and every alert counted.
type incidentCheck struct {
	incidents    int
	groups       int // distinct alert groups among them
	duplicates   int // incidents beyond the first of a group: must be none
	expected     int // groups the stream opened
	counted      int64
	sent         int
	fingerprints int // distinct fingerprints in status (each group's few fit the bound)
	distinct     int // distinct alerts the stream sent
	countWait    time.Duration
	records      int // IncidentDecisions of the ingest's incidents
	decisions    int // the decisions they hold
	orphans      int // of them, the ones status does not refer to: a decision taken again
}

// checkIncidents waits (up to a minute) until the coalesced counts are written, so
// that status.alerts.count adds up to the alerts sent, then checks the incidents.
func (h *harness) checkIncidents(ctx context.Context, s *stream, sent int) (*incidentCheck, error) {
	c := &incidentCheck{expected: len(s.groups), sent: sent, distinct: len(s.alerts)}
	start := time.Now()
	var list klaxonv1.IncidentList
	for {
		list = klaxonv1.IncidentList{}
		if err := h.client.List(ctx, &list, client.InNamespace(tenantNS),
			client.MatchingLabels{klaxonv1.LabelAlertSource: sourceName}); err != nil {
			return nil, fmt.Errorf("listing the source's incidents: %w", err)
		}
		c.counted, c.fingerprints = 0, 0
		for _, inc := range list.Items {
			if inc.Status.Alerts != nil && inc.Spec.Title != "" && isIngest(inc.Spec.Title) {
				c.counted += inc.Status.Alerts.Count
				c.fingerprints += len(inc.Status.Alerts.Fingerprints)
			}
		}
		if c.counted >= int64(sent) || time.Since(start) > time.Minute {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.countWait = time.Since(start)
	byGroup := map[string]int{}
	for _, inc := range list.Items {
		if !isIngest(inc.Spec.Title) {
			continue
		}
		c.incidents++
		byGroup[inc.Labels[klaxonv1.LabelAlertGroup]]++
	}
	c.groups = len(byGroup)

	// Decisions: one per decision point and episode is what status refers to; more
	// are a reconcile that took them again after its status write lost a race.
	referenced := map[string]bool{}
	for _, inc := range list.Items {
		for _, d := range inc.Status.Decisions {
			referenced[inc.Name+"/"+d.ID] = true
		}
	}
	var decisions klaxonv1.IncidentDecisionList
	if err := h.client.List(ctx, &decisions, client.InNamespace(tenantNS)); err != nil {
		return nil, fmt.Errorf("listing decisions: %w", err)
	}
	ingest := map[string]bool{}
	for _, inc := range list.Items {
		if isIngest(inc.Spec.Title) {
			ingest[inc.Name] = true
		}
	}
	for _, rec := range decisions.Items {
		if !ingest[rec.Spec.Incident] {
			continue
		}
		c.records++
		for _, d := range rec.Spec.Decisions {
			c.decisions++
			if !referenced[rec.Spec.Incident+"/"+d.ID] {
				c.orphans++
			}
		}
	}
	for _, n := range byGroup {
		c.duplicates += n - 1
	}
	return c, nil
}

// isIngest tells the ingest stream's incidents from the first-page phase's.
func isIngest(title string) bool {
	return len(title) > len(ingestPrefix) && title[:len(ingestPrefix)] == ingestPrefix
}

func (c *incidentCheck) broken() []string {
	var out []string
	if c.duplicates > 0 {
		out = append(out, fmt.Sprintf("intake: %d duplicate incidents (%d incidents for %d groups)", c.duplicates, c.incidents, c.groups))
	}
	if c.groups != c.expected {
		out = append(out, fmt.Sprintf("intake: incidents for %d groups, the stream opened %d", c.groups, c.expected))
	}
	if c.counted != int64(c.sent) {
		out = append(out, fmt.Sprintf("intake: status.alerts.count adds up to %d, %d alerts were accepted", c.counted, c.sent))
	}
	if c.fingerprints != c.distinct {
		out = append(out, fmt.Sprintf("intake: %d fingerprints in status, the stream sent %d distinct alerts", c.fingerprints, c.distinct))
	}
	return out
}
