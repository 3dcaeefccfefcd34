package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// TestAlertStatusCodes sends every kind of bad request and checks the answer, then
// that none of them changed anything in the API server.
func TestAlertStatusCodes(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	oneAMinute := &klaxonv1.RateLimit{PerMinute: 1, Burst: 1}
	source(t, ns, "am", klaxonv1.AlertSourceSpec{MaxBodyBytes: 2048})
	source(t, ns, "am-limited", klaxonv1.AlertSourceSpec{RateLimit: oneAMinute})
	generic := source(t, ns, "generic", klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatGeneric,
		Mapping: &klaxonv1.AlertMapping{Title: "{.title}"}})
	source(t, ns, "generic-limited", klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatGeneric,
		Mapping: &klaxonv1.AlertMapping{Title: "{.title}"}, RateLimit: oneAMinute})
	source(t, ns, "broken", klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatGeneric,
		Mapping: &klaxonv1.AlertMapping{Title: "{.title["}})
	incomplete := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-token"},
		Data: map[string][]byte{"other": []byte("x")}}
	if err := api.Create(ctx, incomplete); err != nil {
		t.Fatal(err)
	}
	source(t, ns, "incomplete", klaxonv1.AlertSourceSpec{Auth: klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer,
		SecretRef: klaxonv1.SecretReference{Name: "no-token"}}})
	source(t, ns, "secretless", klaxonv1.AlertSourceSpec{Auth: klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer,
		SecretRef: klaxonv1.SecretReference{Name: "nowhere"}}})

	good := amPayload("{}:{alertname=\"Disk\"}", firing("f1", "Disk", clock.Now()))
	path := func(name string) string { return "/api/v1/alerts/" + ns + "/" + name }
	r := replicas[0]
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		header      http.Header
		chunked     bool
		status      int
		field       string
		retryAfter  bool
	}{
		{name: "unknown source", path: path("nope"), body: good, header: bearer(token), status: http.StatusNotFound},
		{name: "unknown namespace", path: "/api/v1/alerts/nowhere/am", body: good, header: bearer(token), status: http.StatusNotFound},
		{name: "GET is not allowed", method: http.MethodGet, path: path("am"), status: http.StatusMethodNotAllowed},
		{name: "body over maxBodyBytes", path: path("am"), body: []byte(strings.Repeat(" ", 4096)), header: bearer(token),
			status: http.StatusRequestEntityTooLarge},
		{name: "chunked body over maxBodyBytes", path: path("am"), body: []byte(strings.Repeat(" ", 4096)), header: bearer(token),
			chunked: true, status: http.StatusRequestEntityTooLarge},
		{name: "no credentials", path: path("am"), body: good, status: http.StatusUnauthorized},
		{name: "wrong token", path: path("am"), body: good, header: bearer("guess"), status: http.StatusUnauthorized},
		{name: "basic instead of bearer", path: path("am"), body: good,
			header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, status: http.StatusUnauthorized},
		{name: "wrong content type", path: path("am"), contentType: "text/plain", body: good, header: bearer(token),
			status: http.StatusUnsupportedMediaType},
		{name: "malformed JSON", path: path("am"), body: []byte(`{"version":"4","alerts":[`), header: bearer(token),
			status: http.StatusBadRequest},
		{name: "wrong type of field", path: path("am"), header: bearer(token), status: http.StatusBadRequest, field: "alerts[0].labels",
			body: []byte(`{"version":"4","alerts":[{"status":"firing","labels":"nope"}]}`)},
		{name: "unsupported version", path: path("am"), header: bearer(token), status: http.StatusBadRequest, field: "version",
			body: []byte(`{"version":"1","alerts":[]}`)},
		{name: "generic without the title", path: path("generic"), header: bearer(token), status: http.StatusBadRequest, field: "title",
			body: []byte(`{"other":"x"}`)},
		{name: "a source whose mapping cannot work", path: path("broken"), header: bearer(token), body: []byte(`{"title":"x"}`),
			status: http.StatusServiceUnavailable, retryAfter: true},
		{name: "a Secret without the token", path: path("incomplete"), body: good, header: bearer(token),
			status: http.StatusServiceUnavailable, retryAfter: true},
		{name: "a Secret that does not exist", path: path("secretless"), body: good, header: bearer(token),
			status: http.StatusServiceUnavailable, retryAfter: true},
		// The limited sources allow one request a minute: the first (with a bad
		// payload, so it changes nothing) takes it, the next is over the limit. A
		// refused request takes no token: only authenticated ones count.
		{name: "generic: unauthenticated requests do not use the limit", path: path("generic-limited"), body: []byte(`{"other":"x"}`),
			status: http.StatusUnauthorized},
		{name: "generic: first request", path: path("generic-limited"), header: bearer(token), body: []byte(`{"other":"x"}`),
			status: http.StatusBadRequest, field: "title"},
		{name: "generic: over the rate limit", path: path("generic-limited"), header: bearer(token), body: []byte(`{"other":"x"}`),
			status: http.StatusTooManyRequests, retryAfter: true},
		{name: "alertmanager: first request", path: path("am-limited"), header: bearer(token), body: []byte(`{"version":"1"}`),
			status: http.StatusBadRequest, field: "version"},
		{name: "alertmanager: over the rate limit gets a 503, which it retries", path: path("am-limited"), header: bearer(token),
			body: []byte(`{"version":"1"}`), status: http.StatusServiceUnavailable, retryAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			ct := tc.contentType
			if ct == "" && method == http.MethodPost {
				ct = "application/json"
			}
			req := newRequest(method, tc.path, ct, tc.body, tc.header)
			if tc.chunked {
				req.ContentLength = -1
			}
			rec := serve(r, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d; want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); tc.retryAfter != (got != "") {
				t.Errorf("Retry-After %q; want one: %v", got, tc.retryAfter)
			} else if got != "" {
				if n, err := strconv.Atoi(got); err != nil || n < 1 {
					t.Errorf("Retry-After %q is not a number of seconds", got)
				}
			}
			if tc.status == http.StatusMethodNotAllowed {
				return
			}
			var body ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
				t.Fatalf("error body %q is not {\"error\": ...}", rec.Body)
			}
			if body.Field != tc.field {
				t.Errorf("field %q; want %q (%s)", body.Field, tc.field, body.Error)
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Error("the answer holds the token")
			}
		})
	}

	// Bad input changes nothing: no incident, no count, no receipt.
	flushAll()
	if got := incidents(t, ns); len(got) != 0 {
		t.Errorf("bad requests left %d incidents", len(got))
	}
	var after klaxonv1.AlertSource
	if err := api.Get(ctx, client.ObjectKeyFromObject(generic), &after); err != nil {
		t.Fatal(err)
	}
	if after.Status.LastReceivedAt != nil || after.ResourceVersion != generic.ResourceVersion {
		t.Errorf("a refused request changed the source: %+v", after.Status)
	}
}

func newRequest(method, path, contentType string, body []byte, header http.Header) *http.Request {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return req
}

func serve(r *replica, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

// TestAlertsBecomeIncidents follows one alert group through its life: opened,
// deduplicated, a second alert, resolved one by one, reopened when it flaps, and a
// new incident once the flap window has passed.
func TestAlertsBecomeIncidents(t *testing.T) {
	ns := newNamespace(t)
	src := source(t, ns, "prometheus", klaxonv1.AlertSourceSpec{
		GroupBy: []string{"alertname"}, FlapWindow: metav1.Duration{Duration: 10 * time.Minute},
		SeverityMap:         map[string]klaxonv1.Severity{"critical": klaxonv1.SEV1},
		EscalationPolicyRef: &klaxonv1.ObjectReference{Name: "db-team"},
	})
	send := func(r *replica, alerts ...amAlert) AlertsResponse {
		t.Helper()
		return decode(t, post(r, http.MethodPost, "/api/v1/alerts/"+ns+"/prometheus", "application/json",
			amPayload("group", alerts...), bearer(token)))
	}
	start := clock.Now().Add(-time.Minute)

	resp := send(replicas[0], firing("f1", "DiskFull", start))
	if len(resp.Opened) != 1 || resp.Accepted != 1 {
		t.Fatalf("first alert: %+v", resp)
	}
	name := resp.Opened[0]
	if want := intake.IncidentName("prometheus", `{alertname="DiskFull"}`, 0); name != want {
		t.Errorf("name %s; want %s", name, want)
	}
	inc := incident(t, ns, name)
	if inc.Spec.State != klaxonv1.StateTriggered || inc.Spec.Source.SuggestedSeverity != klaxonv1.SEV1 ||
		inc.Spec.Source.Labels["alertname"] != "DiskFull" || inc.Spec.Service != "orders-db" ||
		inc.Spec.EscalationPolicyRef.Name != "db-team" || inc.Annotations[klaxonv1.AnnotationFiring] != `["f1"]` {
		t.Errorf("opened incident: %+v %+v", inc.Spec, inc.Annotations)
	}

	// Duplicates, on either replica, attach to it and are only counted.
	for i := range 10 {
		resp = send(replicas[i%2], firing("f1", "DiskFull", start))
		if len(resp.Opened) != 0 || len(resp.Incidents) != 1 || resp.Incidents[0] != name {
			t.Fatalf("duplicate %d: %+v", i, resp)
		}
	}
	if got := incident(t, ns, name); got.ResourceVersion != inc.ResourceVersion {
		t.Errorf("duplicates wrote the incident before a flush")
	}
	flushAll()
	inc = incident(t, ns, name)
	if a := inc.Status.Alerts; a == nil || a.Count != 11 || a.FirstSeen == nil || a.LastSeen == nil ||
		len(a.Fingerprints) != 1 || a.Fingerprints[0] != "f1" {
		t.Fatalf("status.alerts after the flush: %+v", inc.Status.Alerts)
	}

	// A second alert of the group is tracked, coalesced like a count: written by the
	// flush, not by the request; resolving one of two keeps it open.
	rv := incident(t, ns, name).ResourceVersion
	send(replicas[1], firing("f2", "DiskFull", start))
	if got := incident(t, ns, name); got.ResourceVersion != rv {
		t.Errorf("a further alert wrote the incident before a flush: firing %s", got.Annotations[klaxonv1.AnnotationFiring])
	}
	flushAll()
	if got := incident(t, ns, name).Annotations[klaxonv1.AnnotationFiring]; got != `["f1","f2"]` {
		t.Errorf("firing %s after the flush", got)
	}
	resp = send(replicas[0], resolved("f1", "DiskFull", start))
	if len(resp.Resolved) != 0 || incident(t, ns, name).Spec.State != klaxonv1.StateTriggered {
		t.Fatalf("one of two resolved closed the incident: %+v", resp)
	}
	resp = send(replicas[1], resolved("f2", "DiskFull", start))
	inc = incident(t, ns, name)
	if len(resp.Resolved) != 1 || inc.Spec.State != klaxonv1.StateResolved ||
		inc.Annotations[klaxonv1.AnnotationStateChangedBy] != "AlertSource/prometheus" {
		t.Fatalf("all resolved: %+v; state %s by %q", resp, inc.Spec.State, inc.Annotations[klaxonv1.AnnotationStateChangedBy])
	}

	// It fires again two minutes later: flapping, the same incident reopens, in the
	// request, on a replica that has seen the resolution (one that has not yet keeps
	// the alert pending, and its flush reopens: TestPendingAlertResolvedElsewhereReopens).
	waitIndexedVersion(t, replicas[0], inc)
	clock.Add(2 * time.Minute)
	resp = send(replicas[0], firing("f1", "DiskFull", clock.Now()))
	inc = incident(t, ns, name)
	if len(resp.Reopened) != 1 || inc.Spec.State != klaxonv1.StateTriggered || len(inc.Spec.Notes) != 1 ||
		!strings.HasPrefix(inc.Spec.Notes[0].Text, "flapping:") || inc.Spec.Notes[0].Author != "AlertSource/prometheus" {
		t.Fatalf("flapping: %+v, state %s, notes %+v", resp, inc.Spec.State, inc.Spec.Notes)
	}

	// Resolved again, and quiet past the flap window: the next firing opens incident 1,
	// while incident 0 stays resolved.
	send(replicas[1], resolved("f1", "DiskFull", clock.Now()))
	clock.Add(11 * time.Minute)
	resp = send(replicas[1], firing("f1", "DiskFull", clock.Now()))
	if want := intake.IncidentName("prometheus", `{alertname="DiskFull"}`, 1); len(resp.Opened) != 1 || resp.Opened[0] != want {
		t.Fatalf("after the flap window: %+v; want %s opened", resp, want)
	}
	if incident(t, ns, name).Spec.State != klaxonv1.StateResolved {
		t.Error("the old incident reopened")
	}
	if got := len(incidents(t, ns)); got != 2 {
		t.Errorf("%d incidents; want 2", got)
	}
	_ = src
}

// TestPersonResolvedRepeatDoesNotReopen: Alertmanager repeats a firing alert a person
// has resolved; that is not a new firing and must not reopen the incident.
func TestPersonResolvedRepeatDoesNotReopen(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{FlapWindow: metav1.Duration{Duration: time.Hour}})
	start := clock.Now().Add(-time.Minute)
	path := "/api/v1/alerts/" + ns + "/am"
	name := decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("f1", "Disk", start)), bearer(token))).Opened[0]

	inc := incident(t, ns, name)
	inc.Spec.State = klaxonv1.StateResolved
	inc.Annotations[klaxonv1.AnnotationStateChangedBy] = "alice"
	inc.Annotations[klaxonv1.AnnotationStateChangedAt] = clock.Now().UTC().Format(time.RFC3339Nano)
	if err := api.Update(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	resp := decode(t, post(replicas[1], http.MethodPost, path, "application/json", amPayload("g", firing("f1", "Disk", start)), bearer(token)))
	if len(resp.Reopened) != 0 || incident(t, ns, name).Spec.State != klaxonv1.StateResolved {
		t.Fatalf("a repeat reopened the incident a person resolved: %+v", resp)
	}
	// A new alert in the group does reopen it.
	resp = decode(t, post(replicas[0], http.MethodPost, path, "application/json", amPayload("g", firing("f2", "Disk", clock.Now())), bearer(token)))
	if len(resp.Reopened) != 1 {
		t.Fatalf("a new alert did not reopen: %+v", resp)
	}
}

// TestConcurrentIdenticalAlerts: many senders post the same new alert to both
// replicas at once; exactly one incident opens and every alert is counted in it.
func TestConcurrentIdenticalAlerts(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	const senders, each = 16, 5
	payload := amPayload("g", firing("storm", "Storm", clock.Now()))
	errs := make(chan string, senders*each)
	done := make(chan struct{})
	for s := range senders {
		go func() {
			defer func() { done <- struct{}{} }()
			for range each {
				rec := post(replicas[s%2], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", payload, bearer(token))
				if rec.Code != http.StatusOK {
					errs <- rec.Body.String()
				}
			}
		}()
	}
	for range senders {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Errorf("a sender was refused: %s", e)
	}
	list := incidents(t, ns)
	if len(list) != 1 {
		t.Fatalf("%d incidents; want exactly 1", len(list))
	}
	flushAll()
	if a := incident(t, ns, list[0].Name).Status.Alerts; a == nil || a.Count != senders*each {
		t.Errorf("status.alerts %+v; want count %d", a, senders*each)
	}
}

// TestStoreReadsWhatItsIndexMissed: another replica opened the incident a moment ago
// and this replica's informer has not shown it yet. The deterministic name makes the
// create fail with AlreadyExists; the store reads the incident and attaches to it.
func TestStoreReadsWhatItsIndexMissed(t *testing.T) {
	ns := newNamespace(t)
	src := source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	now := clock.Now()
	first := intake.Alert{Status: intake.StatusFiring, Fingerprint: "a", Title: "Disk", GroupKey: "g", StartsAt: now}
	plan := intake.Decide(nil, []intake.Alert{first}, intake.PolicyOf(src.Spec), now)
	if err := api.Create(context.Background(), intake.NewIncident(src, first, plan, "", "", now)); err != nil {
		t.Fatal(err)
	}
	blind := newStore(api, api, newIndex()) // an index that saw nothing
	second := first
	second.Fingerprint = "b"
	out, err := blind.ingest(context.Background(), src, []group{{key: "g", alerts: []intake.Alert{second}, downgrades: make([]downgrade, 1)}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].opened || out[0].incident.Name != intake.IncidentName("am", "g", 0) {
		t.Fatalf("outcome %+v; want attached to incident 0", out[0])
	}
	// "b" joined an open incident: it waits for the flush.
	if err := blind.flushGroup(context.Background(), newGroupRef(ns, "am", "g"), now); err != nil {
		t.Fatal(err)
	}
	if got := incident(t, ns, out[0].incident.Name).Annotations[klaxonv1.AnnotationFiring]; got != `["a","b"]` {
		t.Errorf("firing %s", got)
	}
	if n := len(incidents(t, ns)); n != 1 {
		t.Errorf("%d incidents", n)
	}
}

// TestDuplicatesAreCoalesced: a storm of duplicates costs one status write per
// incident per flush.
func TestDuplicatesAreCoalesced(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	payload := amPayload("g", firing("dup", "Dup", clock.Now()), firing("dup", "Dup", clock.Now()))
	name := decode(t, post(replicas[0], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", payload, bearer(token))).Opened[0]
	before := incident(t, ns, name).ResourceVersion
	for range 200 {
		decode(t, post(replicas[0], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", payload, bearer(token)))
	}
	if incident(t, ns, name).ResourceVersion != before {
		t.Fatal("duplicates were written before the flush")
	}
	replicas[0].rcv.Flush(context.Background())
	inc := incident(t, ns, name)
	if inc.Status.Alerts == nil || inc.Status.Alerts.Count != 402 {
		t.Fatalf("count %+v; want 402", inc.Status.Alerts)
	}
	rv := inc.ResourceVersion
	replicas[0].rcv.Flush(context.Background())
	if incident(t, ns, name).ResourceVersion != rv {
		t.Error("a flush with nothing pending wrote the incident")
	}
}

// TestCountsWaitForTheController: a tick's flush leaves the counts of an incident the
// controller has not reconciled yet, so they do not make its first status write (the
// claim of the first page) conflict; once it has, or after settleWait, they are
// written. The last flush writes them whatever the controller does.
func TestCountsWaitForTheController(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	payload := amPayload("g", firing("settle", "Settle", clock.Now()))
	name := decode(t, post(replicas[0], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", payload, bearer(token))).Opened[0]
	decode(t, post(replicas[0], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", payload, bearer(token)))
	key := types.NamespacedName{Namespace: ns, Name: name}
	before := incident(t, ns, name).ResourceVersion
	c := replicas[0].rcv.coalescer
	c.flush(context.Background(), true)
	if incident(t, ns, name).ResourceVersion != before {
		t.Fatal("a tick's flush wrote counts before the controller reconciled the incident")
	}

	// The controller reconciles it: the next tick writes the counts.
	inc := incident(t, ns, name)
	inc.Status.ObservedGeneration = inc.Generation
	if err := api.Status().Update(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for c.index.busy(key) {
		if time.Now().After(deadline) {
			t.Fatal("the index never saw the reconciled incident")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.flush(context.Background(), true)
	if got := incident(t, ns, name).Status.Alerts; got == nil || got.Count != 2 {
		t.Fatalf("count %+v after the controller reconciled; want 2", got)
	}

	// An incident the controller never gets to is counted after settleWait.
	payload = amPayload("h", firing("late", "Late", clock.Now()))
	name = decode(t, post(replicas[0], http.MethodPost, "/api/v1/alerts/"+ns+"/am", "application/json", payload, bearer(token))).Opened[0]
	c.flush(context.Background(), true)
	if got := incident(t, ns, name).Status.Alerts; got != nil {
		t.Fatalf("count %+v written at once; want it to wait", got)
	}
	clock.Add(settleWait)
	c.flush(context.Background(), true)
	if got := incident(t, ns, name).Status.Alerts; got == nil || got.Count != 1 {
		t.Fatalf("count %+v after settleWait; want 1", got)
	}
}

// TestRotatedTokenWorksAtOnce: a sender switching to a rotated token is accepted on
// its first request, although the old Secret is still cached.
func TestRotatedTokenWorksAtOnce(t *testing.T) {
	ns := newNamespace(t)
	source(t, ns, "am", klaxonv1.AlertSourceSpec{})
	path := "/api/v1/alerts/" + ns + "/am"
	body := amPayload("g", firing("r", "Rotate", clock.Now()))
	decode(t, post(replicas[0], http.MethodPost, path, "application/json", body, bearer(token)))

	var s corev1.Secret
	if err := api.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "am-auth"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data[klaxonv1.SecretKeyAuthToken] = []byte("new-token")
	s.Data[klaxonv1.SecretKeyAuthPreviousToken] = []byte(token)
	if err := api.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	clock.Add(minRefresh)
	decode(t, post(replicas[0], http.MethodPost, path, "application/json", body, bearer("new-token")))
	decode(t, post(replicas[0], http.MethodPost, path, "application/json", body, bearer(token))) // the previous one, during rotation
	if rec := post(replicas[0], http.MethodPost, path, "application/json", body, bearer("guess")); rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong token got %d", rec.Code)
	}
}
