package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klaxon-ops/klaxon/internal/testenv"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// Targets of issue 5.
const (
	targetRate       = 20000.0
	targetFirstP50   = 20 * time.Millisecond
	targetFirstP99   = 150 * time.Millisecond
	targetsReference = "issue 5, Performance"
)

func printHeader(w io.Writer, o options) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "klaxon intake load harness — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "command: %s\n", strings.Join(append([]string{"go run ./test/load/intake"}, os.Args[1:]...), " "))
	fmt.Fprintf(w, "machine: %d cores, load average %s; %s, kube-apiserver %s (etcd without fsync); controller --kube-api-qps/burst %s, --intake-kube-api-qps/burst %s; targets from %s\n",
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), runtime.Version(), testenv.K8sVersion, o.qps, o.intakeQPS, targetsReference)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// ratio is a/b, "n/a" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sideBySide prints rows of Klaxon's and Alertmanager's figures and their ratio.
type sideBySide struct{ tw *tabwriter.Writer }

func newSideBySide(w io.Writer) sideBySide {
	t := sideBySide{tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)}
	fmt.Fprintln(t.tw, "\tKlaxon\tAlertmanager\tKlaxon/Alertmanager\t")
	return t
}

func (t sideBySide) row(name, k, a, r string) {
	fmt.Fprintf(t.tw, "  %s\t%s\t%s\t%s\t\n", name, k, a, r)
}
func (t sideBySide) flush() { _ = t.tw.Flush() }

func printIngest(w io.Writer, o options, k, a *ingestResult, chk *incidentCheck) {
	fmt.Fprintf(w, "\n== 1. ingest: %d alerts in batches of %d, %.0f%% repeats, %d new alerts in %d groups, %d senders ==\n",
		k.alerts, o.batch, 100*o.duplicates, chk.distinct, chk.expected, o.senders)
	if a == nil {
		a = &ingestResult{}
	}
	if o.perGroup {
		fmt.Fprintf(w, "Klaxon's %d requests each carry one group's alerts, as Alertmanager delivers them (-per-group); Alertmanager's %d carry mixed groups, as Prometheus posts them\n",
			k.requests, a.requests)
	}
	t := newSideBySide(w)
	t.row("alerts/s", fmt.Sprintf("%.0f", k.rate()), fmt.Sprintf("%.0f", a.rate()), ratio(k.rate(), a.rate()))
	t.row("wall", k.wall.Round(time.Millisecond).String(), a.wall.Round(time.Millisecond).String(), ratio(float64(k.wall), float64(a.wall)))
	for _, q := range []struct {
		name string
		q    float64
	}{{"request p50", 0.5}, {"request p99", 0.99}} {
		kv, av := k.latency.Quantile(q.q), a.latency.Quantile(q.q)
		t.row(q.name, measure.MS(kv), measure.MS(av), ratio(msf(kv), msf(av)))
	}
	t.row("retried (5xx, 429)", fmt.Sprint(k.retries), fmt.Sprint(a.retries), "")
	t.row("refused for good", fmt.Sprint(k.failed), fmt.Sprint(a.failed), "")
	cpu := func(d, wall time.Duration) string {
		if wall <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f%% of a core", 100*float64(d)/float64(wall))
	}
	t.row("CPU, receiving process", cpu(k.cpu, k.wall), cpu(a.cpu, a.wall), ratio(float64(k.cpu), float64(a.cpu)))
	t.row("CPU, kube-apiserver + etcd", cpu(k.backend, k.wall), cpu(a.backend, a.wall), "")
	t.row("CPU, whole machine (shared)", cpu(k.machine, k.wall), cpu(a.machine, a.wall), "")
	t.row("CPU stolen by the host", cpu(k.steal, k.wall), cpu(a.steal, a.wall), "")
	t.row("VmRSS before", measure.MiB(k.rssBefore), measure.MiB(a.rssBefore), ratio(float64(k.rssBefore), float64(a.rssBefore)))
	for q, label := range []string{"25%", "50%", "75%", "100%"} {
		t.row("VmRSS at "+label+" of the stream", measure.MiB(k.rssAt[q]), measure.MiB(a.rssAt[q]), ratio(float64(k.rssAt[q]), float64(a.rssAt[q])))
	}
	t.row("VmRSS max", measure.MiB(k.rssMax), measure.MiB(a.rssMax), ratio(float64(k.rssMax), float64(a.rssMax)))
	t.row("new groups paged/notified", fmt.Sprintf("%d/%d", k.notified, k.groups), fmt.Sprintf("%d/%d", a.notified, a.groups), "")
	t.row("the last of them, after the start", measure.MS(k.lastNotified), measure.MS(a.lastNotified), ratio(float64(k.lastNotified), float64(a.lastNotified)))
	t.flush()
	for _, e := range append(k.errors, a.errors...) {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	fmt.Fprintf(w, "  Klaxon (after the repeats below too): %d incidents for %d groups (%d expected), duplicate incidents %d; status.alerts.count adds up to %d of %d alerts accepted (after %s); %d fingerprints of %d distinct alerts\n",
		chk.incidents, chk.groups, chk.expected, chk.duplicates, chk.counted, chk.sent, chk.countWait.Round(100*time.Millisecond), chk.fingerprints, chk.distinct)
	fmt.Fprintf(w, "  kube-apiserver writes during Klaxon's run, per 1,000 alerts: %s\n", measure.PerIncident(k.writes, k.alerts/1000))
	if len(k.intakeWrites) > 0 {
		ops := slices.Sorted(maps.Keys(k.intakeWrites))
		parts := make([]string, 0, len(ops))
		for _, op := range ops {
			parts = append(parts, fmt.Sprintf("%s %.2f", op, k.intakeWrites[op]*1000/float64(k.alerts)))
		}
		fmt.Fprintf(w, "  of which intake's own (klaxon_intake_incident_writes_total), per 1,000 alerts: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "  incident writes refused with a conflict (409), per 1,000 alerts: %.2f; GETs of an incident: %.2f; kube-apiserver's incident creates p50 %s, p99 %s\n",
		k.conflicts*1000/float64(k.alerts), k.reads*1000/float64(k.alerts), measure.MS(k.createLatency[0]), measure.MS(k.createLatency[1]))
	fmt.Fprintf(w, "  IncidentDecisions of these incidents: %d holding %d decisions, of which %d not referred to by status (taken again after a status write lost a race)\n",
		chk.records, chk.decisions, chk.orphans)
	fmt.Fprintf(w, "  target >= %.0f alerts/s: %s; zero duplicate incidents: %s\n", targetRate, verdict(k.rate() >= targetRate && k.failed == 0),
		verdict(chk.duplicates == 0 && chk.incidents > 0))
}

func printFirstPage(w io.Writer, o options, k, a *firstPageResult) {
	fmt.Fprintf(w, "\n== 2. alert received -> first page (Klaxon) / notification (Alertmanager) at the sink: %g new alerts/s for %s, one per request ==\n",
		o.rate, o.duration)
	if a == nil {
		a = &firstPageResult{}
	}
	t := newSideBySide(w)
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1}} {
		kv, av := k.latency.Quantile(q.q), a.latency.Quantile(q.q)
		t.row(q.name, measure.MS(kv), measure.MS(av), ratio(msf(kv), msf(av)))
	}
	kv, av := k.request.Quantile(0.5), a.request.Quantile(0.5)
	t.row("request alone p50", measure.MS(kv), measure.MS(av), ratio(msf(kv), msf(av)))
	t.row("sent / lost / failed", fmt.Sprintf("%d/%d/%d", k.sent, k.missing, k.failures), fmt.Sprintf("%d/%d/%d", a.sent, a.missing, a.failures), "")
	t.flush()
	if m := k.metrics; len(m) > 0 {
		inc := `controller="incident"`
		fmt.Fprintf(w, "  Klaxon's incident controller: %d reconciles (%d requeued after a conflict or a wait, %d errors), reconcile p50 %s p99 %s; work-queue wait p99 %s\n",
			int(m.Sum("controller_runtime_reconcile_total", inc)), int(m.Sum("controller_runtime_reconcile_total", inc, `result="requeue_after"`)),
			int(m.Sum("controller_runtime_reconcile_errors_total", inc)),
			measure.MS(m.HistQuantile(0.5, "controller_runtime_reconcile_time_seconds", inc)),
			measure.MS(m.HistQuantile(0.99, "controller_runtime_reconcile_time_seconds", inc)),
			measure.MS(m.HistQuantile(0.99, "workqueue_queue_duration_seconds", `name="incident"`)))
	}
	fmt.Fprintf(w, "  kube-apiserver writes during Klaxon's run, per alert (warm-up included): %s\n", measure.PerIncident(k.writes, len(k.latency)+k.missing+k.failures))
	p50, p99 := k.latency.Quantile(0.5), k.latency.Quantile(0.99)
	fmt.Fprintf(w, "  target p50 <= %s: %s; p99 <= %s: %s\n", measure.MS(targetFirstP50), verdict(p50 <= targetFirstP50 && len(k.latency) > 0),
		measure.MS(targetFirstP99), verdict(p99 <= targetFirstP99 && len(k.latency) > 0))
}

// printRepeats reports the repeats sent after the stream, every group already open.
func printRepeats(w io.Writer, k, a *ingestResult) {
	fmt.Fprintf(w, "\n   then %d more alerts, every one a repeat (nothing new to persist; counts coalesced):\n", k.alerts)
	if a == nil {
		a = &ingestResult{}
	}
	t := newSideBySide(w)
	t.row("alerts/s", fmt.Sprintf("%.0f", k.rate()), fmt.Sprintf("%.0f", a.rate()), ratio(k.rate(), a.rate()))
	for _, q := range []struct {
		name string
		q    float64
	}{{"request p50", 0.5}, {"request p99", 0.99}} {
		kv, av := k.latency.Quantile(q.q), a.latency.Quantile(q.q)
		t.row(q.name, measure.MS(kv), measure.MS(av), ratio(msf(kv), msf(av)))
	}
	t.row("retried / refused for good", fmt.Sprintf("%d/%d", k.retries, k.failed), fmt.Sprintf("%d/%d", a.retries, a.failed), "")
	cpu := func(d, wall time.Duration) string {
		if wall <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f%% of a core", 100*float64(d)/float64(wall))
	}
	t.row("CPU, receiving process", cpu(k.cpu, k.wall), cpu(a.cpu, a.wall), ratio(float64(k.cpu), float64(a.cpu)))
	t.row("CPU, kube-apiserver + etcd", cpu(k.backend, k.wall), cpu(a.backend, a.wall), "")
	t.row("VmRSS before", measure.MiB(k.rssBefore), measure.MiB(a.rssBefore), ratio(float64(k.rssBefore), float64(a.rssBefore)))
	for q, label := range []string{"25%", "50%", "75%", "100%"} {
		t.row("VmRSS at "+label+" of the repeats", measure.MiB(k.rssAt[q]), measure.MiB(a.rssAt[q]), ratio(float64(k.rssAt[q]), float64(a.rssAt[q])))
	}
	t.row("VmRSS max", measure.MiB(k.rssMax), measure.MiB(a.rssMax), ratio(float64(k.rssMax), float64(a.rssMax)))
	t.flush()
	if k.rate() >= targetRate {
		fmt.Fprintf(w, "  repeats alone: Klaxon above %.0f alerts/s\n", targetRate)
	}
}

// intakeWrites reads intake's incident writes by operation from the controller's
// metrics (a difference of two scrapes).
func intakeWrites(m measure.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, op := range []string{"create", "update", "pending", "status"} {
		if n := m.Sum("klaxon_intake_incident_writes_total", `operation="`+op+`"`); n > 0 {
			out[op] = n
		}
	}
	return out
}
