package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAlertmanagerOpensAndResolves runs a real Prometheus Alertmanager (v0.28.1, built
// into bin/ by hack/install-alertmanager.sh) whose webhook receiver is Klaxon's intake,
// with the bearer token of the samples' AlertSource, as a user would configure it: an
// alert posted to Alertmanager's API becomes an incident that pages the on-call
// responder; resolving the alert resolves the incident.
func TestAlertmanagerOpensAndResolves(t *testing.T) {
	am := installedTool(t, "hack/install-alertmanager.sh")
	dir := t.TempDir()
	k := startKlaxon(t, dir, freePort(t))
	k.mustKubectl("-n", "acme", "patch", "notificationchannel", "local-sink", "--type=merge",
		"-p", `{"spec":{"webhook":{"url":"http://`+k.sinkAddr+`/acme"}}}`)

	// make run made up the token; the AlertSource turns Ready with it.
	var token string
	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "secret", "prometheus-intake", "-o", "jsonpath={.data.token}")
		if err != nil {
			return err
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if err != nil || len(b) < 32 {
			return fmt.Errorf("no usable token in the Secret (%v)", err)
		}
		token = string(b)
		ready, err := k.kubectl("-n", "acme", "get", "alertsource", "prometheus", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil || ready != "True" {
			return fmt.Errorf("AlertSource prometheus not Ready: %q %v", ready, err)
		}
		return nil
	})

	amAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startAlertmanager(t, am, filepath.Join(dir, "alertmanager"), amAddr, fmt.Sprintf(`
route:
  receiver: klaxon
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: klaxon
    webhook_configs:
      - url: http://%s/api/v1/alerts/acme/prometheus
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: %s
`, k.httpAddr, token))

	alert := map[string]any{
		"labels":       map[string]string{"alertname": "CheckoutErrorRate", "service": "checkout", "severity": "critical", "team": "payments / checkout"},
		"annotations":  map[string]string{"summary": "Checkout 5xx rate above 5%"},
		"startsAt":     time.Now().UTC().Format(time.RFC3339),
		"generatorURL": "http://prometheus.example/graph",
	}
	postAlerts(t, amAddr, alert)

	// One incident, opened by the AlertSource, paged at the sink.
	var name string
	eventually(t, 60*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "incidents", "-l", "klaxon.dev/alertsource=prometheus",
			"-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.state}={.spec.title}{"\n"}{end}`)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 1 || lines[0] == "" {
			return fmt.Errorf("want one incident from the AlertSource, got %q", out)
		}
		f := strings.SplitN(lines[0], "=", 3)
		if f[1] != "Triggered" || !strings.Contains(f[2], "Checkout 5xx rate") {
			return fmt.Errorf("incident not triggered with the alert's summary: %q", lines[0])
		}
		name = f[0]
		return nil
	})
	// The alert's label value "payments / checkout" is no Kubernetes label value; it
	// is kept in spec.source.
	if got := k.mustKubectl("-n", "acme", "get", "incident", name, "-o", "jsonpath={.spec.source.labels.team}"); got != "payments / checkout" {
		t.Errorf("spec.source.labels.team = %q", got)
	}
	// A page, not only the stakeholders' notices: level 1 of the AlertSource's
	// escalation policy, with an acknowledge link for the responder.
	eventually(t, 30*time.Second, func() error {
		data, err := os.ReadFile(filepath.Join(dir, "notifications.jsonl"))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, `"name":"`+name+`"`) && strings.Contains(line, `"event":"Triggered"`) &&
				strings.Contains(line, `"level":1,`) && strings.Contains(line, `"acknowledge":"http`) {
				return nil
			}
		}
		return fmt.Errorf("no page for %s at the sink yet", name)
	})

	// Alertmanager repeats nothing new for the same firing alert: still one incident.
	postAlerts(t, amAddr, alert)
	time.Sleep(2 * time.Second) // two group intervals
	if out := k.mustKubectl("-n", "acme", "get", "incidents", "-l", "klaxon.dev/alertsource=prometheus", "-o", "name"); strings.Count(out, "incident") != 1 {
		t.Fatalf("the same alert opened more incidents:\n%s", out)
	}

	// Resolving the alert in Alertmanager resolves the incident.
	alert["endsAt"] = time.Now().UTC().Format(time.RFC3339)
	postAlerts(t, amAddr, alert)
	eventually(t, 60*time.Second, func() error {
		state, err := k.kubectl("-n", "acme", "get", "incident", name, "-o", "jsonpath={.spec.state}")
		if err != nil || state != "Resolved" {
			return fmt.Errorf("incident %s is %q, not Resolved (%v)", name, state, err)
		}
		return nil
	})
	// The timeline names the source that opened and resolved it, not Klaxon's own
	// identity, which made both writes.
	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "incident", name, "-o",
			`jsonpath={range .status.timeline[?(@.type=="Triggered")]}{.actor}{"\n"}{end}{range .status.timeline[?(@.type=="Resolved")]}{.actor}{"\n"}{end}`)
		if err != nil {
			return err
		}
		if got := strings.Fields(out); !slices.Equal(got, []string{"AlertSource/prometheus", "AlertSource/prometheus"}) {
			return fmt.Errorf("opened and resolved by %q, want AlertSource/prometheus twice", got)
		}
		return nil
	})
}

// startAlertmanager runs Alertmanager with config, in memory and without clustering,
// and waits until its API answers.
func startAlertmanager(t *testing.T, bin, dir, addr, config string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr,
		"--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", log.String())
		}
	})
	eventually(t, 30*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("alertmanager not ready: %s", resp.Status)
		}
		return nil
	})
}

// postAlerts posts alerts to Alertmanager's v2 API, as Prometheus does.
func postAlerts(t *testing.T, addr string, alerts ...map[string]any) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting alerts to alertmanager: %s", resp.Status)
	}
}
