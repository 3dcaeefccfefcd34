package receiver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
)

// heartbeat creates a Heartbeat authenticated by auth and waits for the caches.
func heartbeat(t *testing.T, ns, name string, auth klaxonv1.EndpointAuth, data map[string][]byte) *klaxonv1.Heartbeat {
	t.Helper()
	ctx := context.Background()
	if err := api.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: auth.SecretRef.Name}, Data: data}); err != nil {
		t.Fatal(err)
	}
	hb := &klaxonv1.Heartbeat{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: klaxonv1.HeartbeatSpec{Interval: metav1.Duration{Duration: time.Hour}, Grace: metav1.Duration{Duration: time.Minute},
			Auth: auth, Severity: klaxonv1.SEV2}}
	if err := api.Create(ctx, hb); err != nil {
		t.Fatal(err)
	}
	waitCached(t, hb)
	return hb
}

func getHeartbeat(t *testing.T, hb *klaxonv1.Heartbeat) *klaxonv1.Heartbeat {
	t.Helper()
	var got klaxonv1.Heartbeat
	if err := api.Get(context.Background(), client.ObjectKeyFromObject(hb), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func TestHeartbeatPings(t *testing.T) {
	ns := newNamespace(t)
	hb := heartbeat(t, ns, "backup", klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: "hb-auth"}},
		map[string][]byte{klaxonv1.SecretKeyAuthToken: []byte(token)})
	path := "/api/v1/heartbeats/" + ns + "/backup"

	for _, tc := range []struct {
		name   string
		method string
		path   string
		header http.Header
		status int
	}{
		{"unknown heartbeat", http.MethodPost, "/api/v1/heartbeats/" + ns + "/nope", bearer(token), http.StatusNotFound},
		{"no credentials", http.MethodGet, path, nil, http.StatusUnauthorized},
		{"wrong token", http.MethodPost, path, bearer("guess"), http.StatusUnauthorized},
		{"PUT is not a ping", http.MethodPut, path, bearer(token), http.StatusMethodNotAllowed},
	} {
		if rec := post(replicas[0], tc.method, tc.path, "", nil, tc.header); rec.Code != tc.status {
			t.Errorf("%s: status %d; want %d: %s", tc.name, rec.Code, tc.status, rec.Body)
		}
	}
	if got := getHeartbeat(t, hb); got.ResourceVersion != hb.ResourceVersion {
		t.Error("refused pings changed the heartbeat")
	}

	now := clock.Now()
	rec := post(replicas[1], http.MethodGet, path, "", nil, bearer(token))
	if rec.Code != http.StatusOK {
		t.Fatalf("ping: %d %s", rec.Code, rec.Body)
	}
	var resp HeartbeatResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	got := getHeartbeat(t, hb)
	want := intake.HeartbeatDeadline(hb, now)
	if got.Status.State != klaxonv1.HeartbeatUp || got.Status.LastPingAt == nil || !got.Status.DeadlineAt.Time.Equal(want) ||
		!resp.DeadlineAt.Equal(want) || resp.State != "Up" {
		t.Fatalf("after a ping: %+v (answer %+v); want Up, deadline %s", got.Status, resp, want)
	}

	// A second ping within a second is answered without a write.
	waitCached(t, got)
	if rec := post(replicas[1], http.MethodPost, path, "", nil, bearer(token)); rec.Code != http.StatusOK {
		t.Fatalf("second ping: %d", rec.Code)
	}
	if again := getHeartbeat(t, hb); again.ResourceVersion != got.ResourceVersion {
		t.Error("a ping within a second of the last was written")
	}
}

func TestPingResolvesTheMissIncident(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	hb := heartbeat(t, ns, "etl", klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: "etl-auth"}},
		map[string][]byte{klaxonv1.SecretKeyAuthToken: []byte(token)})
	path := "/api/v1/heartbeats/" + ns + "/etl"

	for _, created := range []bool{true, false} {
		// The controller recorded a miss (and, or not yet, opened its incident).
		deadline := clock.Now().Add(-time.Minute).Truncate(time.Second)
		hb = getHeartbeat(t, hb)
		hb.Status.State, hb.Status.DeadlineAt = klaxonv1.HeartbeatDown, &metav1.Time{Time: deadline}
		hb.Status.Incident = intake.HeartbeatIncidentName(hb.Name, deadline)
		if err := api.Status().Update(ctx, hb); err != nil {
			t.Fatal(err)
		}
		if created {
			if err := api.Create(ctx, intake.HeartbeatIncident(hb, deadline, klaxonv1.StateTriggered, clock.Now())); err != nil {
				t.Fatal(err)
			}
		}
		waitCached(t, hb)
		clock.Add(2 * time.Second)

		rec := post(replicas[0], http.MethodPost, path, "", nil, bearer(token))
		var resp HeartbeatResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || resp.Resolved != hb.Status.Incident {
			t.Fatalf("created %v: ping answered %d %s", created, rec.Code, rec.Body)
		}
		inc := incident(t, ns, hb.Status.Incident)
		if inc.Spec.State != klaxonv1.StateResolved || inc.Annotations[klaxonv1.AnnotationStateChangedBy] != "Heartbeat/etl" ||
			inc.Spec.Source.Kind != klaxonv1.SourceHeartbeat {
			t.Errorf("created %v: incident state %s by %q", created, inc.Spec.State, inc.Annotations[klaxonv1.AnnotationStateChangedBy])
		}
		if got := getHeartbeat(t, hb); got.Status.State != klaxonv1.HeartbeatUp || got.Status.Incident != "" {
			t.Errorf("created %v: heartbeat %+v; want Up without an incident", created, got.Status)
		}
	}
}

func TestHeartbeatHMAC(t *testing.T) {
	ns := newNamespace(t)
	key := []byte("hmac-key")
	heartbeat(t, ns, "cron", klaxonv1.EndpointAuth{Type: klaxonv1.AuthHMAC, SecretRef: klaxonv1.SecretReference{Name: "cron-auth"}},
		map[string][]byte{klaxonv1.SecretKeyHMACKey: key})
	path := "/api/v1/heartbeats/" + ns + "/cron"
	ts := clock.Now().Unix()
	signed := func(sig string) http.Header {
		return http.Header{intake.DefaultSignatureHeader: {sig}, intake.DefaultTimestampHeader: {strconv.FormatInt(ts, 10)}}
	}
	if rec := post(replicas[0], http.MethodPost, path, "", []byte("done"), signed(intake.Sign(key, ts, []byte("done")))); rec.Code != http.StatusOK {
		t.Errorf("signed ping: %d %s", rec.Code, rec.Body)
	}
	if rec := post(replicas[0], http.MethodPost, path, "", []byte("done"), signed(intake.Sign([]byte("other"), ts, []byte("done")))); rec.Code != http.StatusUnauthorized {
		t.Errorf("badly signed ping: %d", rec.Code)
	}
}
