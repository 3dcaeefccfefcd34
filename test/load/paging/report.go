package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/klaxon-ops/klaxon/internal/testenv"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// Targets of issue 4.
const (
	targetFirstP50   = 15 * time.Millisecond
	targetFirstP99   = 100 * time.Millisecond
	targetLateP99    = 250 * time.Millisecond
	targetsReference = "issue 4, Performance"
)

func printHeader(w io.Writer, o options) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "klaxon paging load harness — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "command: %s\n", strings.Join(append([]string{"go run ./test/load/paging"}, os.Args[1:]...), " "))
	fmt.Fprintf(w, "machine: %d cores, load average %s; %s, kube-apiserver %s (etcd without fsync); targets from %s\n",
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), runtime.Version(), testenv.K8sVersion, targetsReference)
	fmt.Fprintf(w, "controller: --incident-workers %d\n", o.workers)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func quantiles(d measure.Durations) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", measure.MS(d.Quantile(0.5)), measure.MS(d.Quantile(0.9)), measure.MS(d.Quantile(0.99)), measure.MS(d.Max()), len(d))
}

func printFirstPage(w io.Writer, r *firstPageResult) {
	fmt.Fprintf(w, "\n== 1. incident created -> first page at the sink (controller --kube-api-qps/burst %s) ==\n", r.setting)
	fmt.Fprintf(w, "%g incidents/s for %s over %d tenants, one-level policy, webhook channel: %d created, %d create errors\n",
		r.rate, r.duration, r.tenants, r.created, r.createErrs)
	fmt.Fprintf(w, "  first page     %s\n", quantiles(r.latency))
	fmt.Fprintf(w, "  create call    %s\n", quantiles(r.createCall))
	fmt.Fprintf(w, "  after the call %s (the page's arrival after the create returned; not the target's measure)\n", quantiles(r.afterCall))
	p50, p99 := r.latency.Quantile(0.5), r.latency.Quantile(0.99)
	fmt.Fprintf(w, "  target p50 <= %s: %s; p99 <= %s: %s\n", measure.MS(targetFirstP50), verdict(p50 <= targetFirstP50 && len(r.latency) > 0),
		measure.MS(targetFirstP99), verdict(p99 <= targetFirstP99 && len(r.latency) > 0))
	fmt.Fprintf(w, "  lost %d, duplicates %d (same Idempotency-Key %d), pages sharing another page's Idempotency-Key %d, other events %d, unparsable %d\n",
		r.missing, r.sink.duplicates, r.sink.repeats, r.sink.collided, r.sink.others, r.sink.bad)
	printControllerMetrics(w, r.metrics, r.created-r.createErrs)
	fmt.Fprintf(w, "  kube-apiserver writes per incident (the harness's create included): %s\n", measure.PerIncident(r.writes, r.created-r.createErrs))
	printCPU(w, r.cpu)
	fmt.Fprintf(w, "  controller memory: VmRSS max %s, VmHWM %s\n", measure.MiB(r.rssMax), measure.MiB(r.hwm))
	for _, p := range r.profiles {
		fmt.Fprintf(w, "  profile: %s\n", p)
	}
}

func (r *firstPageResult) broken() []string {
	var out []string
	if r.missing > 0 {
		out = append(out, fmt.Sprintf("first page (%s): %d pages lost", r.setting, r.missing))
	}
	if r.sink.duplicates > 0 {
		out = append(out, fmt.Sprintf("first page (%s): %d duplicate pages", r.setting, r.sink.duplicates))
	}
	if r.sink.bad > 0 {
		out = append(out, fmt.Sprintf("first page (%s): %d unparsable deliveries", r.setting, r.sink.bad))
	}
	if r.sink.collided > 0 {
		out = append(out, fmt.Sprintf("first page (%s): %d pages carried another page's Idempotency-Key (a receiver dropping processed keys loses them)", r.setting, r.sink.collided))
	}
	if r.createErrs > 0 {
		out = append(out, fmt.Sprintf("first page (%s): %d incidents could not be created", r.setting, r.createErrs))
	}
	return out
}

func printEscalation(w io.Writer, r *escalationResult) {
	fmt.Fprintf(w, "\n== 2. %d open incidents escalating (controller --kube-api-qps/burst %s) ==\n", r.incidents, r.setting)
	nDue := r.pages.expected
	fmt.Fprintf(w, "%d tenants; nobody acknowledges. %d incidents opened at %g/s, due in an hour; then %d more at %g/s for %s, each due %s after its trigger, so pages fall due at that rate\n",
		r.tenants, r.created-nDue, r.createRate, nDue, r.escRate, r.measure, r.delay)
	open := "NOT within 10 minutes"
	if r.opened {
		open = "after " + r.allOpen.Round(time.Second).String()
	}
	fmt.Fprintf(w, "  the first %d created in %s (%d create errors in all); all open with their deadline in status, controller idle, %s\n",
		r.created-nDue, r.createWall.Round(time.Second), r.createErrs, open)
	l := r.pages
	fmt.Fprintf(w, "  pages against status.escalation.nextEscalationAt\n")
	fmt.Fprintf(w, "    lateness     %s\n", quantiles(l.lateness))
	fmt.Fprintf(w, "    early %d, before the create call + delay %d, lost %d of %d, still escalating (due later) %d; deadlines differing from the documented rule %d; not seen in status %d (the controller saw the incident only after its deadline)\n",
		l.early, l.beforeRule, l.missing, l.expected, r.pending, l.mismatched, l.unseen)
	if l.earliest != "" {
		fmt.Fprintf(w, "    earliest: %s\n", l.earliest)
	}
	p99 := l.lateness.Quantile(0.99)
	fmt.Fprintf(w, "    target no page early: %s; p99 lateness <= %s: %s\n", verdict(l.early == 0 && l.beforeRule == 0 && len(l.lateness) > 0), measure.MS(targetLateP99),
		verdict(p99 <= targetLateP99 && len(l.lateness) > 0))
	fmt.Fprintf(w, "  duplicates %d (same Idempotency-Key %d), pages sharing another page's Idempotency-Key %d, unexpected pages %d, deadlines moved %d, other events %d, unparsable %d\n",
		r.sink.duplicates, r.sink.repeats, r.sink.collided, r.unexpected, r.moved, r.sink.others, r.sink.bad)
	printControllerMetrics(w, r.metrics, r.created-r.createErrs)
	fmt.Fprintf(w, "  kube-apiserver writes per incident (the harness's create included): %s\n", measure.PerIncident(r.writes, r.created-r.createErrs))
	printCPU(w, r.cpu)
	if n := len(r.timeline); n > 0 {
		fmt.Fprintf(w, "  in the measured window, the rest of the machine used more than one core in %d of %d seconds (per second: escalation-cpu.csv; pages: escalation-pages.csv)\n",
			busySeconds(r.timeline), n)
	}
	fmt.Fprintf(w, "  controller memory (VmRSS): %s with the tenants only, %s with %d incidents open and idle, max %s, %s at the end with %d open; VmHWM %s\n",
		measure.MiB(r.rssBase), measure.MiB(r.rssOpen), r.created-nDue, measure.MiB(r.rssMax), measure.MiB(r.rssEnd), r.created-r.createErrs, measure.MiB(r.hwm))
	fmt.Fprintf(w, "  kube-apiserver: VmRSS %s at the end; %.0f garbage collections over the phase, %s of stop-the-world pauses\n",
		measure.MiB(r.apiRSS), r.apiGCs, measure.MS(r.apiGCTime))
	for _, p := range r.profiles {
		fmt.Fprintf(w, "  profile: %s\n", p)
	}
}

func (r *escalationResult) broken() []string {
	var out []string
	if l := r.pages; l.beforeRule > 0 {
		out = append(out, fmt.Sprintf("escalation: %d pages before their incident's create call + the delay", l.beforeRule))
	}
	if l := r.pages; l.early > 0 {
		out = append(out, fmt.Sprintf("escalation: %d pages early (%s)", l.early, l.earliest))
	}
	if r.pages.missing > 0 {
		out = append(out, fmt.Sprintf("escalation: %d pages lost", r.pages.missing))
	}
	if r.pages.mismatched > 0 {
		out = append(out, fmt.Sprintf("escalation: %d deadlines in status differ from the documented rule", r.pages.mismatched))
	}
	if r.sink.duplicates > 0 {
		out = append(out, fmt.Sprintf("escalation: %d duplicate pages", r.sink.duplicates))
	}
	if r.unexpected > 0 {
		out = append(out, fmt.Sprintf("escalation: %d pages at a level the policy does not reach", r.unexpected))
	}
	if r.moved > 0 {
		out = append(out, fmt.Sprintf("escalation: %d deadlines moved after they were stored", r.moved))
	}
	if r.sink.bad > 0 {
		out = append(out, fmt.Sprintf("escalation: %d unparsable deliveries", r.sink.bad))
	}
	if r.sink.collided > 0 {
		out = append(out, fmt.Sprintf("escalation: %d pages carried another page's Idempotency-Key (a receiver dropping processed keys loses them)", r.sink.collided))
	}
	if r.createErrs > 0 {
		out = append(out, fmt.Sprintf("escalation: %d incidents could not be created", r.createErrs))
	}
	return out
}

// printControllerMetrics says where a page's time went inside the controller: its
// reconciles, the wait in its work queue, its client's throttling and requests.
func printControllerMetrics(w io.Writer, m measure.Metrics, incidents int) {
	if len(m) == 0 {
		return
	}
	inc := `controller="incident"`
	fmt.Fprintf(w, "  controller: %d reconciles (%d errors), reconcile p50 %s p99 %s; work-queue wait p99 %s\n",
		int(m.Sum("controller_runtime_reconcile_total", inc)), int(m.Sum("controller_runtime_reconcile_errors_total", inc)),
		measure.MS(m.HistQuantile(0.5, "controller_runtime_reconcile_time_seconds", inc)),
		measure.MS(m.HistQuantile(0.99, "controller_runtime_reconcile_time_seconds", inc)),
		measure.MS(m.HistQuantile(0.99, "workqueue_queue_duration_seconds", `name="incident"`)))
	var reqs []string
	total := 0.0
	for _, verb := range []string{"GET", "LIST", "POST", "PUT", "PATCH", "DELETE"} {
		n := m.Sum("rest_client_requests_total", `method="`+verb+`"`)
		total += n
		if n > 0 {
			reqs = append(reqs, fmt.Sprintf("%s %d", verb, int(n)))
		}
	}
	per := ""
	if incidents > 0 {
		per = fmt.Sprintf(" (%.1f per incident)", total/float64(incidents))
	}
	fmt.Fprintf(w, "  API requests: %s%s; request p99 %s; client throttling mean %s p99 %s\n", strings.Join(reqs, ", "), per,
		measure.MS(m.HistQuantile(0.99, "rest_client_request_duration_seconds")),
		measure.MS(m.HistMean("rest_client_rate_limiter_duration_seconds")),
		measure.MS(m.HistQuantile(0.99, "rest_client_rate_limiter_duration_seconds")))
}

func printCPU(w io.Writer, u cpuUse) {
	if u.wall <= 0 {
		return
	}
	pct := func(d time.Duration) string { return fmt.Sprintf("%.0f%%", 100*float64(d)/float64(u.wall)) }
	fmt.Fprintf(w, "  CPU (of one core) over %s: controller %s, kube-apiserver %s, etcd %s, harness %s, rest of the machine %s (machine busy %s of %d cores; stolen by the host %s)\n",
		u.wall.Round(time.Second), pct(u.controller), pct(u.apiserver), pct(u.etcd), pct(u.harness), pct(u.others), pct(u.machine), runtime.NumCPU(), pct(u.steal))
}
