package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func incident(name string, sev klaxonv1.Severity, state klaxonv1.IncidentState, title string, age time.Duration) *klaxonv1.Incident {
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme",
		CreationTimestamp: metav1.NewTime(now.Add(-age))}, Spec: klaxonv1.IncidentSpec{Title: title}}
	inc.Status.Severity, inc.Status.State = sev, state
	inc.Status.Timeline = []klaxonv1.TimelineEntry{{Time: metav1.NewTime(now.Add(-age)), Type: "Triggered", Actor: "alice", Message: "incident opened: " + title}}
	return inc
}

// withSteps gives inc a runbook step the controller ran and a checklist item still open.
func withSteps(inc *klaxonv1.Incident) *klaxonv1.Incident {
	at := metav1.NewTime(now.Add(-30 * time.Second))
	inc.Status.RunbookSteps = []klaxonv1.RunbookStepResult{
		{Runbook: "acme/region", Step: "fail-over", Stage: klaxonv1.StageContain, Action: klaxonv1.ActionKubernetes,
			State: klaxonv1.StepSucceeded, By: "klaxon", Time: &at, Message: "scaled deployment web-eu to 6"},
		{Runbook: "acme/region", Step: "tell-status-page", Stage: klaxonv1.StageContain, State: klaxonv1.StepOpen},
	}
	return inc
}

func serve(t *testing.T) *httptest.Server {
	scheme := runtime.NewScheme()
	_ = klaxonv1.AddToScheme(scheme)
	noPolicy := incident("old-sev3", klaxonv1.SEV3, klaxonv1.StateTriggered, "disk filling", time.Hour)
	noPolicy.Status.Escalation = &klaxonv1.EscalationStatus{} // what the controller keeps when no policy covers it
	paged := withSteps(incident("sev1", klaxonv1.SEV1, klaxonv1.StateAcknowledged, "region down", time.Minute))
	paged.Status.Escalation = &klaxonv1.EscalationStatus{Policy: "acme/default", Level: 2}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		noPolicy,
		paged,
		incident("done", klaxonv1.SEV1, klaxonv1.StateResolved, "resolved thing", 2*time.Hour),
		incident("xss", klaxonv1.SEV4, klaxonv1.StateTriggered, `<script>alert(1)</script>`, time.Second),
	).Build()
	mux := http.NewServeMux()
	(&Handler{Reader: c, Now: func() time.Time { return now }}).Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func body(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d\n%s", url, resp.StatusCode, want, b)
	}
	return string(b)
}

func TestListOrdersOpenAndSevereFirst(t *testing.T) {
	srv := serve(t)
	page := body(t, srv.URL+"/", http.StatusOK)
	order := []string{"region down", "disk filling", "&lt;script&gt;", "resolved thing"}
	last := -1
	for _, s := range order {
		i := strings.Index(page, s)
		if i < 0 || i < last {
			t.Fatalf("%q not after the previous row:\n%s", s, page)
		}
		last = i
	}
	if strings.Contains(page, "<script>alert") {
		t.Fatalf("a title is not escaped")
	}
}

func TestIncidentPage(t *testing.T) {
	srv := serve(t)
	page := body(t, srv.URL+"/incidents/acme/sev1", http.StatusOK)
	for _, want := range []string{"region down", "Acknowledged", "incident opened: region down", "alice",
		"Runbook steps", "fail-over", "scaled deployment web-eu to 6", "Succeeded", "tell-status-page", "Open"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	body(t, srv.URL+"/incidents/acme/nope", http.StatusNotFound)
	body(t, srv.URL+"/runbooks/acme/nope", http.StatusNotFound)
}

// TestListShowsLevelPaged: the Level column is the level paged, and empty for an
// incident no escalation policy covers (not a level 0).
func TestListShowsLevelPaged(t *testing.T) {
	page := body(t, serve(t).URL+"/", http.StatusOK)
	// The Level cell is the row's second to last, before the age.
	levelCell := regexp.MustCompile(`<td>([^<]*)</td><td>[^<]*</td>$`)
	for title, want := range map[string]string{"region down": "2", "disk filling": ""} {
		i := strings.Index(page, title)
		if i < 0 {
			t.Fatalf("no row for %q:\n%s", title, page)
		}
		row := page[i:]
		row = row[:strings.Index(row, "</tr>")]
		m := levelCell.FindStringSubmatch(row)
		if m == nil || m[1] != want {
			t.Errorf("row of %q: level cell %q, want %q:\n%s", title, m, want, row)
		}
	}
}
