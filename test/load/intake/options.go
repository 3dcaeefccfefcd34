package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// options are the harness's flags: the stream's shape and the sizes of both phases.
type options struct {
	out          string
	alertmanager string // the Alertmanager binary; hack/install-alertmanager.sh's when empty
	skipAM       bool
	intakeOnly   bool // the controller without its reconcilers: intake's own ceiling
	perGroup     bool // Klaxon's requests each carry one alert group's alerts
	qps          qpsSetting
	intakeQPS    qpsSetting
	profile      time.Duration // CPU profiles of Klaxon and kube-apiserver from the start of Klaxon's stream; 0 for none

	// The ingest phase: one stream of Alertmanager batches, as fast as it is taken.
	alerts     int
	batch      int
	duplicates float64 // fraction of alerts that repeat one already sent
	groups     int     // distinct alert groups among the new alerts: the incidents expected
	repeats    int     // alerts sent after the stream, all repeats
	senders    int     // requests in flight at once

	// The first-page phase: new alerts, each its own group, at a steady rate.
	rate     float64
	duration time.Duration
	warmup   time.Duration
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("intake", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "directory for logs, kubeconfig, Alertmanager's data; a new temporary one when empty")
	fs.StringVar(&o.alertmanager, "alertmanager", "", "Alertmanager v0.28.1 binary; built by hack/install-alertmanager.sh when empty")
	fs.BoolVar(&o.skipAM, "skip-alertmanager", false, "measure Klaxon only")
	fs.BoolVar(&o.intakeOnly, "intake-only", false, "run Klaxon's intake without its reconcilers (nothing triages, escalates or pages; no first-page phase): what intake takes when the API server is not also busy with the incidents it opens. A diagnosis, not the issue's measurement")
	qps := fs.String("kube-api-qps", "500/1000", "controller --kube-api-qps/--kube-api-burst, the reconcilers' (opening hundreds of incidents a second needs more than klaxon's default 50/100)")
	intakeQPS := fs.String("intake-kube-api-qps", "500/1000", "controller --intake-kube-api-qps/--intake-kube-api-burst, intake's own")
	fs.DurationVar(&o.profile, "profile", 0, "write CPU profiles of the controller and kube-apiserver over this long from the start of Klaxon's ingest stream to -out (klaxon-ingest.pprof, apiserver-ingest.pprof); 0 for none")
	fs.IntVar(&o.alerts, "alerts", 100000, "ingest: alerts in the stream")
	fs.IntVar(&o.batch, "batch", 50, "ingest: alerts per request")
	fs.BoolVar(&o.perGroup, "per-group", false, "ingest: Klaxon's requests carry the same alerts in the same order cut as Alertmanager (group_by: [alertname]) delivers them, each request one group's alerts (at most -batch), instead of the mixed batches Prometheus posts to Alertmanager; Alertmanager gets the mixed batches either way")
	fs.Float64Var(&o.duplicates, "duplicates", 0.95, "ingest: fraction of alerts that repeat an alert already sent")
	fs.IntVar(&o.groups, "groups", 500, "ingest: alert groups the new alerts fall into, each one incident (new alerts beyond the first of a group are new instances in it)")
	fs.IntVar(&o.repeats, "repeat-alerts", 100000, "ingest: alerts sent after the stream, every one a repeat: memory and throughput once nothing new arrives; 0 to skip")
	fs.IntVar(&o.senders, "senders", 32, "ingest: requests in flight at once")
	fs.Float64Var(&o.rate, "rate", 10, "first page: new alerts per second, each a new group")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "first page: how long new alerts are sent for")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "first page: new alerts sent at the same rate before measuring")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	s, err := parseSetting(*qps)
	if err != nil {
		return o, err
	}
	o.qps = s
	if o.intakeQPS, err = parseSetting(*intakeQPS); err != nil {
		return o, err
	}
	newAlerts := int(float64(o.alerts) * (1 - o.duplicates))
	switch {
	case o.alerts < 1 || o.batch < 1 || o.senders < 1:
		return o, errors.New("-alerts, -batch and -senders must be positive")
	case o.duplicates < 0 || o.duplicates >= 1:
		return o, errors.New("-duplicates must be in [0, 1)")
	case o.groups < 1 || o.groups > newAlerts:
		return o, fmt.Errorf("-groups must be between 1 and the number of new alerts (%d)", newAlerts)
	case o.rate <= 0 || o.duration <= 0:
		return o, errors.New("-rate and -duration must be positive")
	}
	if o.out == "" {
		if o.out, err = os.MkdirTemp("", "klaxon-load-intake-"); err != nil {
			return o, fmt.Errorf("creating the output directory: %w", err)
		}
	} else if err := os.MkdirAll(o.out, 0o755); err != nil {
		return o, fmt.Errorf("creating %s: %w", o.out, err)
	}
	return o, nil
}

// qpsSetting is a client's limits.
type qpsSetting struct {
	qps   float64
	burst int
}

func (s qpsSetting) String() string { return fmt.Sprintf("%g/%d", s.qps, s.burst) }

func parseSetting(s string) (qpsSetting, error) {
	var q qpsSetting
	if _, err := fmt.Sscanf(s, "%g/%d", &q.qps, &q.burst); err != nil {
		return q, fmt.Errorf("QPS setting %q is not qps/burst", s)
	}
	return q, nil
}
