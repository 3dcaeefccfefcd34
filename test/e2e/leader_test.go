package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// TestLeaderChangeNeitherLosesNorRepeats runs two replicas of the klaxon binary with
// leader election, as the chart does, against one real kube-apiserver. The standby
// serves intake while the leader reconciles; when the leader crashes (SIGKILL: no
// lease released) right after paging level 1, the standby takes over and pages
// level 2 when it is due — never before, never twice, and level 1 is not repeated.
// Then a graceful stop (SIGTERM releases the lease) hands over at once.
func TestLeaderChangeNeitherLosesNorRepeats(t *testing.T) {
	_, kubeconfig := startControlPlane(t)
	kubectl := func(input string, args ...string) string {
		t.Helper()
		out, err := runKubectl(kubeconfig, input, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	certDir := selfSignedCertDir(t)
	sink := newDeliverySink(t)

	const level2Delay = 40 * time.Second
	kubectl(`apiVersion: v1
kind: Namespace
metadata: {name: klaxon-system}
---
`+pagedTenant(sink.URL, level{0, "alice"}, level{level2Delay, "bob"})+`---
apiVersion: v1
kind: Secret
metadata: {name: intake, namespace: acme}
stringData: {token: s3cret-intake-token}
---
apiVersion: klaxon.dev/v1alpha1
kind: AlertSource
metadata: {name: prometheus, namespace: acme}
spec:
  format: Alertmanager
  auth: {type: Bearer, secretRef: {name: intake}}
  groupBy: [alertname]
  escalationPolicyRef: {name: default}
`, "apply", "-f", "-")

	a := startReplica(t, "a", kubeconfig, certDir)
	b := startReplica(t, "b", kubeconfig, certDir)
	leader, standby := a, b
	eventually(t, time.Minute, func() error {
		switch {
		case a.isLeader() && !b.isLeader():
			leader, standby = a, b
		case b.isLeader() && !a.isLeader():
			leader, standby = b, a
		default:
			return fmt.Errorf("want exactly one leader: a %v, b %v", a.isLeader(), b.isLeader())
		}
		return nil
	})

	// The standby serves intake: the alert opens an incident, which the leader pages.
	body := `{"version":"4","status":"firing","receiver":"klaxon","groupLabels":{"alertname":"CheckoutDown"},
"alerts":[{"status":"firing","labels":{"alertname":"CheckoutDown","severity":"critical"},"annotations":{"summary":"checkout is down"},
"startsAt":"2026-11-27T05:00:00Z","fingerprint":"a1"}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+standby.httpAddr+"/api/v1/alerts/acme/prometheus", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cret-intake-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the standby's intake answered %s: %s", resp.Status, answer)
	}
	var accepted struct{ Opened []string }
	if err := json.Unmarshal(answer, &accepted); err != nil || len(accepted.Opened) != 1 {
		t.Fatalf("the standby's intake opened %v (%v): %s", accepted.Opened, err, answer)
	}
	name := accepted.Opened[0]
	eventually(t, time.Minute, func() error {
		if n := sink.count(name, 1); n != 1 {
			return fmt.Errorf("level 1 of %s paged %d times", name, n)
		}
		return nil
	})
	due, err := time.Parse(time.RFC3339Nano, kubectl("", "-n", "acme", "get", "incident", name, "-o", "jsonpath={.status.escalation.nextEscalationAt}"))
	if err != nil {
		t.Fatal(err)
	}

	// The leader crashes: its lease is not released, so the standby waits it out.
	crashed := time.Now()
	leader.kill()
	eventually(t, time.Minute, func() error {
		if !standby.isLeader() {
			return fmt.Errorf("the standby has not taken over")
		}
		return nil
	})
	t.Logf("the standby took over %s after the crash; level 2 due in %s", time.Since(crashed).Round(time.Millisecond), time.Until(due).Round(time.Millisecond))
	eventually(t, level2Delay+time.Minute, func() error {
		if n := sink.count(name, 2); n != 1 {
			return fmt.Errorf("level 2 of %s paged %d times", name, n)
		}
		return nil
	})
	at := sink.first(name, 2).at
	if at.Before(due) {
		t.Errorf("level 2 arrived at %s, before it was due at %s", at.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano))
	}
	// The takeover costs at most the lease (15 s) when the crash comes late; here the
	// standby led long before the deadline, so the page is on time.
	if late := at.Sub(due); late > 5*time.Second {
		t.Errorf("level 2 arrived %s after it was due", late)
	}
	time.Sleep(3 * time.Second) // anything repeated would have arrived by now
	if n1, n2 := sink.count(name, 1), sink.count(name, 2); n1 != 1 || n2 != 1 {
		t.Errorf("after the leader change: level 1 paged %d times, level 2 %d times; want once each", n1, n2)
	}
	if dup := sink.duplicates(); len(dup) > 0 {
		t.Errorf("deliveries repeated: %v", dup)
	}

	// A graceful stop hands over without waiting out the lease.
	restarted := startReplica(t, "a2", kubeconfig, certDir)
	stopping := time.Now()
	standby.stop()
	eventually(t, 30*time.Second, func() error {
		if !restarted.isLeader() {
			return fmt.Errorf("the restarted replica has not taken over")
		}
		return nil
	})
	if took := time.Since(stopping); took > 12*time.Second {
		t.Errorf("a graceful stop took %s to hand over: the lease was not released", took)
	}
	kubectl(`apiVersion: klaxon.dev/v1alpha1
kind: Incident
metadata: {name: after-handover, namespace: acme}
spec: {title: after the handover, severity: SEV2, escalationPolicyRef: {name: default}}
`, "create", "-f", "-")
	eventually(t, time.Minute, func() error {
		if n := sink.count("after-handover", 1); n != 1 {
			return fmt.Errorf("the new leader paged level 1 of after-handover %d times", n)
		}
		return nil
	})
}

// startReplica runs klaxon with the chart's way of electing a leader and its own
// ports, and waits until it is ready.
func startReplica(t *testing.T, name, kubeconfig, certDir string) *replica {
	t.Helper()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return startManager(t, name, kubeconfig, "--leader-elect", "--system-namespace=klaxon-system", "--leader-election-namespace=klaxon-system",
		"--kube-api-qps=50", "--kube-api-burst=100", "--http-bind-address="+httpAddr, "--external-url=http://"+httpAddr,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", freePort(t)), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--webhook-port=%d", freePort(t)), "--webhook-cert-dir="+certDir, "--postmortem-cache-dir="+t.TempDir())
}

// deliverySink is a webhook receiver that records each delivery's incident, level,
// key and arrival.
type deliverySink struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivery
}

type delivery struct {
	body     string
	incident string
	level    int
	event    string
	key      string
	at       time.Time
}

func newDeliverySink(t *testing.T) *deliverySink {
	s := &deliverySink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var body struct {
			Event    string
			Key      string
			Incident struct {
				Name  string
				Level int
			}
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.deliveries = append(s.deliveries, delivery{body: string(raw), incident: body.Incident.Name, level: body.Incident.Level, event: body.Event, key: body.Key, at: at})
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// pages are the pages of incident's level (Triggered or Escalated), in arrival order.
func (s *deliverySink) pages(incident string, level int) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []delivery
	for _, d := range s.deliveries {
		if d.incident == incident && d.level == level && (d.event == "Triggered" || d.event == "Escalated") {
			out = append(out, d)
		}
	}
	return out
}

// count is how many pages of incident's level arrived.
func (s *deliverySink) count(incident string, level int) int { return len(s.pages(incident, level)) }

// first is the first page of incident's level; its body is "" when none arrived.
func (s *deliverySink) first(incident string, level int) delivery {
	if ps := s.pages(incident, level); len(ps) > 0 {
		return ps[0]
	}
	return delivery{}
}

// duplicates are the delivery keys that arrived more than once.
func (s *deliverySink) duplicates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]int{}
	var dup []string
	for _, d := range s.deliveries {
		k := d.incident + "/" + d.key
		if seen[k]++; seen[k] == 2 {
			dup = append(dup, k)
		}
	}
	return dup
}

// selfSignedCertDir writes a serving certificate for 127.0.0.1 (tls.crt, tls.key), for
// a webhook server that kube-apiserver does not call in this test.
func selfSignedCertDir(t *testing.T) string {
	t.Helper()
	certPEM, keyPEM, err := testenv.LoopbackCert()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
