package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// TestLifecycle is the README's five-minute tour, run as a user would: klaxon --local
// with the samples, then kubectl to open, acknowledge and resolve an incident, read
// its timeline and the on-call status; then a restart that keeps the incident.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	// It restarts on the same port below: one no client connection can take meanwhile.
	apiPort, err := testenv.StablePort()
	if err != nil {
		t.Fatal(err)
	}
	k := startKlaxon(t, dir, apiPort)

	// The samples are applied and every object turns Ready.
	for _, kind := range []string{"responders", "oncallschedules", "escalationpolicies", "stakeholdergroups", "notificationchannels"} {
		eventually(t, 30*time.Second, func() error {
			out, err := k.kubectl("-n", "acme", "get", kind, "-o",
				`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}`)
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) == "" || strings.Contains(out, "=False") || strings.Contains(out, "= ") || strings.HasSuffix(strings.TrimSpace(out), "=") {
				return fmt.Errorf("%s not all Ready: %q", kind, out)
			}
			return nil
		})
	}

	// Someone is on call on the primary schedule, with a next handoff.
	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "oncall", "primary")
		if err != nil {
			return err
		}
		if !regexp.MustCompile(`(?m)^primary\s+(alice|bob|carol)\s+\d{4}-\d\d-\d\dT`).MatchString(out) {
			return fmt.Errorf("no one on call with a next handoff:\n%s", out)
		}
		return nil
	})

	// The samples' channel posts to make run's sink at its default address; this run's
	// sink listens elsewhere.
	k.mustKubectl("-n", "acme", "patch", "notificationchannel", "local-sink", "--type=merge",
		"-p", `{"spec":{"webhook":{"url":"http://`+k.sinkAddr+`/acme"}}}`)

	k.mustKubectl("-n", "acme", "create", "-f", "config/samples/incidents/checkout-latency.yaml")
	// Whoever is on call is paged at the sink, which appends to notifications.jsonl.
	eventually(t, 30*time.Second, func() error {
		data, err := os.ReadFile(filepath.Join(dir, "notifications.jsonl"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), `"event":"Triggered"`) || !strings.Contains(string(data), `"level":1`) {
			return fmt.Errorf("no page in notifications.jsonl yet:\n%s", data)
		}
		if !strings.Contains(string(data), "/api/v1/respond/") {
			return fmt.Errorf("the page has no respond link:\n%s", data)
		}
		return nil
	})
	expectRow(t, k, `^checkout-latency\s+SEV2\s+Triggered\s+Triage\s+\S*\s*\d+s`)
	header := strings.SplitN(k.mustKubectl("-n", "acme", "get", "incidents"), "\n", 2)[0]
	if got := strings.Fields(header); strings.Join(got, " ") != "NAME SEVERITY STATE STAGE LEVEL AGE" {
		t.Errorf("printer columns: %q", header)
	}

	k.mustKubectl("-n", "acme", "patch", "incident", "checkout-latency", "--type=merge",
		"-p", `{"spec":{"state":"Acknowledged","acknowledgedBy":"alice"}}`)
	expectRow(t, k, `^checkout-latency\s+SEV2\s+Acknowledged\s+Triage`)
	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "incident", "checkout-latency", "-o", "jsonpath={.status.timeToAcknowledge}")
		if err != nil || out == "" {
			return fmt.Errorf("no timeToAcknowledge yet: %q %v", out, err)
		}
		return nil
	})

	k.mustKubectl("-n", "acme", "patch", "incident", "checkout-latency", "--type=merge",
		"-p", `{"spec":{"state":"Resolved","stage":"Monitor","rootCause":"a slow query after the v42 deploy"}}`)
	expectRow(t, k, `^checkout-latency\s+SEV2\s+Resolved\s+Monitor`)
	timeline := k.mustKubectl("-n", "acme", "get", "incident", "checkout-latency", "-o",
		`jsonpath={range .status.timeline[*]}{.type}{"|"}{.actor}{"\n"}{end}`)
	// The lifecycle, in order, with who did it (the admission webhook stamps the
	// kubectl user); pages and notifications come in between.
	want := []string{"Triggered|klaxon-admin", "Triaged|", "Acknowledged|alice", "StageChanged|klaxon-admin", "Resolved|klaxon-admin"}
	if !subsequence(strings.Fields(timeline), want) {
		t.Errorf("timeline lacks %v in order:\n%s", want, timeline)
	}
	conds := k.mustKubectl("-n", "acme", "get", "incident", "checkout-latency", "-o",
		`jsonpath={range .status.conditions[*]}{.type}={.status}{" "}{end}`)
	for _, want := range []string{"Ready=True", "Acknowledged=True", "Resolved=True"} {
		if !strings.Contains(conds, want) {
			t.Errorf("conditions %q lack %s", conds, want)
		}
	}
	events := k.mustKubectl("-n", "acme", "get", "events", "--field-selector", "involvedObject.name=checkout-latency")
	for _, want := range []string{"Triggered", "Acknowledged", "StageChanged", "Resolved"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %s:\n%s", want, events)
		}
	}

	// A bad manifest is refused by the API server with the reason.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: klaxon.dev/v1alpha1
kind: Incident
metadata: {name: nobody-acked, namespace: acme}
spec: {title: x, state: Acknowledged}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k.kubectl("apply", "-f", bad); err == nil || !strings.Contains(out, "acknowledgedBy must name who acknowledged") {
		t.Errorf("bad incident: err=%v\n%s", err, out)
	}

	// Ctrl-C stops everything; a restart on the same state keeps the incident.
	triggeredAt := k.mustKubectl("-n", "acme", "get", "incident", "checkout-latency", "-o", "jsonpath={.status.triggeredAt}")
	k.stop()
	if _, err := k.kubectl("get", "ns"); err == nil {
		t.Errorf("the control plane still answers after klaxon stopped")
	}
	k2 := startKlaxon(t, dir, apiPort)
	expectRow(t, k2, `^checkout-latency\s+SEV2\s+Resolved\s+Monitor`)
	if again := k2.mustKubectl("-n", "acme", "get", "incident", "checkout-latency", "-o", "jsonpath={.status.triggeredAt}"); again != triggeredAt {
		t.Errorf("triggeredAt changed across the restart: %s -> %s", triggeredAt, again)
	}
}

// expectRow waits until `kubectl get incidents` shows a row matching re.
func expectRow(t *testing.T, k *instance, re string) {
	t.Helper()
	rx := regexp.MustCompile("(?m)" + re)
	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "incidents")
		if err != nil {
			return err
		}
		if !rx.MatchString(out) {
			return fmt.Errorf("no row matches %s:\n%s", re, out)
		}
		return nil
	})
}

// subsequence reports whether want appears in got in order.
func subsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
