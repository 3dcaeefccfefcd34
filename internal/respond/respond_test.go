package respond

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
	"github.com/klaxon-ops/klaxon/internal/server"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

var c client.Client

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	env := testenv.New()
	cfg, err := testenv.Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = klaxonv1.AddToScheme(scheme)
	if c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}); err != nil {
		panic(err)
	}
	return m.Run()
}

var (
	key     = []byte("current-key-current-key-current!")
	oldKey  = []byte("previous-key-previous-key-previo")
	t0      = time.Now()
	handler = &Handler{Keys: [][]byte{key, oldKey}, Now: func() time.Time { return t0 }}
)

func serve(t *testing.T) *httptest.Server {
	handler.Client = c
	s := server.New("", func() error { return nil })
	handler.Register(s.Handle)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func newIncident(t *testing.T, name string) *klaxonv1.Incident {
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme"}, Spec: klaxonv1.IncidentSpec{Title: "db down"}}
	if err := c.Create(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

func token(t *testing.T, k []byte, claims notify.Claims) string {
	tok, err := notify.Sign(k, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func get(t *testing.T, name string) *klaxonv1.Incident {
	var inc klaxonv1.Incident
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "acme", Name: name}, &inc); err != nil {
		t.Fatal(err)
	}
	return &inc
}

func TestAcknowledgeLink(t *testing.T) {
	srv := serve(t)
	newIncident(t, "ack")
	url := srv.URL + "/api/v1/respond/" + token(t, key, notify.Claims{Namespace: "acme", Incident: "ack",
		Action: notify.ActionAcknowledge, Responder: "acme/alice", ExpiresAt: t0.Add(time.Hour)})

	// A GET (a mail scanner, a chat preview) only asks for confirmation.
	resp, err := http.Get(url)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if s := get(t, "ack").Spec.State; s != "" && s != klaxonv1.StateTriggered {
		t.Fatalf("a GET changed the state to %s", s)
	}

	resp, err = http.Post(url, "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %v %v", resp, err)
	}
	inc := get(t, "ack")
	if inc.Spec.State != klaxonv1.StateAcknowledged || inc.Spec.AcknowledgedBy != "alice" ||
		inc.Annotations[klaxonv1.AnnotationStateChangedBy] != "Responder/acme/alice" {
		t.Fatalf("after the link: state %s by %q, annotations %v", inc.Spec.State, inc.Spec.AcknowledgedBy, inc.Annotations)
	}
	// Using it again changes nothing and says so.
	resp, _ = http.Post(url, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second use: %d", resp.StatusCode)
	}
}

func TestResolveWithThePreviousKey(t *testing.T) {
	srv := serve(t)
	newIncident(t, "rotated")
	url := srv.URL + "/api/v1/respond/" + token(t, oldKey, notify.Claims{Namespace: "acme", Incident: "rotated",
		Action: notify.ActionResolve, Responder: "acme/bob", ExpiresAt: t0.Add(time.Hour)})
	resp, err := http.Post(url, "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %v %v", resp, err)
	}
	if s := get(t, "rotated").Spec.State; s != klaxonv1.StateResolved {
		t.Fatalf("state %s, want Resolved", s)
	}
}

func TestRefusedLinksChangeNothing(t *testing.T) {
	srv := serve(t)
	newIncident(t, "refused")
	valid := notify.Claims{Namespace: "acme", Incident: "refused", Action: notify.ActionAcknowledge, Responder: "acme/alice", ExpiresAt: t0.Add(time.Hour)}
	expired := valid
	expired.ExpiresAt = t0.Add(-time.Minute)
	reopened := valid
	reopened.ReopenCount = 0
	good := token(t, key, valid)
	forged := token(t, []byte("an-attacker-key-an-attacker-key!"), valid)
	// Flip a character of the signed claims: the signature no longer matches.
	altered := strings.Replace(good, good[5:6], string(rune(good[5]^1)), 1)

	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"expired", token(t, key, expired), http.StatusGone},
		{"forged", forged, http.StatusForbidden},
		{"altered", altered, http.StatusForbidden},
		{"truncated", good[:len(good)/2], http.StatusBadRequest},
		{"garbage", "not-a-token", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/api/v1/respond/"+tc.token, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if s := get(t, "refused").Spec.State; s != "" && s != klaxonv1.StateTriggered {
		t.Fatalf("a refused link changed the state to %s", s)
	}

	// A link from before a reopen does not acknowledge the new episode.
	inc := get(t, "refused")
	inc.Status.ReopenCount = 1
	if err := c.Status().Update(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
	resp, _ := http.Post(srv.URL+"/api/v1/respond/"+token(t, key, reopened), "", nil)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("stale link: %d, want 409", resp.StatusCode)
	}
}
