package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/klaxon-ops/klaxon/controllers"
)

// options are the harness's flags: the sizes of both phases, so that a quick run is
// one flag away from the full one.
type options struct {
	out       string
	createQPS int // the load generator's client limit, far above what it sends
	profile   bool
	workers   int // the controller's --incident-workers

	// Phase 1: incident created -> first page.
	firstPage bool
	settings  []qpsSetting // controller client limits to measure phase 1 at
	tenants1  int
	rate      float64
	duration  time.Duration
	warmup    time.Duration

	// Phase 2: many open incidents escalating.
	escalation bool
	escSetting qpsSetting
	incidents  int
	tenants2   int
	createRate float64
	escRate    float64
	firstDelay time.Duration
	measure    time.Duration
	grace      time.Duration
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("paging", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "directory for logs, kubeconfig and profiles; a new temporary one when empty")
	fs.IntVar(&o.createQPS, "create-qps", 2000, "client QPS and burst of the load generator")
	fs.BoolVar(&o.profile, "profile", false, "write CPU profiles of the controller and kube-apiserver to -out")
	fs.IntVar(&o.workers, "incident-workers", controllers.DefaultIncidentWorkers, "controller --incident-workers")

	phases := fs.String("phases", "first-page,escalation", "phases to run, comma-separated: first-page, escalation")
	settings := fs.String("first-page-qps", "50/100", "controller --kube-api-qps/--kube-api-burst to measure phase 1 at; a comma-separated list runs it once per setting")
	fs.IntVar(&o.tenants1, "first-page-tenants", 10, "phase 1: tenants (namespaces) the incidents are spread over")
	fs.Float64Var(&o.rate, "rate", 10, "phase 1: incidents created per second")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "phase 1: how long incidents are created for")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "phase 1: incidents created at the same rate before measuring")

	esc := fs.String("escalation-qps", "500/1000", "phase 2: controller --kube-api-qps/--kube-api-burst; opening thousands of incidents takes about four requests each, which klaxon's default 50/100 would stretch over minutes")
	fs.IntVar(&o.incidents, "incidents", 10000, "phase 2: open incidents that escalate")
	fs.IntVar(&o.tenants2, "escalation-tenants", 20, "phase 2: tenants (namespaces) the incidents are spread over")
	fs.Float64Var(&o.createRate, "create-rate", 35, "phase 2: incidents opened per second before the measured window")
	fs.Float64Var(&o.escRate, "escalation-rate", 20, "phase 2: incidents opened, and pages falling due, per second in the measured window")
	fs.DurationVar(&o.firstDelay, "first-delay", 0, "phase 2: delay of the measured incidents' first level, their page due this long after the trigger; 0 for -measure plus 15 s, so that they are all open before the first is due")
	fs.DurationVar(&o.measure, "measure", 45*time.Second, "phase 2: how long the measured incidents are opened for, and so how long their pages fall due for")
	fs.DurationVar(&o.grace, "grace", 60*time.Second, "phase 2: how long after the last deadline a page may still arrive before it counts as lost")
	if err := fs.Parse(args); err != nil {
		return o, err
	}

	for _, p := range splitList(*phases) {
		switch p {
		case "first-page":
			o.firstPage = true
		case "escalation":
			o.escalation = true
		default:
			return o, fmt.Errorf("unknown phase %q", p)
		}
	}
	var err error
	if o.settings, err = parseSettings(*settings); err != nil {
		return o, err
	}
	s, err := parseSettings(*esc)
	if err != nil {
		return o, err
	}
	if len(s) != 1 {
		return o, errors.New("-escalation-qps takes one setting")
	}
	o.escSetting = s[0]
	if o.rate <= 0 || o.createRate <= 0 || o.escRate <= 0 || o.measure <= 0 || o.firstDelay < 0 || o.tenants1 < 1 || o.tenants2 < 1 || o.incidents < 1 {
		return o, errors.New("rates, tenants and incidents must be positive")
	}
	if o.firstDelay == 0 {
		o.firstDelay = o.measure + 15*time.Second
	}
	if o.out == "" {
		if o.out, err = os.MkdirTemp("", "klaxon-load-paging-"); err != nil {
			return o, fmt.Errorf("creating the output directory: %w", err)
		}
	} else if err := os.MkdirAll(o.out, 0o755); err != nil {
		return o, fmt.Errorf("creating %s: %w", o.out, err)
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
