package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Benchmarks of triage. Each iteration decides a different incident from a
// pool built beforehand, and each reports its p50 and p99 latency and its
// throughput besides ns/op. Run them on one core:
//
//	go test -run='^$' -bench=. -cpu 1 ./internal/policy/

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

// latencies records each iteration's duration and reports p50, p99 and
// decisions per second.
type latencies []time.Duration

func (l latencies) report(b *testing.B, elapsed time.Duration) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	pct := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
	b.ReportMetric(float64(len(l))/elapsed.Seconds(), "decisions/s")
}

func benchTriage(b *testing.B, e *Engine, inputs []TriageInput) {
	ctx := context.Background()
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if _, _, err := e.Triage(ctx, inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed)
}

// BenchmarkTriageDefaults decides with the built-in library alone.
func BenchmarkTriageDefaults(b *testing.B) {
	e := newBenchEngine(b)
	benchTriage(b, e, benchInputs(b, "acme"))
}

// BenchmarkTriageSynthetic decides with the built-in library and the
// 100-rule fixture as the tenant's policy.
func BenchmarkTriageSynthetic(b *testing.B) {
	e := newBenchEngine(b)
	mustUpsert(b, e, benchFixture(b, "acme"))
	benchTriage(b, e, benchInputs(b, "acme"))
}

// BenchmarkTriageLayered decides with all three layers: the built-in
// library, a provider guardrail and the 100-rule fixture as the tenant's.
func BenchmarkTriageLayered(b *testing.B) {
	e := newBenchEngine(b)
	mustUpsert(b, e, benchProvider)
	mustUpsert(b, e, benchFixture(b, "acme"))
	benchTriage(b, e, benchInputs(b, "acme"))
}

// BenchmarkSyntheticPolicyOnly evaluates the fixture's prepared query alone,
// without the built-in library, the input's encoding or the record: the
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
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		in := inputs[i%len(inputs)]
		if _, err := e.evalUnit(ctx, u, pi, withDecision(encoded[i%len(inputs)], newMerged(pi)), in.Now, cc); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed)
}

func newBenchEngine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := NewEngine(Options{Timeout: time.Second})
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
