// Command intake is the load harness of issue 5: how many alerts a second Klaxon's
// intake takes in Alertmanager webhook batches, mostly repeats, without a duplicate
// incident or a lost count and in bounded memory; how fast a new alert becomes a page;
// and the same streams through a real Alertmanager v0.28.1 to the same sink, side by
// side.
//
// It starts kube-apiserver and etcd (internal/testenv), an HTTP sink, Klaxon as a
// child process (this binary with the first argument "controller": the reconcilers
// and the HTTP server with intake) and Alertmanager (hack/install-alertmanager.sh). It
// prints a report and exits non-zero when a duplicate incident, a lost count or a lost
// page shows up.
//
//	go run ./test/load/intake                                  # the full run
//	go run ./test/load/intake -alerts 20000 -groups 100 -duration 10s
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// Alert name prefixes: the ingest stream's, and the first-page phase's per peer.
const (
	ingestPrefix = "load-"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == controllerRole {
		if err := runController(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(os.Args[1:]))
}

// run runs both phases and returns the exit code: 0 when every correctness invariant
// held (targets missed are reported, not failed: the machine is shared and its
// figures are noisy), 1 when one broke, 2 when the harness failed.
func run(args []string) int {
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		return 2
	}
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "intake: %s: %v\n", what, err)
		return 2
	}

	h, err := startHarness(o)
	if h != nil {
		defer h.stop()
	}
	if err != nil {
		return fail("starting the control plane", err)
	}
	c, err := startController(h)
	if err != nil {
		return fail("starting the controller", err)
	}
	defer c.stop()
	if err := h.createTenant(ctx); err != nil {
		return fail("creating the tenant", err)
	}
	var am *alertmanagerProc
	if !o.skipAM {
		if am, err = h.startAlertmanager(ctx); err != nil {
			return fail("starting Alertmanager", err)
		}
		defer am.stop()
	}
	printHeader(os.Stdout, o)

	// Phase 1: the same stream through each peer, one after the other.
	s := newStream(ingestPrefix, o.alerts, o.batch, o.duplicates, o.groups, time.Now().UTC().Truncate(time.Second))
	idle, cancelIdle := context.WithTimeout(ctx, time.Minute)
	_ = measure.WaitIdle(idle, c.Scrape, time.Second)
	cancelIdle()
	a0, m0 := h.apiserverMetrics(), c.Scrape()
	var profiled []<-chan struct{}
	if o.profile > 0 {
		profiled = append(profiled, c.Profile(o.profile, filepath.Join(o.out, "klaxon-ingest.pprof")),
			h.apiserverProfile(o.profile, filepath.Join(o.out, "apiserver-ingest.pprof")))
	}
	ks := s // what Klaxon is sent
	if o.perGroup {
		ks = s.perGroup(o.batch)
	}
	k, err := h.ingest(ctx, h.klaxonTarget(c), ks)
	if err != nil {
		return fail("ingest through Klaxon", err)
	}
	for _, done := range profiled {
		<-done
	}
	a1 := h.apiserverMetrics().Minus(a0)
	k.writes = measure.WritesByResource(a1)
	k.conflicts = a1.Sum("apiserver_request_total", `code="409"`, `resource="incidents"`)
	k.reads = a1.Sum("apiserver_request_total", `verb="GET"`, `resource="incidents"`)
	for i, q := range []float64{0.5, 0.99} {
		k.createLatency[i] = a1.HistQuantile(q, "apiserver_request_duration_seconds", `verb="POST"`, `resource="incidents"`)
	}
	k.intakeWrites = intakeWrites(c.Scrape().Minus(m0))
	var rep *stream
	var kr, ar *ingestResult
	sent := s.sent
	if o.repeats > 0 {
		rep = repeats(s, o.repeats, o.batch)
		sent += rep.sent
		krep := rep
		if o.perGroup {
			krep = rep.perGroup(o.batch)
		}
		if kr, err = h.ingest(ctx, h.klaxonTarget(c), krep); err != nil {
			return fail("repeats through Klaxon", err)
		}
	}
	chk, err := h.checkIncidents(ctx, s, sent)
	if err != nil {
		return fail("checking the incidents", err)
	}
	var a *ingestResult
	if am != nil {
		if a, err = h.ingest(ctx, am.target(o.senders), s); err != nil {
			return fail("ingest through Alertmanager", err)
		}
		if rep != nil {
			if ar, err = h.ingest(ctx, am.target(o.senders), rep); err != nil {
				return fail("repeats through Alertmanager", err)
			}
		}
	}
	printIngest(os.Stdout, o, k, a, chk)
	if kr != nil {
		printRepeats(os.Stdout, kr, ar)
	}
	if am != nil {
		if n, g, err := am.counts(ctx); err == nil {
			fmt.Printf("  Alertmanager holds %d alerts in %d groups\n", n, g)
		}
	}

	if o.intakeOnly {
		fmt.Printf("\nintake only: no reconcilers, nothing paged, no first-page phase\nlogs, kubeconfig and Alertmanager's data: %s\n", o.out)
		return measure.Verdict(chk.broken(), "")
	}

	// Phase 2: new alerts at a steady rate, each paged or notified once, once the
	// controller is done with phase 1's incidents.
	idle, cancelIdle = context.WithTimeout(ctx, 2*time.Minute)
	_ = measure.WaitIdle(idle, c.Scrape, 2*time.Second)
	cancelIdle()
	m0, a0 = c.Scrape(), h.apiserverMetrics()
	kf, err := h.firstPage(ctx, h.klaxonTarget(c), "page-klaxon-")
	if err != nil {
		return fail("first page through Klaxon", err)
	}
	kf.metrics, kf.writes = c.Scrape().Minus(m0), measure.WritesByResource(h.apiserverMetrics().Minus(a0))
	var af *firstPageResult
	if am != nil {
		if af, err = h.firstPage(ctx, am.target(4), "page-alertmanager-"); err != nil {
			return fail("first notification through Alertmanager", err)
		}
	}
	printFirstPage(os.Stdout, o, kf, af)

	broken := chk.broken()
	if k.failed > 0 {
		broken = append(broken, fmt.Sprintf("intake: %d batches refused for good", k.failed))
	}
	if kr != nil && kr.failed > 0 {
		broken = append(broken, fmt.Sprintf("intake: %d batches of repeats refused for good", kr.failed))
	}
	if k.notified < k.groups {
		broken = append(broken, fmt.Sprintf("intake: %d of %d new groups never paged", k.groups-k.notified, k.groups))
	}
	if n := kf.missing + kf.failures; n > 0 {
		broken = append(broken, fmt.Sprintf("first page: %d alerts never paged (%d refused)", n, kf.failures))
	}
	if n := h.sink.repeatedPages(); n > 0 {
		broken = append(broken, fmt.Sprintf("%d incidents paged twice", n))
	}
	if n := h.sink.unparsable(); n > 0 {
		broken = append(broken, fmt.Sprintf("%d deliveries at the sink did not parse", n))
	}
	fmt.Printf("\nlogs, kubeconfig and Alertmanager's data: %s\n", o.out)
	return measure.Verdict(broken, "OK: no duplicate incident, no lost count, no lost or repeated page.")
}
