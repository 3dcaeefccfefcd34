package policy

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/klaxon-ops/klaxon/internal/policy/planeval"
)

// unit is one compiled policy: a compiler, a store and one compiled query per
// decision point its modules decide. Nothing in it is shared with any other
// policy, so one policy can neither see nor change another's decisions.
type unit struct {
	key      string // namespace/name
	name     string
	revision string
	// id is key@revision, as records name the policy.
	id       string
	compiler *ast.Compiler
	store    storage.Store
	// data serves the policy's data to evaluations without a storage read.
	data dataCache
	// dataTerm is the same data for the plan evaluator.
	dataTerm *ast.Term
	// queries[i] evaluates points[i]; nil when the policy has no package
	// klaxon.<point> with an output rule.
	queries [numPoints]*pointQuery
	// readsDecision is false when no module reads input.decision, so the
	// engine need not build it for this policy.
	readsDecision bool
	// pointReadsDecision[i] says whether points[i]'s query reads
	// input.decision, when its reads are known (cacheable[i]).
	pointReadsDecision [numPoints]bool
	// inputPaths[i] are the parts of input points[i]'s query reads;
	// cacheable[i] is false when that cannot be known (see inputPaths).
	inputPaths [numPoints][]ast.Ref
	cacheable  [numPoints]bool
}

// parsedSource is a policy after parsing and the sandbox's checks.
type parsedSource struct {
	modules map[string]*ast.Module
	data    map[string]any
	// outputs[i] are the output rules the modules define for points[i].
	outputs [numPoints][]string
}

// parseOptions parse v1 Rego with the sandbox's builtins.
func parseOptions() ast.ParserOptions {
	return ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: sandboxCaps()}
}

// parseSource parses a policy's modules (and tests, when asked), checks
// their packages, the builtins they call, the shape of their output rules
// and the data. Problems come sorted by file and position.
func parseSource(src Source, withTests bool) (*parsedSource, []Problem) {
	var problems []Problem
	if src.Namespace == "" || src.Name == "" {
		problems = append(problems, Problem{Message: "a policy needs a namespace and a name"})
	}
	if len(src.Modules) == 0 {
		problems = append(problems, Problem{Message: "a policy needs at least one module"})
	}
	ps := &parsedSource{modules: map[string]*ast.Module{}}
	files := maps.Clone(src.Modules)
	if withTests {
		for name, text := range src.Tests {
			if _, dup := files[name]; dup {
				problems = append(problems, Problem{File: name, Message: "a test has the same file name as a module"})
				continue
			}
			files[name] = text
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		m, err := ast.ParseModuleWithOpts(name, files[name], parseOptions())
		if err != nil {
			problems = append(problems, problemsFrom(name, err)...)
			continue
		}
		if m == nil {
			problems = append(problems, Problem{File: name, Message: "the module is empty: it needs a package"})
			continue
		}
		if p := checkPackage(name, m); p != nil {
			problems = append(problems, *p)
			continue
		}
		problems = append(problems, forbiddenCalls(name, m)...)
		problems = append(problems, ps.collectOutputs(name, m)...)
		ps.modules[name] = m
	}
	if len(bytes.TrimSpace(src.Data)) > 0 {
		var data any
		if err := util.UnmarshalJSON(src.Data, &data); err != nil {
			problems = append(problems, Problem{File: "data", Message: fmt.Sprintf("data is not valid JSON: %v", err)})
		} else if obj, ok := data.(map[string]any); ok {
			ps.data = obj
		} else if data != nil {
			problems = append(problems, Problem{File: "data", Message: "data must be a JSON object"})
		}
	}
	if ps.data == nil {
		ps.data = map[string]any{}
	}
	sortProblems(problems)
	return ps, problems
}

// checkPackage keeps every module under data.klaxon, off data.klaxon.config
// (the policy's data), and so off the engine's own package.
func checkPackage(file string, m *ast.Module) *Problem {
	path := m.Package.Path
	ok := len(path) >= 3 && path[1].Equal(ast.InternedTerm("klaxon"))
	if ok {
		if s, isStr := path[2].Value.(ast.String); !isStr || s == "config" {
			ok = false
		}
	}
	if ok {
		return nil
	}
	p := problemAt(file, m.Package.Location, fmt.Sprintf(
		"package %s: a policy's packages are klaxon.<point> (%s) or other klaxon.* libraries; klaxon.config is the policy's data",
		strings.TrimPrefix(path.String(), "data."), pointList()))
	return &p
}

func pointList() string {
	names := make([]string, 0, numPoints)
	for _, p := range points {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}

// pointOf returns the index of the point whose package a module declares,
// or -1 for a library.
func pointOf(m *ast.Module) int {
	path := m.Package.Path
	if len(path) != 3 {
		return -1
	}
	s, _ := path[2].Value.(ast.String)
	return Point(s).index()
}

// collectOutputs records the output rules a module defines for its point,
// and refuses a set where a point needs one value.
func (ps *parsedSource) collectOutputs(file string, m *ast.Module) []Problem {
	pi := pointOf(m)
	if pi < 0 {
		return nil
	}
	var problems []Problem
	for _, r := range m.Rules {
		if len(r.Head.Args) > 0 {
			continue // a function, not an output
		}
		v, ok := r.Head.Ref()[0].Value.(ast.Var)
		if !ok {
			continue
		}
		name := string(v)
		if name == FieldEnforced && enforceable[pi] {
			ps.addOutput(pi, name)
			continue
		}
		fi := fieldIndex(pi, name)
		if fi < 0 {
			continue
		}
		if pointFields[pi][fi].single && (r.Head.RuleKind() == ast.MultiValue || len(r.Head.Ref()) > 1) {
			problems = append(problems, problemAt(file, r.Location, fmt.Sprintf(
				"%s.%s must have one value (%s := ...), not be a set or an object", points[pi], name, name)))
			continue
		}
		ps.addOutput(pi, name)
	}
	return problems
}

func (ps *parsedSource) addOutput(pi int, name string) {
	if !slices.Contains(ps.outputs[pi], name) {
		ps.outputs[pi] = append(ps.outputs[pi], name)
	}
}

// newCompiler returns a compiler with the sandbox's capabilities.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(sandboxCaps()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(false)
}

// newStore holds the policy's data under data.klaxon.config, kept as AST
// values so that reading it costs no conversion per evaluation.
func newStore(data map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(
		map[string]any{"klaxon": map[string]any{"config": data}},
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true),
	)
}

// dataCache is the evaluator's cache of base documents, filled in advance
// with the policy's data and shared by every evaluation: a policy's data
// never changes (a new version is a new unit), so reading data.klaxon.config
// costs a lookup in an AST value, not a storage transaction, a path and a
// cache entry per evaluation. A reference it does not find is not in the
// store either; the evaluator then asks the store, which says so.
type dataCache struct{ root ast.Value }

func (c dataCache) Get(ref ast.Ref) ast.Value {
	if c.root == nil || len(ref) == 0 || !ref[0].Equal(ast.DefaultRootDocument) {
		return nil
	}
	v, err := c.root.Find(ref[1:])
	if err != nil {
		return nil
	}
	return v
}

// Put does nothing: every value the store can give is in root already.
func (dataCache) Put(ast.Ref, ast.Value) {}

// compileUnit compiles a policy into a unit. Problems carry file, line and
// column; on problems the unit is nil.
func compileUnit(ctx context.Context, src Source) (*unit, []Problem) {
	ps, problems := parseSource(src, false)
	if len(problems) > 0 {
		return nil, problems
	}
	c := newCompiler()
	if c.Compile(ps.modules); c.Failed() {
		problems = problemsFrom("", c.Errors)
		sortProblems(problems)
		return nil, problems
	}
	u := &unit{key: src.Key(), name: src.Name, revision: src.Revision(), compiler: c, store: newStore(ps.data),
		readsDecision: readsDecision(ps.modules)}
	u.id = u.key + "@" + u.revision
	dv, err := ast.InterfaceToValue(map[string]any{"klaxon": map[string]any{"config": ps.data}})
	if err != nil {
		return nil, []Problem{{File: "data", Message: fmt.Sprintf("data: %v", err)}}
	}
	u.data = dataCache{root: dv}
	u.dataTerm = ast.NewTerm(dv)
	for pi, names := range ps.outputs {
		if len(names) == 0 {
			continue
		}
		q, err := newPointQuery(c, pi, names)
		if err != nil {
			return nil, []Problem{{Message: fmt.Sprintf("prepare the %s query: %v", points[pi], err)}}
		}
		u.queries[pi] = q
		// Compiled rules have their imports resolved: every reference into
		// input is spelled out from input. Besides what the dependency graph
		// reaches from the output rules, every rule outside the other points'
		// packages counts, in case a computed reference reaches it.
		rules := reachableRules(c, q.roots)
		for name, m := range ps.modules {
			if other := pointOf(m); other >= 0 && other != pi {
				continue
			}
			rules = append(rules, c.Modules[name].Rules...)
		}
		u.inputPaths[pi], u.cacheable[pi] = inputPaths(rules)
		for _, path := range u.inputPaths[pi] {
			u.pointReadsDecision[pi] = u.pointReadsDecision[pi] || path.HasPrefix(decisionRef)
		}
	}
	planUnit(ctx, u, ps)
	return u, nil
}

// planUnit prepares the plan evaluator for the unit's points: one plan for
// all of them (planning costs a compilation of the modules), or, when that
// fails, one per point, so that what one point does not allow leaves only
// that point to topdown. The plan evaluator is an optimisation: a point it
// cannot run is evaluated by topdown alone.
func planUnit(ctx context.Context, u *unit, ps *parsedSource) {
	var eps []string
	var at [numPoints][]int // at[pi]: the indexes of pi's outputs in eps
	for pi, q := range u.queries {
		if q == nil {
			continue
		}
		for _, name := range q.names {
			at[pi] = append(at[pi], len(eps))
			eps = append(eps, fmt.Sprintf("klaxon/%s/%s", points[pi], name))
		}
	}
	if len(eps) == 0 {
		return
	}
	if prog, err := planeval.Compile(ctx, ps.modules, eps, sandboxCaps()); err == nil {
		for pi, q := range u.queries {
			if q != nil {
				q.prog = prog.Subset(at[pi])
			}
		}
		return
	}
	for pi, q := range u.queries {
		if q == nil {
			continue
		}
		if prog, err := planeval.Compile(ctx, ps.modules, slices.Clone(eps[at[pi][0]:at[pi][0]+len(at[pi])]), sandboxCaps()); err == nil {
			q.prog = prog
		}
	}
}

var decisionRef = ast.MustParseRef("input.decision")

// decisionRead says whether point pi's query may read input.decision, so
// that the engine builds it only for a policy that does.
func (u *unit) decisionRead(pi int) bool {
	if u.cacheable[pi] {
		return u.pointReadsDecision[pi]
	}
	return u.readsDecision
}

// readsDecision says whether any module may read input.decision: a
// reference to it, or to input as a whole (object.get(input, ...), a `with`
// or a walk could reach it).
func readsDecision(mods map[string]*ast.Module) bool {
	decision := ast.InternedTerm("decision")
	found := false
	for _, m := range mods {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Var:
				// A bare input, outside a reference (as an argument, say).
				found = found || v.Equal(ast.InputRootDocument.Value)
			case ast.Ref:
				if v[0].Equal(ast.InputRootDocument) {
					found = found || len(v) == 1 || v[1].Equal(decision) || !v[1].IsGround()
					return true // the head of a reference is not a bare input
				}
			}
			return found
		})
		if found {
			return true
		}
	}
	return false
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}
