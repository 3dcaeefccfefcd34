package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Benchmarks of triage. Each iteration decides the next incident of a pool of
// 1,000 distinct ones built beforehand; each benchmark reports p50 and p99
// latency by the wall clock and on the CPU, and throughput by each, besides
// ns/op. Run them on one core:
//
//	go test -run='^$' -bench=. -cpu 1 ./internal/policy/
//
// On a machine other processes share, the wall clock includes waiting for
// the CPU; the cpu-* figures do not.
//
// Measured on 2026-11-27, 14:13 UTC, at 56b5184 (plan evaluator: object
// scans, array literals and the builtins' cache without allocations of
// their own, no memo of lookups by source and key, native min and max;
// klaxon.keywords' walk and the output checks without closures), with
//
//	go test -c -o /tmp/policy-h.test ./internal/policy/ && cd internal/policy && \
//		flock /tmp/klaxon-bench.lock /tmp/policy-h.test -test.run='^$' \
//		-test.bench='Triage|SyntheticPolicyOnly' -test.cpu 1 -test.benchtime=2000x -test.benchmem
//
// ten runs of it interleaved with ten of b20a881's binary, on the shared
// 2-core AMD EPYC VM while other engineers built and ran load tests (load
// average 2.7-3.2); wall clock, the ten runs' range:
//
//	benchmark            p50 µs    p99 µs    decisions/s     B/op    allocs/op
//	defaults/uncached    36-54     178-252   12,679-20,232   7,826   99
//	synthetic/uncached   66-123    293-824   5,325-10,163    11,263  160
//	layered/uncached     79-139    298-486   5,308-9,216     12,469  185
//	SyntheticPolicyOnly  34-65     95-196    10,977-25,458   3,104   59
//	defaults/cached      9-17      56-160    37,932-78,083   2,902   14
//	synthetic/cached     13-19     59-144    34,159-58,342   3,220   16
//	layered/cached       15-29     76-186    21,643-44,735   4,586   47
//
// b20a881 in the same ten slots: defaults/uncached 29-63 / 192-309 µs,
// 7,976 B, 105 allocs; synthetic/uncached 71-140 / 286-815 µs, 4,946-10,088
// decisions/s, 11,731 B, 186 allocs; layered/uncached 81-139 / 275-819 µs,
// 13,032 B, 215 allocs; SyntheticPolicyOnly 37-69 / 110-232 µs, 3,422 B, 78
// allocs. synthetic/uncached's p99 was over 500 µs in 2 of the 10 new runs
// (545, 824; the others 293-495) and in 2 of the old (595, 815): the spread
// is the machine's, and these changes (4% fewer bytes, 14% fewer objects)
// do not remove it. Against issue 3's targets (p50 <= 150 µs,
// p99 <= 500 µs, >= 5,000 decisions/s on one core): defaults meets all three
// in every run; synthetic meets p50 and throughput in every run and p99 in
// most (8 of 10); layered met p99 in all ten new runs, 6 of 10 old ones.
//
// The tail is the garbage collector: with 6-7 MB live, a collection every
// 6-7 MB allocated (GODEBUG=gctrace=1: 4-5 while 2,000 synthetic decisions
// run), its mark phase spanning 14-32 ms of wall clock on the one core for
// 4-6 ms of its own CPU; the decisions in that window pay mark assists in
// proportion to what they allocate, and are the p99. What a synthetic
// decision still allocates (memory profile, 11.3 KB): the input's spec as
// AST 3.5 KB (OPA's objects, a map each; a labels object of nine members
// outgrows one map group); OPA's sets for partial sets, unions and
// comprehensions 2.4 KB, about eight per decision at 250-300 B each (the
// set, its map and group: ast.Set cannot be implemented outside OPA's
// package, since OPA's own Compare and Union assert its type); the input's
// JSON for the record 1.1 KB; terms 1 KB; arrays, objects and builtins'
// results about 1.5 KB; the record's DecidedBy map, the merged decision and
// the summary about 0.8 KB. Both policies read the whole spec (each passes
// it, or its source, to a builtin), so building only the parts they read
// would save nothing here.

const benchPoolSize = 1000

// benchFixture loads the synthetic 100-rule routing policy and its service map.
func benchFixture(tb testing.TB, namespace string) Source {
	tb.Helper()
	rego, err := os.ReadFile("testdata/bench/triage.rego")
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile("testdata/bench/services.json")
	if err != nil {
		tb.Fatal(err)
	}
	return Source{Namespace: namespace, Name: "routing", Modules: map[string]string{"triage.rego": string(rego)}, Data: data}
}

// benchProvider is a provider's guardrail: data breaches are SEV1 and go to
// the provider's incident commanders, enforced.
var benchProvider = Source{Namespace: v1alpha1.DefaultSystemNamespace, Name: "guardrails", Modules: map[string]string{
	"triage.rego": `package klaxon.triage

enforced contains "severity" if input.decision.category == "data-breach"

severity := "SEV1" if input.decision.category == "data-breach"

stakeholder_groups := input.decision.stakeholder_groups | {"klaxon-system/incident-commanders"} if {
	input.decision.severity == "SEV1"
}
`}}

// benchInputs builds a pool of realistic, distinct triage inputs: alerts from
// a Prometheus-like source over the fixture's services, and hand-written
// incidents.
func benchInputs(tb testing.TB, tenant string) []TriageInput {
	tb.Helper()
	raw, err := os.ReadFile("testdata/bench/services.json")
	if err != nil {
		tb.Fatal(err)
	}
	var cfg struct {
		Services map[string]json.RawMessage `json:"services"`
		Apps     map[string]string          `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		tb.Fatal(err)
	}
	services := slices.Sorted(func(yield func(string) bool) {
		for k := range cfg.Services {
			if !yield(k) {
				return
			}
		}
	})
	apps := slices.Sorted(func(yield func(string) bool) {
		for k := range cfg.Apps {
			if !yield(k) {
				return
			}
		}
	})
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	alertnames := []string{"KubeAPIDown", "EtcdNoLeader", "PaymentsGatewayDown", "DatabaseUnavailable",
		"KubeNodeNotReady", "CertificateExpired", "QueueBacklogCritical", "KubePodCrashLooping",
		"HighErrorRate", "CertificateExpiringSoon", "KubeHpaMaxedOut", "DiskSpaceLow", "Watchdog",
		"HighRequestLatency", "TargetDown", "NodeFilesystemWarning", "FalcoAlert", "SuspiciousLogin",
		"ServiceLatencyP99High", "BackupFailed", "ReplicationLag", "ApdexLow", "QueueDepthWarning"}
	severities := []string{"critical", "high", "warning", "low", "info", "page", "P2", "", ""}
	symptoms := []string{"is down", "returns 5xx errors", "high latency", "slow responses", "outage in checkout",
		"certificate expiring", "disk full on node", "pods in CrashLoopBackOff", "timeouts talking to the database",
		"suspected data breach", "ransomware signature detected", "unauthorized access from unknown IP",
		"queue backlog growing", "replication lag above threshold", "degraded performance"}
	regions := []string{"eu-west", "eu-central", "us-east", "ap-south", ""}
	envs := []string{"prod", "prod", "prod", "staging", "dev"}
	sentences := []string{
		"Customers report intermittent failures when paying with a credit card.",
		"The on-call engineer noticed elevated error rates after the last deploy.",
		"Synthetic checks from three regions fail to reach the login page.",
		"No customer impact is known yet; the alert fired during a maintenance window.",
		"Grafana shows p99 latency above 2s for the last 15 minutes.",
		"The security team flagged outbound traffic to an unknown host; possible exfiltration.",
		"Autoscaling reached its maximum and requests are being throttled.",
		"The nightly batch did not finish and downstream reports are stale.",
	}
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	inputs := make([]TriageInput, benchPoolSize)
	for i := range inputs {
		svc := pick(services)
		labels := map[string]string{
			"alertname": pick(alertnames),
			"namespace": "svc-" + svc,
			"job":       "kubernetes-pods",
			"env":       pick(envs),
			"cluster":   fmt.Sprintf("prod-%02d", r.IntN(12)),
		}
		switch r.IntN(4) {
		case 0:
			labels["service"] = svc
		case 1:
			labels["app"] = pick(apps)
		case 2:
			labels["instance"] = fmt.Sprintf("%s-db-%d.prod.internal:9100", strings.Split(svc, "-")[0], r.IntN(9))
		}
		if s := pick(severities); s != "" {
			labels["severity"] = s
		}
		if reg := pick(regions); reg != "" {
			labels["region"] = reg
		}
		var desc []string
		for range 1 + r.IntN(3) {
			desc = append(desc, pick(sentences))
		}
		triggered := metav1.NewTime(base.Add(time.Duration(i) * 7 * time.Minute))
		inc := &v1alpha1.Incident{
			TypeMeta: metav1.TypeMeta{APIVersion: "klaxon.dev/v1alpha1", Kind: "Incident"},
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("inc-%04d", i), Namespace: tenant, UID: "0b1f7c5e-2a3d-4c5b-9e8f-7a6b5c4d3e2f",
				ResourceVersion: fmt.Sprint(1000 + i), Generation: 1, CreationTimestamp: triggered,
				Labels: map[string]string{"klaxon.dev/source": "alertmanager"},
			},
			Spec: v1alpha1.IncidentSpec{
				Title:       fmt.Sprintf("%s %s", svc, pick(symptoms)),
				Description: strings.Join(desc, " "),
				Source: &v1alpha1.IncidentSource{
					Kind: v1alpha1.SourceAlertSource, Name: "alertmanager", Labels: labels,
					Annotations: map[string]string{
						"summary":     fmt.Sprintf("%s on %s", labels["alertname"], svc),
						"runbook_url": "https://runbooks.example.com/" + labels["alertname"],
					},
					GroupKey: fmt.Sprintf("{}:{alertname=%q}", labels["alertname"]),
				},
				State: v1alpha1.StateTriggered, Stage: v1alpha1.StageTriage,
			},
			Status: v1alpha1.IncidentStatus{
				ObservedGeneration: 1, TriggeredAt: &triggered,
				Timeline: []v1alpha1.TimelineEntry{{Time: triggered, Type: "Triggered", Actor: "alertmanager", Message: "opened by alert " + labels["alertname"]}},
				Alerts:   &v1alpha1.AlertSummary{Count: 1, FirstSeen: &triggered, LastSeen: &triggered, Fingerprints: []string{fmt.Sprintf("%016x", r.Uint64())}},
			},
		}
		if r.IntN(5) == 0 {
			inc.Spec.Customer = "globex"
		}
		inputs[i] = TriageInput{Input{Incident: inc, Tenant: tenant, Now: triggered.Time.Add(time.Duration(r.IntN(3600)) * time.Second)}}
	}
	return inputs
}

// sample is one iteration's wall-clock and on-CPU time.
type sample struct{ wall, cpu time.Duration }

// processCPU is the CPU time the whole process has used: with -cpu 1 that is
// this benchmark and the garbage collector working for it, and not the time
// spent waiting for a CPU another process holds.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs decide once per iteration, each time with the next input of
// the pool, and reports p50 and p99 of wall-clock and on-CPU latency and the
// throughput by each clock.
func measure(b *testing.B, n int, decide func(i int) error) {
	samples := make([]sample, 0, 1<<14)
	b.ReportAllocs()
	b.ResetTimer()
	wall0, cpu0 := time.Now(), processCPU()
	for i := 0; b.Loop(); i++ {
		t0, c0 := time.Now(), processCPU()
		if err := decide(i % n); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, sample{time.Since(t0), processCPU() - c0})
	}
	wall, cpu := time.Since(wall0), processCPU()-cpu0
	b.StopTimer()
	if len(samples) == 0 {
		return
	}
	pct := func(get func(sample) time.Duration, p float64) float64 {
		xs := make([]time.Duration, len(samples))
		for i, s := range samples {
			xs[i] = get(s)
		}
		slices.Sort(xs)
		return float64(xs[int(p*float64(len(xs)-1))].Nanoseconds()) / 1e3
	}
	wallOf, cpuOf := func(s sample) time.Duration { return s.wall }, func(s sample) time.Duration { return s.cpu }
	b.ReportMetric(pct(wallOf, 0.50), "p50-us")
	b.ReportMetric(pct(wallOf, 0.99), "p99-us")
	b.ReportMetric(pct(cpuOf, 0.50), "cpu-p50-us")
	b.ReportMetric(pct(cpuOf, 0.99), "cpu-p99-us")
	b.ReportMetric(float64(len(samples))/wall.Seconds(), "decisions/s")
	b.ReportMetric(float64(len(samples))/cpu.Seconds(), "decisions/cpu-s")
}

// BenchmarkTriage decides triage for a pool of distinct incidents with the
// built-in library alone, with the 100-rule fixture as the tenant's policy,
// and with all three layers (a provider guardrail too). "uncached"
// evaluates every policy every time; "cached" has seen every input once
// before, as when triage runs again for an unchanged incident.
func BenchmarkTriage(b *testing.B) {
	setups := []struct {
		name     string
		policies func(testing.TB) []Source
	}{
		{"defaults", func(testing.TB) []Source { return nil }},
		{"synthetic", func(tb testing.TB) []Source { return []Source{benchFixture(tb, "acme")} }},
		{"layered", func(tb testing.TB) []Source { return []Source{benchProvider, benchFixture(tb, "acme")} }},
	}
	inputs := benchInputs(b, "acme")
	for _, setup := range setups {
		for _, cached := range []bool{false, true} {
			name := setup.name + "/uncached"
			entries := -1
			if cached {
				name, entries = setup.name+"/cached", 4*benchPoolSize
			}
			b.Run(name, func(b *testing.B) {
				e, err := NewEngine(Options{Timeout: time.Second, CacheEntries: entries})
				if err != nil {
					b.Fatal(err)
				}
				for _, src := range setup.policies(b) {
					mustUpsert(b, e, src)
				}
				ctx := context.Background()
				if cached {
					for _, in := range inputs {
						if _, _, err := e.Triage(ctx, in); err != nil {
							b.Fatal(err)
						}
					}
				}
				measure(b, len(inputs), func(i int) error {
					_, _, err := e.Triage(ctx, inputs[i])
					return err
				})
			})
		}
	}
}

// BenchmarkSyntheticPolicyOnly evaluates the fixture's prepared query alone:
// no built-in layer, no input encoding, no record, no cache. It is the
// policy's own cost.
func BenchmarkSyntheticPolicyOnly(b *testing.B) {
	e := newBenchEngine(b)
	u, problems := compileUnit(context.Background(), benchFixture(b, "acme"))
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	inputs := benchInputs(b, "acme")
	encoded := make([]ast.Object, len(inputs))
	for i := range inputs {
		in := inputs[i]
		if err := in.validate(); err != nil {
			b.Fatal(err)
		}
		_, obj, err := encodeInput(&in)
		if err != nil {
			b.Fatal(err)
		}
		encoded[i] = obj
	}
	pi := PointTriage.index()
	cc := &checkContext{tenant: "acme", system: e.system, point: PointTriage}
	ctx := context.Background()
	measure(b, len(inputs), func(i int) error {
		_, err := e.evalQuery(ctx, u, pi, encoded[i], inputs[i].Now, cc)
		return err
	})
}

func newBenchEngine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := NewEngine(Options{Timeout: time.Second, CacheEntries: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func mustUpsert(tb testing.TB, e *Engine, src Source) string {
	tb.Helper()
	rev, problems := e.Upsert(context.Background(), src)
	if len(problems) > 0 {
		tb.Fatalf("upsert %s: %v", src.Key(), problems)
	}
	return rev
}
