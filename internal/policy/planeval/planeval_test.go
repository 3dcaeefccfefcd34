package planeval

import (
	"context"
	"errors"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

func compileText(t *testing.T, text string, entrypoints ...string) (*Program, error) {
	t.Helper()
	m, err := ast.ParseModuleWithOpts("p.rego", text, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	return Compile(context.Background(), map[string]*ast.Module{"p.rego": m}, entrypoints, ast.CapabilitiesForThisVersion())
}

func mustCompile(t *testing.T, text string, entrypoints ...string) *Program {
	t.Helper()
	p, err := compileText(t, text, entrypoints...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eval(t *testing.T, p *Program, input string, cancel topdown.Cancel) ([]*ast.Term, error) {
	t.Helper()
	return p.Eval(context.Background(), Options{
		Input:  ast.MustParseTerm(input),
		Data:   ast.MustParseTerm(`{"t": {"limits": {"a": 1, "b": 2}}}`),
		Cancel: cancel,
	})
}

func TestEvalRulesSetsElseAndNegation(t *testing.T) {
	p := mustCompile(t, `package t
import input.x

level := "high" if x > data.t.limits.b
else := "mid" if x > data.t.limits.a

tags contains "big" if x > 1
tags contains t if some t in input.extra
tags contains "none" if not input.extra

table := {"a": [1, 2], "b": {"c": true}}
pick := table[input.k]
`, "t/level", "t/tags", "t/pick")
	cases := []struct {
		input       string
		level, tags string
		pick        string
	}{
		{`{"x": 3, "extra": ["e"], "k": "a"}`, `"high"`, `{"big", "e"}`, `[1, 2]`},
		{`{"x": 2, "k": "b"}`, `"mid"`, `{"big", "none"}`, `{"c": true}`},
		{`{"x": 0, "extra": [], "k": "z"}`, ``, `set()`, ``},
	}
	for _, c := range cases {
		out, err := eval(t, p, c.input, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.input, err)
		}
		for i, want := range []string{c.level, c.tags, c.pick} {
			if want == "" {
				if out[i] != nil {
					t.Errorf("%s: output %d = %v, want undefined", c.input, i, out[i])
				}
				continue
			}
			if out[i] == nil || ast.Compare(out[i].Value, ast.MustParseTerm(want).Value) != 0 {
				t.Errorf("%s: output %d = %v, want %s", c.input, i, out[i], want)
			}
		}
	}
}

func TestConstantsAreNotShared(t *testing.T) {
	// Each evaluation must see the constant as written, however the
	// previous one used it.
	p := mustCompile(t, `package t
s contains x if some x in {1, 2}
s contains input.y
`, "t/s")
	for _, y := range []string{"3", "4"} {
		out, err := eval(t, p, `{"y": `+y+`}`, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := ast.MustParseTerm(`{1, 2, ` + y + `}`)
		if ast.Compare(out[0].Value, want.Value) != 0 {
			t.Fatalf("y=%s: %v, want %v", y, out[0], want)
		}
	}
}

func TestWithIsLeftToTopdown(t *testing.T) {
	_, err := compileText(t, `package t
f := input.x
g := y if {
	y := f with input.x as 1
}
`, "t/g")
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("compile a policy with `with`: %v, want ErrUnsupported", err)
	}
}

func TestBuiltinErrorsAndConflictsAreLeftToTopdown(t *testing.T) {
	p := mustCompile(t, `package t
n := to_number(input.s)
c := v if some v in input.vs
`, "t/n", "t/c")
	if _, err := eval(t, p, `{"s": "not a number"}`, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a builtin error: %v, want ErrUnsupported", err)
	}
	if _, err := eval(t, p, `{"s": "1", "vs": [1, 2]}`, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a conflict: %v, want ErrUnsupported", err)
	}
	out, err := eval(t, p, `{"s": "1", "vs": [2, 2]}`, nil)
	if err != nil || out[0] == nil || out[1] == nil {
		t.Fatalf("no error: %v, %v", out, err)
	}
}

func TestCancelStopsTheEvaluation(t *testing.T) {
	p := mustCompile(t, `package t
n := count([x | some x in numbers.range(1, 100000); x % 7 == 0])
`, "t/n")
	c := topdown.NewCancel()
	c.Cancel()
	_, err := eval(t, p, `{}`, c)
	if !topdown.IsCancel(err) {
		t.Fatalf("cancelled: %v, want a topdown cancellation", err)
	}
	out, err := eval(t, p, `{}`, topdown.NewCancel())
	if err != nil || out[0] == nil || ast.Compare(out[0].Value, ast.Number("14285")) != 0 {
		t.Fatalf("not cancelled: %v, %v", out, err)
	}
}

func TestTimeIsGivenToTheBuiltinsThatReadIt(t *testing.T) {
	p := mustCompile(t, `package t
now := time.now_ns()
`, "t/now")
	if !p.NeedsTime() {
		t.Fatal("time.now_ns reads the time, yet NeedsTime is false")
	}
	out, err := p.Eval(context.Background(), Options{Input: ast.NewTerm(ast.NewObject()), Data: ast.NewTerm(ast.NewObject()), Time: ast.IntNumberTerm(42)})
	if err != nil || out[0] == nil || ast.Compare(out[0].Value, ast.Number("42")) != 0 {
		t.Fatalf("now = %v, %v; want 42", out, err)
	}
	if mustCompile(t, "package t\nx := upper(input.s)\n", "t/x").NeedsTime() {
		t.Error("upper does not read the time, yet NeedsTime is true")
	}
}

func TestABaseDocumentUnderARuleIsLeftToTopdown(t *testing.T) {
	p := mustCompile(t, `package t
x["b"] := 2
`, "t/x")
	out, err := p.Eval(context.Background(), Options{Input: ast.NewTerm(ast.NewObject()), Data: ast.MustParseTerm(`{"u": 1}`)})
	if err != nil || out[0] == nil || ast.Compare(out[0].Value, ast.MustParseTerm(`{"b": 2}`).Value) != 0 {
		t.Fatalf("no base document: %v, %v; want {\"b\": 2}", out, err)
	}
	_, err = p.Eval(context.Background(), Options{Input: ast.NewTerm(ast.NewObject()), Data: ast.MustParseTerm(`{"t": {"x": {"a": 1}}}`)})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a base document under the rule: %v, want ErrUnsupported", err)
	}
}

// TestArrayLiterals checks arrays written as literals, which fuseArrays
// makes at once, against their values: elements from input, rules and
// calls, nested, in comprehensions, undefined elements, and the hash and
// equality of the array made.
func TestArrayLiterals(t *testing.T) {
	p := mustCompile(t, `package t
import input.x

pair := [x, input.y]
nested := [[x, 1], [input.y, lower(input.s)], []]
mixed := [x, "k", data.t.limits.a]
each := [[v, i] | some i, v in input.list]
same if [x, input.y] == [input.y, x]
members contains [x, input.y]
members contains [input.y, x]
consts := [5, x, null, 2.5, [x, 7], max([1, count([x])])]
`, "t/pair", "t/nested", "t/mixed", "t/each", "t/same", "t/members", "t/consts")
	cases := []outputCase{
		{`{"x": 1, "y": 2, "s": "AB", "list": ["a", "b"]}`,
			[]string{`[1, 2]`, `[[1, 1], [2, "ab"], []]`, `[1, "k", 1]`, `[["a", 0], ["b", 1]]`, ``, `{[1, 2], [2, 1]}`,
				`[5, 1, null, 2.5, [1, 7], 1]`}, false},
		{`{"x": "a", "y": "a", "s": "C", "list": []}`,
			[]string{`["a", "a"]`, `[["a", 1], ["a", "c"], []]`, `["a", "k", 1]`, `[]`, `true`, `{["a", "a"]}`,
				`[5, "a", null, 2.5, ["a", 7], 1]`}, false},
		{`{"y": 2, "s": "x"}`, // x undefined: every literal with it is undefined
			[]string{``, ``, ``, `[]`, ``, `set()`, ``}, false},
	}
	fused := 0
	var count func(bs []*block)
	count = func(bs []*block) {
		for _, b := range bs {
			for _, s := range b.stmts {
				if s.op == opMakeArrayOf || s.op == opMinOf || s.op == opMaxOf { // max([1, ...]) is never made
					fused++
				}
				count(s.blocks)
			}
		}
	}
	count(p.plans)
	for _, f := range p.funcs {
		count(f.blocks)
	}
	// Every literal but each's comprehension, those with constants
	// between their elements (consts, and [1, ...] in it) too.
	if fused < 11 {
		t.Errorf("%d array literals made at once, want at least 11", fused)
	}
	checkOutputs(t, p, cases)
}

// TestEmptyCompositesGrowApart checks that the sets and objects a plan makes
// start as the shared empty values and get values of their own when they
// grow: evaluations that leave them empty and ones that fill them, in turns
// on the same pooled machine, each see their own, and the shared values stay
// empty.
func TestEmptyCompositesGrowApart(t *testing.T) {
	p := mustCompile(t, `package t
evens contains x if {
	some x in input.xs
	x % 2 == 0
}
big := {k: v | some k, v in input.m; v > 1}
all := {"evens": evens, "big": big, "keys": {k | some k, _ in input.m}, "none": {x | some x in input.xs; x > 100}}
`, "t/evens", "t/big", "t/all")
	cases := []struct{ input, evens, big, all string }{
		{`{"xs": [1, 3], "m": {}}`, `set()`, `{}`, `{"evens": set(), "big": {}, "keys": set(), "none": set()}`},
		{`{"xs": [2, 4, 5], "m": {"a": 2, "b": 1}}`, `{2, 4}`, `{"a": 2}`, `{"evens": {2, 4}, "big": {"a": 2}, "keys": {"a", "b"}, "none": set()}`},
		{`{"xs": [], "m": {"c": 0}}`, `set()`, `{}`, `{"evens": set(), "big": {}, "keys": {"c"}, "none": set()}`},
		{`{"xs": [6], "m": {"d": 3}}`, `{6}`, `{"d": 3}`, `{"evens": {6}, "big": {"d": 3}, "keys": {"d"}, "none": set()}`},
	}
	var kept [][]*ast.Term
	for range 2 {
		for _, c := range cases {
			out, err := eval(t, p, c.input, nil)
			if err != nil {
				t.Fatalf("%s: %v", c.input, err)
			}
			for i, want := range []string{c.evens, c.big, c.all} {
				if out[i] == nil || ast.Compare(out[i].Value, ast.MustParseTerm(want).Value) != 0 {
					t.Errorf("%s: output %d = %v, want %s", c.input, i, out[i], want)
				}
			}
			kept = append(kept, out)
		}
	}
	// What earlier evaluations returned is still what they returned.
	for j, out := range kept {
		c := cases[j%len(cases)]
		for i, want := range []string{c.evens, c.big, c.all} {
			if ast.Compare(out[i].Value, ast.MustParseTerm(want).Value) != 0 {
				t.Errorf("%s, kept: output %d = %v, want %s", c.input, i, out[i], want)
			}
		}
	}
	if emptySet.Len() != 0 || emptyObject.Len() != 0 {
		t.Errorf("the shared empty values changed: %v %v", emptySet, emptyObject)
	}
}

// TestMinAndMaxOfSetsNotBuilt checks min and max of comprehensions and
// unions, which fuseAggregates computes without building the set, and
// that elements equal but written differently leave the pick to topdown.
func TestMinAndMaxOfSetsNotBuilt(t *testing.T) {
	p := mustCompile(t, `package t

a contains x if some x in input.a
b contains x if some x in input.b

low := min({x | some x in input.a})
high := max({[x, "k"] | some x in input.a})
lowest := min(a | b)
highest := max(a | b)
seen := count({x | some x in input.a})
`, "t/low", "t/high", "t/lowest", "t/highest", "t/seen")
	fused := 0
	var count func(bs []*block)
	count = func(bs []*block) {
		for _, b := range bs {
			for _, s := range b.stmts {
				switch s.op {
				case opSetAddMin, opSetAddMax, opUnionMin, opUnionMax:
					fused++
				}
				count(s.blocks)
			}
		}
	}
	count(p.plans)
	for _, f := range p.funcs {
		count(f.blocks)
	}
	if fused != 4 {
		t.Errorf("%d sets only min or max reads computed without the set, want 4", fused)
	}
	cases := []outputCase{ // want: low, high, lowest, highest, seen
		{`{"a": [3, 1, 2], "b": [5, 0]}`, []string{`1`, `[3, "k"]`, `0`, `5`, `3`}, false},
		{`{"a": [], "b": ["x", "a"]}`, []string{``, ``, `"a"`, `"x"`, `0`}, false},
		{`{"a": [2, 2, "s"], "b": []}`, []string{`2`, `["s", "k"]`, `2`, `"s"`, `2`}, false},
		{`{"a": [], "b": []}`, []string{``, ``, ``, ``, `0`}, false},
		{`{"a": [1], "b": [1.0]}`, nil, true},
		{`{"a": [1.0, 2, 1], "b": []}`, nil, true},
	}
	checkOutputs(t, p, cases)
}

// TestConstantsInLaterRuleBodies checks tables written in a rule body after
// bodies that build values of their own (the planner reuses their locals):
// they are built once, and every evaluation sees them as written.
func TestConstantsInLaterRuleBodies(t *testing.T) {
	p := mustCompile(t, `package t
ranks contains r if {
	some label in ["severity", "priority"]
	r := {"high": 1, "low": 3}[input.labels[label]]
}
ranks contains {"SEV1": 1, "SEV2": 2}[input.suggested]
ranks contains n if {
	some n in {x | some x in input.extra}
}
pairs contains p if {
	p := [input.k, {"a": [1, 2]}]
}
`, "t/ranks", "t/pairs")
	cases := []struct{ input, ranks, pairs string }{
		{`{"labels": {"severity": "high"}, "suggested": "SEV2", "extra": [7], "k": "x"}`, `{1, 2, 7}`, `{["x", {"a": [1, 2]}]}`},
		{`{"labels": {"priority": "low"}, "suggested": "SEV1", "extra": [], "k": "y"}`, `{1, 3}`, `{["y", {"a": [1, 2]}]}`},
		{`{"labels": {}, "extra": [5, 5]}`, `{5}`, `set()`},
	}
	for round := range 2 {
		for _, c := range cases {
			out, err := eval(t, p, c.input, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []string{c.ranks, c.pairs} {
				if w := ast.MustParseTerm(want); out[i] == nil || ast.Compare(out[i].Value, w.Value) != 0 {
					t.Errorf("round %d, %s: output %d = %v, want %s", round, c.input, i, out[i], want)
				}
			}
		}
	}
}

// TestMinAndMaxOfArrayLiterals checks min and max of array literals, which
// fuseAggregates computes without the array: OPA's loops pick the last of
// equal elements, 1 or 1.0 as written.
func TestMinAndMaxOfArrayLiterals(t *testing.T) {
	p := mustCompile(t, `package t
lo := min([input.n, 1])
hi := max([1, input.n])
clamp := max([1, min([5, input.n])])
`, "t/lo", "t/hi", "t/clamp")
	cases := []struct{ input, lo, hi, clamp string }{
		{`{"n": 1.0}`, `1`, `1.0`, `1.0`},
		{`{"n": 7}`, `1`, `7`, `5`},
		{`{"n": -2}`, `-2`, `1`, `1`},
		{`{"n": "s"}`, `1`, `"s"`, `5`},
		{`{}`, ``, ``, ``},
	}
	for _, c := range cases {
		out, err := eval(t, p, c.input, nil)
		if err != nil && c.lo != "" {
			t.Fatalf("%s: %v", c.input, err)
		}
		for i, want := range []string{c.lo, c.hi, c.clamp} {
			if want == "" {
				if err == nil && out[i] != nil {
					t.Errorf("%s: output %d = %v, want undefined", c.input, i, out[i])
				}
				continue
			}
			if out[i] == nil || out[i].String() != want {
				t.Errorf("%s: output %d = %v, want %s", c.input, i, out[i], want)
			}
		}
	}
}

// TestSetRulesOnlyMinReads checks partial set rules whose readers only test
// them for emptiness or take the least of a union with them: their
// functions keep the least element instead of the set (extremeRules), and
// every output stays what the sets give.
func TestSetRulesOnlyMinReads(t *testing.T) {
	p := mustCompile(t, `package t
a contains x if some x in input.a
a contains {1} if input.nested
b contains x if some x in input.b
quiet if a == set()
lowest := min(a | b)
c contains x if some x in input.a
counted := count(c)
least := min(c | b)
`, "t/quiet", "t/lowest", "t/counted", "t/least")
	kept := map[string]bool{}
	for _, f := range p.funcs {
		for _, b := range f.blocks {
			for _, s := range b.stmts {
				if s.op == opReturnExtreme {
					kept[f.name] = true
				}
			}
		}
	}
	if len(kept) != 2 || !kept["g0.data.t.a"] || !kept["g0.data.t.b"] {
		t.Errorf("rules keeping their least element: %v, want a and b (c is counted)", kept)
	}
	cases := []outputCase{ // want: quiet, lowest, counted, least
		{`{"a": [3, 1], "b": [2]}`, []string{``, `1`, `2`, `1`}, false},
		{`{"a": [], "b": [2, "x"]}`, []string{`true`, `2`, `0`, `2`}, false},
		{`{"a": ["k"], "b": []}`, []string{``, `"k"`, `1`, `"k"`}, false},
		{`{"a": [], "b": []}`, []string{`true`, ``, `0`, ``}, false},
		{`{"a": [1], "b": [1.0]}`, nil, true},
		{`{"a": [], "b": [], "nested": true}`, nil, true},
	}
	checkOutputs(t, p, cases)
}

// outputCase is an input with the outputs wanted, in entrypoint order ("" for
// undefined), or tie: the evaluation must be left to topdown.
type outputCase struct {
	input string
	want  []string
	tie   bool
}

// checkOutputs evaluates each case and compares the outputs with what it wants.
func checkOutputs(t *testing.T, p *Program, cases []outputCase) {
	t.Helper()
	for _, c := range cases {
		out, err := eval(t, p, c.input, nil)
		if c.tie {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: %v, %v; want it left to topdown", c.input, out, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.input, err)
		}
		for i, want := range c.want {
			if want == "" {
				if out[i] != nil {
					t.Errorf("%s: output %d = %v, want undefined", c.input, i, out[i])
				}
				continue
			}
			// As written (1 is not 1.0), equal, and hashed alike: a value built
			// another way than OPA builds it could differ in any of the three.
			w := ast.MustParseTerm(want)
			if out[i] == nil || out[i].String() != w.String() || ast.Compare(out[i].Value, w.Value) != 0 || out[i].Hash() != w.Hash() {
				t.Errorf("%s: output %d = %v, want %s", c.input, i, out[i], want)
			}
		}
	}
}
