package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/klaxon-ops/klaxon/internal/testenv"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// alertmanagerProc is the real Alertmanager the streams also go through.
type alertmanagerProc struct {
	*measure.Process
	url string
}

// alertmanagerConfig notifies the sink of every new group at once (group_wait 0), as
// Klaxon pages a new incident at once; later alerts of a group wait for
// group_interval, longer than the run, as Klaxon only counts them.
const alertmanagerConfig = `route:
  receiver: sink
  group_by: [alertname]
  group_wait: 0s
  group_interval: 10m
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: %s
        send_resolved: false
`

// startAlertmanager runs Alertmanager in memory (its data directory is the run's,
// nothing survives it) and without clustering, and waits until it is ready.
func (h *harness) startAlertmanager(ctx context.Context) (*alertmanagerProc, error) {
	bin := h.opts.alertmanager
	if bin == "" {
		out, err := exec.CommandContext(ctx, filepath.Join(testenv.RepoRoot(), "hack", "install-alertmanager.sh")).Output()
		if err != nil {
			return nil, fmt.Errorf("installing Alertmanager (hack/install-alertmanager.sh): %w", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	dir := filepath.Join(h.out, "alertmanager")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(alertmanagerConfig, h.sink.url+pathAlertmanager)), 0o600); err != nil {
		return nil, err
	}
	addr, err := measure.FreeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(h.out, "alertmanager.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr,
		"--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	a := &alertmanagerProc{url: "http://" + addr}
	if a.Process, err = measure.StartProcess(cmd, logFile); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
		select {
		case err := <-a.Exited():
			return nil, fmt.Errorf("alertmanager exited (%v); see %s", err, logFile.Name())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = a.Stop(10 * time.Second)
			return nil, fmt.Errorf("alertmanager not ready after 30 s; see %s", logFile.Name())
		}
	}
}

func (a *alertmanagerProc) stop() { _ = a.Stop(10 * time.Second) }

// target posts to POST /api/v2/alerts, as Prometheus does.
func (a *alertmanagerProc) target(conns int) *target {
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	return &target{peer: alertmanager, url: a.url + "/api/v2/alerts", header: hdr, body: (*stream).alertmanagerBody,
		pid: a.Pid(), rss: &a.RSS, client: newClient(conns)}
}

// counts is how many alerts and groups Alertmanager holds.
func (a *alertmanagerProc) counts(ctx context.Context) (alerts, groups int, err error) {
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.Unmarshal(b, v)
	}
	var as, gs []json.RawMessage
	if err := get("/api/v2/alerts", &as); err != nil {
		return 0, 0, err
	}
	if err := get("/api/v2/alerts/groups", &gs); err != nil {
		return 0, 0, err
	}
	return len(as), len(gs), nil
}
