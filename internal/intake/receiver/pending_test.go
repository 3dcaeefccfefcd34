package receiver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// TestFurtherAlertsWaitForTheFlush: alerts joining an open incident are written by
// the flush, not the request, yet every decision of the replica sees them: resolving
// the one persisted alert while two more fire only in memory keeps the incident open.
func TestFurtherAlertsWaitForTheFlush(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	start := clock.Now().Add(-time.Minute)
	send := func(alerts ...amAlert) AlertsResponse {
		t.Helper()
		return decode(t, post(replicas[0], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", amPayload("g", alerts...), bearer(token)))
	}
	name := send(firing("f1", "Disk", start)).Opened[0]
	rv := incident(t, ns, name).ResourceVersion

	resp := send(firing("f2", "Disk", start), firing("f3", "Disk", start))
	if len(resp.Opened) != 0 || len(resp.Incidents) != 1 || resp.Incidents[0] != name {
		t.Fatalf("further alerts: %+v", resp)
	}
	if incident(t, ns, name).ResourceVersion != rv {
		t.Fatal("further alerts of an open incident were written before the flush")
	}

	resp = send(resolved("f1", "Disk", start))
	inc := incident(t, ns, name)
	if len(resp.Resolved) != 0 || inc.Spec.State != klaxonv1.StateTriggered {
		t.Fatalf("resolving the only persisted alert resolved the incident while f2 and f3 fire: %+v", resp)
	}
	// That write carried what was pending.
	if got := inc.Annotations[klaxonv1.AnnotationFiring]; got != `["f2","f3"]` {
		t.Errorf("firing %s after f1 resolved; want f2 and f3", got)
	}

	resp = send(resolved("f2", "Disk", start), resolved("f3", "Disk", start))
	if len(resp.Resolved) != 1 || incident(t, ns, name).Spec.State != klaxonv1.StateResolved {
		t.Fatalf("all resolved: %+v", resp)
	}
}

// TestPendingAlertsAreFlushedOnce: the flush writes a further alert into the firing
// set once; a flush with nothing new writes nothing.
func TestPendingAlertsAreFlushedOnce(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	path := "/api/v1/alerts/" + ns + "/am"
	start := clock.Now().Add(-time.Minute)
	name := decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("f1", "Disk", start)), bearer(token))).Opened[0]
	for range 3 {
		decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("f1", "Disk", start), firing("f2", "Disk", start)), bearer(token)))
	}
	if replicas[0].rcv.PendingCounts() == 0 {
		t.Fatal("nothing pending before the flush")
	}
	replicas[0].rcv.Flush(context.Background())
	inc := incident(t, ns, name)
	if got := inc.Annotations[klaxonv1.AnnotationFiring]; got != `["f1","f2"]` {
		t.Fatalf("firing %s after the flush", got)
	}
	if a := inc.Status.Alerts; a == nil || a.Count != 7 || len(a.Fingerprints) != 2 {
		t.Errorf("status.alerts %+v; want 7 alerts, 2 fingerprints", a)
	}
	replicas[0].rcv.Flush(context.Background())
	if incident(t, ns, name).ResourceVersion != inc.ResourceVersion {
		t.Error("a flush with nothing pending wrote the incident")
	}
}

// TestPendingAlertResolvedElsewhereReopens: replica 1 holds a further alert when
// replica 0, which cannot know it, resolves the incident with the last alert it knows.
// Replica 1's flush decides the alert as a request would: it fires after that
// resolution, so the incident reopens (flapping), and the alert is not lost.
func TestPendingAlertResolvedElsewhereReopens(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{FlapWindow: metav1.Duration{Duration: 10 * time.Minute}})
	path := "/api/v1/alerts/" + ns + "/am"
	start := clock.Now().Add(-time.Minute)
	name := decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("f1", "Disk", start)), bearer(token))).Opened[0]
	waitIndexed(t, replicas[1], ns, name)
	decode(t, post(replicas[1], http.MethodPost, path, "application/json", amPayload("g", firing("f2", "Disk", start)), bearer(token)))
	resp := decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", resolved("f1", "Disk", start)), bearer(token)))
	if len(resp.Resolved) != 1 {
		t.Fatalf("replica 0 did not resolve with the last alert it knows: %+v", resp)
	}

	replicas[1].rcv.Flush(context.Background())
	inc := incident(t, ns, name)
	if inc.Spec.State != klaxonv1.StateTriggered || inc.Annotations[klaxonv1.AnnotationFiring] != `["f2"]` {
		t.Fatalf("after replica 1's flush: state %s, firing %s; want reopened with f2 firing", inc.Spec.State, inc.Annotations[klaxonv1.AnnotationFiring])
	}
	if len(inc.Spec.Notes) != 1 || !strings.HasPrefix(inc.Spec.Notes[0].Text, "flapping:") {
		t.Errorf("notes %+v; want the flapping note", inc.Spec.Notes)
	}
	if n := len(incidents(t, ns)); n != 1 {
		t.Errorf("%d incidents; want 1", n)
	}
}

// TestPendingAlertsAreBounded: more further alerts than the firing set holds keep
// at most one more than it in memory, and the flush marks the set overflowed.
func TestPendingAlertsAreBounded(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	path := "/api/v1/alerts/" + ns + "/am"
	start := clock.Now().Add(-time.Minute)
	name := decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("f0", "Disk", start)), bearer(token))).Opened[0]
	var storm []amAlert
	for i := range intake.MaxFiring + 50 {
		storm = append(storm, firing(fmt.Sprintf("s%03d", i), "Disk", start))
	}
	decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", storm...), bearer(token)))
	decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("late", "Disk", start)), bearer(token)))
	st := replicas[0].rcv.store
	st.pendingMu.Lock()
	held := 0
	for ref, p := range st.pending {
		if ref.namespace == ns {
			held += len(p.alerts)
		}
	}
	st.pendingMu.Unlock()
	if held == 0 || held > intake.MaxFiring+1 {
		t.Errorf("%d alerts pending; want between 1 and %d", held, intake.MaxFiring+1)
	}
	replicas[0].rcv.Flush(context.Background())
	inc := incident(t, ns, name)
	firing, ok := intake.DecodeFiring(inc.Annotations[klaxonv1.AnnotationFiring])
	if !ok || len(firing) != intake.MaxFiring || inc.Annotations[klaxonv1.AnnotationFiringOverflow] != "true" {
		t.Errorf("after the flush: %d firing, overflow %q; want %d and true", len(firing), inc.Annotations[klaxonv1.AnnotationFiringOverflow], intake.MaxFiring)
	}
}

// waitIndexed waits until a replica's index holds an incident.
func waitIndexed(t *testing.T, r *replica, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, ok := r.rcv.index.alerts(types.NamespacedName{Namespace: ns, Name: name}); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident %s/%s not indexed after 30s", ns, name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitIndexedVersion waits until a replica's index holds inc's version or a newer one.
func waitIndexedVersion(t *testing.T, r *replica, inc *klaxonv1.Incident) {
	t.Helper()
	key := types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, rv, ok := r.rcv.index.alerts(key); ok && !newer(inc.ResourceVersion, rv) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident %s version %s not indexed after 30s", key, inc.ResourceVersion)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
