package policy

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/klaxon-ops/klaxon/policies"
)

// The plan evaluator must decide exactly as topdown does. These tests
// evaluate every point of the built-in library, the benchmark fixture and
// the provider guardrail with both evaluators over many inputs — the inputs
// the library's own tests use, random variations of them, and the
// benchmark's incidents — and compare every output.

// recordDecl is a test-only builtin the library's tests are rewritten to
// call with every input they evaluate a point with.
var recordDecl = &ast.Builtin{
	Name: "klaxon_test.record",
	Decl: types.NewFunction(types.Args(types.A), types.B),
}

// testInputs runs the library's tests with topdown and collects every input
// they evaluate a point with (`with input as ...`, whatever builds it).
func testInputs(t *testing.T) []ast.Value {
	t.Helper()
	mods := map[string]*ast.Module{}
	for name, text := range policies.Modules() {
		m, err := ast.ParseModuleWithOpts(name, text, parseOptions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mods[name] = m
	}
	var tests []ast.Ref
	for name, text := range policies.Tests() {
		m, err := ast.ParseModuleWithOpts(name, text, parseOptions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range m.Rules {
			var body ast.Body
			for _, e := range r.Body {
				for _, w := range e.With {
					if ref, ok := w.Target.Value.(ast.Ref); ok && ref.Equal(ast.InputRootRef) {
						body.Append(ast.NewExpr([]*ast.Term{ast.RefTerm(ast.VarTerm("klaxon_test"), ast.StringTerm("record")), w.Value}))
					}
				}
				body.Append(e)
			}
			r.Body = body
			if name := r.Head.Ref().String(); len(r.Head.Args) == 0 && len(name) > 5 && name[:5] == "test_" {
				tests = append(tests, m.Package.Path.Append(ast.StringTerm(name)))
			}
		}
		mods[name] = m
	}
	caps := Capabilities()
	caps.Builtins = append(caps.Builtins, recordDecl)
	c := ast.NewCompiler().WithCapabilities(caps).WithDefaultRegoVersion(ast.RegoV1).
		WithBuiltins(map[string]*ast.Builtin{recordDecl.Name: recordDecl})
	if c.Compile(mods); c.Failed() {
		t.Fatal(c.Errors)
	}
	var out []ast.Value
	record := &topdown.Builtin{Decl: recordDecl, Func: func(_ topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		out = append(out, ops[0].Value)
		return iter(ast.BooleanTerm(true))
	}}
	store := newStore(map[string]any{})
	ctx := context.Background()
	for _, ref := range tests {
		txn, err := store.NewTransaction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		q := topdown.NewQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(ref)))).WithCompiler(c).WithStore(store).
			WithTransaction(txn).WithBuiltins(map[string]*topdown.Builtin{recordDecl.Name: record})
		if _, err := q.Run(ctx); err != nil {
			t.Fatalf("%v: %v", ref, err)
		}
		store.Abort(ctx, txn)
	}
	if len(out) < 20 {
		t.Fatalf("the library's tests gave only %d inputs", len(out))
	}
	return out
}

// vary returns n variations of v: string leaves swapped for others of the
// pool, object members dropped, numbers changed.
func vary(r *rand.Rand, v ast.Value, pool []string) ast.Value {
	switch x := v.(type) {
	case ast.String:
		if r.IntN(4) == 0 {
			return ast.String(pool[r.IntN(len(pool))])
		}
	case ast.Number:
		if r.IntN(4) == 0 {
			return ast.IntNumberTerm(r.IntN(7) - 1).Value
		}
	case ast.Object:
		out := ast.NewObject()
		x.Foreach(func(k, e *ast.Term) {
			if r.IntN(8) == 0 {
				return // dropped
			}
			out.Insert(k, ast.NewTerm(vary(r, e.Value, pool)))
		})
		return out
	case *ast.Array:
		var elems []*ast.Term
		x.Foreach(func(e *ast.Term) {
			if r.IntN(8) != 0 {
				elems = append(elems, ast.NewTerm(vary(r, e.Value, pool)))
			}
		})
		return ast.NewArray(elems...)
	case ast.Set:
		out := ast.NewSet()
		x.Foreach(func(e *ast.Term) { out.Add(ast.NewTerm(vary(r, e.Value, pool))) })
		return out
	}
	return v
}

func leafStrings(vs []ast.Value) []string {
	seen := map[string]bool{}
	for _, v := range vs {
		ast.WalkTerms(v, func(t *ast.Term) bool {
			if s, ok := t.Value.(ast.String); ok {
				seen[string(s)] = true
			}
			return false
		})
	}
	return slices.Sorted(maps.Keys(seen))
}

// compareEvaluators evaluates point pi of u over inputs with both
// evaluators and fails on any difference; it returns how many inputs the
// plan evaluator left to topdown.
func compareEvaluators(t *testing.T, u *unit, pi int, inputs []ast.Value) (fallbacks int) {
	t.Helper()
	pq := u.queries[pi]
	if pq == nil {
		t.Fatalf("%s has no %s query", u.key, points[pi])
	}
	if pq.prog == nil {
		t.Fatalf("%s: the plan evaluator does not run %s", u.key, points[pi])
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i, in := range inputs {
		want, werr := pq.evalTopdown(ctx, u, in, now, topdown.NewCancel())
		got, gerr := pq.evalPlan(ctx, u, in, now, topdown.NewCancel())
		if gerr != nil {
			fallbacks++
			continue // eval would ask topdown
		}
		if werr != nil {
			t.Fatalf("%s %s input %d: topdown failed (%v), the plan evaluator did not: %v\ninput: %v", u.key, points[pi], i, werr, got, in)
		}
		for j := range want {
			if (want[j] == nil) != (got[j] == nil) || (want[j] != nil && ast.Compare(want[j].Value, got[j].Value) != 0) {
				t.Fatalf("%s %s.%s input %d: topdown %v, plan %v\ninput: %v", u.key, points[pi], pq.names[j], i, want[j], got[j], in)
			}
		}
	}
	return fallbacks
}

func TestPlanEvaluatorMatchesTopdownOnTheLibrary(t *testing.T) {
	e := newBenchEngine(t)
	// Every point gets every input: a point's tests give the shapes it
	// expects, the others' give it shapes it must cope with.
	base := testInputs(t)
	r := rand.New(rand.NewPCG(3, 4))
	pool := append(leafStrings(base), "critical", "SEV1", "SEV4", "data breach", "security", "data-breach", "", "delete", "true")
	inputs := slices.Clone(base)
	for range 10 {
		for _, in := range base {
			inputs = append(inputs, vary(r, in, pool))
		}
	}
	for pi := range numPoints {
		if e.builtin.queries[pi] == nil {
			continue
		}
		if e.builtin.queries[pi].prog == nil {
			// Left to topdown; triage, which every incident needs, must
			// not be.
			if pi == PointTriage.index() {
				t.Fatal("the plan evaluator does not run the built-in triage")
			}
			t.Logf("%s: topdown only", points[pi])
			continue
		}
		fallbacks := compareEvaluators(t, e.builtin, pi, inputs)
		t.Logf("%s: %d inputs, %d left to topdown", points[pi], len(inputs), fallbacks)
		if fallbacks > len(inputs)/4 {
			t.Errorf("%s: the plan evaluator left %d of %d inputs to topdown", points[pi], fallbacks, len(inputs))
		}
	}
}

func TestPlanEvaluatorMatchesTopdownOnTheFixture(t *testing.T) {
	pi := PointTriage.index()
	var inputs []ast.Value
	for _, in := range benchInputs(t, "acme") {
		if err := in.validate(); err != nil {
			t.Fatal(err)
		}
		_, obj, err := encodeInput(&in)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, obj)
	}
	r := rand.New(rand.NewPCG(5, 6))
	pool := append(leafStrings(inputs[:50]), "FalcoAlert", "KubeAPIDown", "HighRequestLatency", "data breach", "sev1", "true", "security")
	for _, in := range inputs[:200] {
		inputs = append(inputs, vary(r, in, pool))
	}
	for _, src := range []Source{benchFixture(t, "acme"), benchProvider} {
		u, problems := compileUnit(context.Background(), src)
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		// The provider reads input.decision: give it one.
		ins := inputs
		if u.readsDecision {
			ins = nil
			for i, in := range inputs {
				m := newMerged(pi)
				m.values[fieldIndex(pi, "category")] = ast.String([]string{"data-breach", "availability"}[i%2])
				m.values[fieldIndex(pi, "severity")] = ast.String([]string{"SEV1", "SEV3"}[i%2])
				m.values[fieldIndex(pi, "stakeholder_groups")] = ast.NewSet(ast.StringTerm("security"))
				ins = append(ins, withDecision(in.(ast.Object), m))
			}
		}
		if fallbacks := compareEvaluators(t, u, pi, ins); fallbacks > 0 {
			t.Errorf("%s: the plan evaluator left %d of %d inputs to topdown", u.key, fallbacks, len(ins))
		}
	}
}

// The plan evaluator shares its program, constants and pooled machines
// between evaluations: concurrent ones must neither race (go test -race)
// nor see each other's values.
func TestPlanEvaluatorConcurrently(t *testing.T) {
	pi := PointTriage.index()
	u, problems := compileUnit(context.Background(), benchFixture(t, "acme"))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	pq := u.queries[pi]
	var inputs []ast.Value
	var want [][]*ast.Term
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, in := range benchInputs(t, "acme")[:100] {
		if err := in.validate(); err != nil {
			t.Fatal(err)
		}
		_, obj, err := encodeInput(&in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pq.evalTopdown(ctx, u, obj, now, topdown.NewCancel())
		if err != nil {
			t.Fatal(err)
		}
		inputs, want = append(inputs, obj), append(want, out)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range inputs {
				k := (i + g*13) % len(inputs)
				got, err := pq.evalPlan(ctx, u, inputs[k], now, topdown.NewCancel())
				if err != nil {
					errs <- err
					return
				}
				for j := range got {
					if (got[j] == nil) != (want[k][j] == nil) || (got[j] != nil && ast.Compare(got[j].Value, want[k][j].Value) != 0) {
						errs <- fmt.Errorf("input %d, %s: %v, want %v", k, pq.names[j], got[j], want[k][j])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// input.decision is built only for the points that read it.
func TestDecisionIsBuiltForThePointsThatReadIt(t *testing.T) {
	e := newBenchEngine(t)
	provider, problems := compileUnit(context.Background(), benchProvider)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	pi := PointTriage.index()
	if e.builtin.decisionRead(pi) {
		t.Error("the built-in triage does not read input.decision, yet gets it")
	}
	if !provider.decisionRead(pi) {
		t.Error("the provider's triage reads input.decision, yet does not get it")
	}
}

func TestDeadlineCancel(t *testing.T) {
	stopsWithin := func(d *deadlineCancel) bool {
		for range deadlineEvery {
			if d.Cancelled() {
				return true
			}
		}
		return false
	}
	live := &deadlineCancel{ctx: context.Background(), deadline: time.Now().Add(time.Hour)}
	if stopsWithin(live) {
		t.Error("stopped before the deadline")
	}
	if !stopsWithin(&deadlineCancel{ctx: context.Background(), deadline: time.Now().Add(-time.Second)}) {
		t.Error("did not stop past the deadline")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !stopsWithin(&deadlineCancel{ctx: ctx, deadline: time.Now().Add(time.Hour)}) {
		t.Error("did not stop when the caller's context ended")
	}
	live.Cancel()
	if !live.Cancelled() {
		t.Error("did not stop when cancelled")
	}
}

// One point's plan that the evaluator cannot run leaves only that point to
// topdown.
func TestAPointThePlanEvaluatorCannotRunIsLeftToTopdownAlone(t *testing.T) {
	u, problems := compileUnit(context.Background(), Source{Namespace: "acme", Name: "mixed", Modules: map[string]string{
		"triage.rego": `package klaxon.triage
severity := s if {
	s := object.get(input, "sev", "SEV3") with input.sev as "SEV2"
}
`,
		"notify.rego": `package klaxon.notify
groups contains "oncall" if input.event
`}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if q := u.queries[PointTriage.index()]; q == nil || q.prog != nil {
		t.Errorf("triage (with `with`): query %v, want one for topdown alone", q)
	}
	if q := u.queries[PointNotify.index()]; q == nil || q.prog == nil {
		t.Errorf("notify: query %v, want one the plan evaluator runs", q)
	}
}
