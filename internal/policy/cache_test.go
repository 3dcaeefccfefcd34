package policy

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestCacheAgreesWithEvaluation decides the benchmark pool with and without
// the cache, twice over, and wants the same decisions every time.
func TestCacheAgreesWithEvaluation(t *testing.T) {
	cached, err := NewEngine(Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	uncached, err := NewEngine(Options{Timeout: 2 * time.Second, CacheEntries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Engine{cached, uncached} {
		upsert(t, e, benchProvider)
		upsert(t, e, benchFixture(t, "acme"))
	}
	if fixture := cached.state.Load().tenants["acme"][0]; !cached.builtin.cacheable[0] || !fixture.cacheable[0] {
		t.Fatalf("the built-in triage (%v %v) and the fixture (%v %v) should be cacheable",
			cached.builtin.cacheable[0], cached.builtin.inputPaths[0], fixture.cacheable[0], fixture.inputPaths[0])
	}
	inputs := benchInputs(t, "acme")[:200]
	for round := range 2 {
		for i, in := range inputs {
			want, _, err := uncached.Triage(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := cached.Triage(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d input %d: cached %+v, evaluated %+v", round, i, got, want)
			}
		}
	}
	if n := cached.cache.order.Len(); n == 0 || n > 3*len(inputs) {
		t.Errorf("cache holds %d entries", n)
	}
}

// TestCacheKeys checks what a cached output depends on: what the policy
// reads, and the tenant; not the time or fields it does not read.
func TestCacheKeys(t *testing.T) {
	e := newTestEngine(t)
	upsert(t, e, policy(sys, "guardrails", `package klaxon.triage
import input.incident.spec.source.labels
escalation_policy := "acme/vip" if labels.team == "vip"
`))
	inc := incident("acme", "x", map[string]string{"team": "vip"})
	d, _ := triage(t, e, inc)
	if d.EscalationPolicy != "acme/vip" {
		t.Fatalf("decision = %+v", d)
	}
	hits := func() int { return e.cache.order.Len() }
	before := hits()
	// A later time, a status write: the built-in and the provider read
	// neither, so nothing new is cached.
	inc.Status.Severity = v1alpha1.SEV2
	in := triageIn(inc)
	in.Now = in.Now.Add(time.Hour)
	if _, _, err := e.Triage(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if hits() != before {
		t.Errorf("cache grew from %d to %d on an unread change", before, hits())
	}
	// Another tenant gets its own entries, validated for it: acme/vip names
	// a namespace globex may not use, so the provider layer fails there.
	other := incident("globex", "x", map[string]string{"team": "vip"})
	d, rec := triage(t, e, other)
	if d.EscalationPolicy != "" || !rec.Fallback {
		t.Errorf("globex = %+v, %v", d, rec.Errors)
	}
	// A change the policy reads is a new evaluation.
	inc.Spec.Source.Labels["team"] = "other"
	if d, _ := triage(t, e, inc); d.EscalationPolicy != "" {
		t.Errorf("stale cached decision: %+v", d)
	}
}

// TestInputPaths checks the references a policy is cached under.
func TestInputPaths(t *testing.T) {
	tests := []struct {
		module string
		paths  []string
		ok     bool
	}{
		{"package klaxon.triage\nimport input.incident.spec\nx := spec.title\ny := spec.source.labels[k] if some k in [\"a\"]\nz := input.now\n",
			[]string{"input.now", "input.incident.spec.title", "input.incident.spec.source.labels"}, true},
		{"package klaxon.triage\nx := object.get(input, \"a\", 1)\n", nil, false},
		{"package klaxon.triage\nx := input[y] if y := \"a\"\n", nil, false},
		{"package klaxon.triage\nf := input.a\nx := y if y := f with input.a as 2\n", nil, false},
	}
	for _, tc := range tests {
		c := newCompiler()
		m, err := ast.ParseModuleWithOpts("m.rego", tc.module, parseOptions())
		if err != nil {
			t.Fatal(err)
		}
		if c.Compile(map[string]*ast.Module{"m.rego": m}); c.Failed() {
			t.Fatal(c.Errors)
		}
		paths, ok := inputPaths(c.Modules["m.rego"].Rules)
		var got []string
		for _, p := range paths {
			got = append(got, p.String())
		}
		if ok != tc.ok || !reflect.DeepEqual(got, tc.paths) {
			t.Errorf("%q: paths %v %v, want %v %v", tc.module, got, ok, tc.paths, tc.ok)
		}
	}
}
