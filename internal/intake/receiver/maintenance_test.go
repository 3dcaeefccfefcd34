package receiver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// window creates a one-off MaintenanceWindow open around the test clock's now and
// waits until both replicas' caches have it.
func window(t *testing.T, ns, name string, action klaxonv1.MaintenanceAction, to klaxonv1.Severity, sel klaxonv1.MaintenanceSelector) *klaxonv1.MaintenanceWindow {
	t.Helper()
	start, end := metav1.NewTime(clock.Now().Add(-time.Hour)), metav1.NewTime(clock.Now().Add(time.Hour))
	mw := &klaxonv1.MaintenanceWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end, Action: action, DowngradeTo: to, Selector: sel}}
	if err := api.Create(context.Background(), mw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), mw) })
	waitCached(t, mw)
	return mw
}

func TestMaintenanceWindows(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	path := "/api/v1/alerts/" + ns + "/am"
	send := func(alerts ...amAlert) AlertsResponse {
		t.Helper()
		return decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", alerts...), bearer(token)))
	}
	other := firing("o1", "Other", clock.Now())
	other.Labels["service"] = "checkout"

	// Opened before the maintenance: its resolution still goes through during it.
	before := send(firing("early", "Early", clock.Now()))

	suppress := window(t, ns, "db-upgrade", klaxonv1.MaintenanceSuppress, "",
		klaxonv1.MaintenanceSelector{Services: []string{"orders-db"}})
	provider := window(t, systemNamespace, "soften-"+ns, klaxonv1.MaintenanceDowngrade, klaxonv1.SEV4,
		klaxonv1.MaintenanceSelector{AlertSources: []string{"am"}, MatchLabels: map[string]string{"alertname": "Other"}})
	counter := maintenanceAlertsTotal.WithLabelValues(ns, "db-upgrade", string(klaxonv1.MaintenanceSuppress))
	counted := testutil.ToFloat64(counter)

	resp := send(firing("s1", "DiskFull", clock.Now()), firing("s2", "DiskFull", clock.Now()))
	if resp.Accepted != 2 || resp.Suppressed != 2 || len(resp.SuppressedBy) != 1 || resp.SuppressedBy[0] != ns+"/db-upgrade" || len(resp.Incidents) != 0 {
		t.Fatalf("suppressed: %+v", resp)
	}
	if got := testutil.ToFloat64(counter) - counted; got != 2 {
		t.Errorf("metric counted %v suppressed alerts; want 2", got)
	}
	resp = send(resolved("early", "Early", clock.Now()))
	if len(resp.Resolved) != 1 || resp.Resolved[0] != before.Opened[0] {
		t.Errorf("a resolution during maintenance: %+v", resp)
	}

	resp = send(other)
	if resp.Downgraded != 1 || len(resp.Opened) != 1 {
		t.Fatalf("downgraded: %+v", resp)
	}
	inc := incident(t, ns, resp.Opened[0])
	if inc.Spec.Severity != klaxonv1.SEV4 || inc.Spec.Source.SuggestedSeverity != klaxonv1.SEV4 ||
		inc.Annotations[klaxonv1.AnnotationDowngradedBy] != "MaintenanceWindow/"+systemNamespace+"/soften-"+ns {
		t.Errorf("downgraded incident: severity %s, suggested %s, %v", inc.Spec.Severity, inc.Spec.Source.SuggestedSeverity, inc.Annotations)
	}

	flushAll()
	var got klaxonv1.MaintenanceWindow
	if err := api.Get(ctx, client.ObjectKeyFromObject(suppress), &got); err != nil || got.Status.Suppressed != 2 {
		t.Errorf("window status suppressed %d (%v); want 2", got.Status.Suppressed, err)
	}
	if err := api.Get(ctx, client.ObjectKeyFromObject(provider), &got); err != nil || got.Status.Downgraded != 1 {
		t.Errorf("provider window status downgraded %d (%v); want 1", got.Status.Downgraded, err)
	}
	if n := len(incidents(t, ns)); n != 2 {
		t.Errorf("%d incidents; want the early one and the downgraded one", n)
	}
}
