package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// layer is where a policy sits: the built-in library, the provider's
// namespace or the tenant's.
type layer int

const (
	layerBuiltin layer = iota
	layerProvider
	layerTenant
)

func (l layer) String() string {
	switch l {
	case layerProvider:
		return "provider"
	case layerTenant:
		return "tenant"
	}
	return "built-in"
}

// noMetrics spares every evaluation the timers OPA would otherwise start.
var noMetrics = metrics.NoOp()

// Member names the engine looks up in every result, built once.
var (
	fieldTerms = func() (t [numPoints][]*ast.Term) {
		for pi, fs := range pointFields {
			for _, f := range fs {
				t[pi] = append(t[pi], ast.StringTerm(f.name))
			}
		}
		return t
	}()
	enforcedTerm = ast.StringTerm(FieldEnforced)
	decisionTerm = ast.StringTerm("decision")
)

// merged is a point's decision as the layers build it up: one value per
// field (nil for none), which policy set it, and what the provider enforces.
type merged struct {
	pi        int
	values    []ast.Value
	decidedBy []string
	enforced  []bool
	// store is where newMerged made it, nil for a clone.
	store *mergedStore
}

// mergedStore holds a merged decision and its fields' slices in one
// allocation.
type mergedStore struct {
	m         merged
	values    [maxFields]ast.Value
	decidedBy [maxFields]string
	enforced  [maxFields]bool
}

// mergedStores are reused: a merged decision lives only until the decision
// method has read its fields.
var mergedStores = sync.Pool{New: func() any { return new(mergedStore) }}

func newMerged(pi int) *merged {
	n := len(pointFields[pi])
	st := mergedStores.Get().(*mergedStore)
	st.m = merged{pi: pi, values: st.values[:n:n], decidedBy: st.decidedBy[:n:n], enforced: st.enforced[:n:n], store: st}
	return &st.m
}

// release gives m back for reuse, keeping nothing of it; m must not be used
// after. The decision read from it shares no slice of m's.
func (m *merged) release() {
	if st := m.store; st != nil {
		*st = mergedStore{}
		mergedStores.Put(st)
	}
}

func (m *merged) clone() *merged {
	return &merged{
		pi:        m.pi,
		values:    append([]ast.Value(nil), m.values...),
		decidedBy: append([]string(nil), m.decidedBy...),
		enforced:  append([]bool(nil), m.enforced...),
	}
}

// value returns field name's merged value, nil when no layer set it.
func (m *merged) value(name string) ast.Value {
	if fi := fieldIndex(m.pi, name); fi >= 0 {
		return m.values[fi]
	}
	return nil
}

// enforcedNames lists the fields the provider enforces.
func (m *merged) enforcedNames() []string {
	var out []string
	for fi, on := range m.enforced {
		if on {
			out = append(out, pointFields[m.pi][fi].name)
		}
	}
	return out
}

// layerOutput is one policy's validated contribution.
type layerOutput struct {
	// values[fi] is field fi's value, nil when the policy leaves it
	// undefined; an array, so that the output needs no allocation.
	values   [maxFields]ast.Value
	enforced ast.Value
}

// apply merges one policy's contribution: replace fields take its value,
// mergeKeys fields take its entries, union fields add to theirs. A tenant
// cannot change a field the provider enforces; only the provider enforces.
func (m *merged) apply(out layerOutput, l layer, key string) {
	for fi, v := range out.values[:len(m.values)] {
		if v == nil || (l == layerTenant && m.enforced[fi]) {
			continue
		}
		switch pointFields[m.pi][fi].merge {
		case replace:
			m.values[fi] = v
		case mergeKeys:
			m.values[fi] = mergeObjects(m.values[fi], v)
		case union:
			m.values[fi] = unionSets(m.values[fi], v)
		}
		m.decidedBy[fi] = key
	}
	if l == layerProvider && out.enforced != nil {
		if set, ok := out.enforced.(ast.Set); ok {
			set.Foreach(func(t *ast.Term) {
				if s, ok := t.Value.(ast.String); ok {
					if fi := fieldIndex(m.pi, string(s)); fi >= 0 {
						m.enforced[fi] = true
					}
				}
			})
		}
	}
}

// mergeObjects returns a new object: below's entries, replaced and extended
// by above's. Neither argument changes; earlier snapshots share them.
func mergeObjects(below, above ast.Value) ast.Value {
	b, ok := below.(ast.Object)
	if !ok {
		return above
	}
	a := above.(ast.Object)
	out := ast.NewObjectWithCapacity(a.Len() + b.Len())
	a.Foreach(out.Insert)
	b.Foreach(func(k, v *ast.Term) {
		if out.Get(k) == nil {
			out.Insert(k, v)
		}
	})
	return out
}

func unionSets(below, above ast.Value) ast.Value {
	b, ok := below.(ast.Set)
	if !ok {
		return above
	}
	return b.Union(above.(ast.Set))
}

// asObject renders the merged decision as input.decision for the next layer,
// so a layer can extend a list rather than replace it.
func (m *merged) asObject() ast.Object {
	obj := ast.NewObjectWithCapacity(len(m.values))
	for fi, v := range m.values {
		if v != nil {
			obj.Insert(fieldTerms[m.pi][fi], ast.NewTerm(v))
		}
	}
	return obj
}

// withDecision returns the input with "decision" set; base stays unchanged.
func withDecision(base ast.Object, m *merged) ast.Object {
	obj := ast.NewObjectWithCapacity(base.Len() + 1)
	base.Foreach(func(k, v *ast.Term) {
		if !k.Equal(decisionTerm) {
			obj.Insert(k, v)
		}
	})
	obj.Insert(decisionTerm, ast.NewTerm(m.asObject()))
	return obj
}

// decide evaluates a point over the layers and merges them. The built-in
// library always decides; a provider policy that fails drops the provider
// and tenant layers (the tenant's values were written under the provider's
// enforcement), a tenant policy that fails drops the tenant layer. Either way
// Record.Fallback and Record.Errors say so. The error is for the caller's own
// failures only: an input that cannot be encoded, a context that ended, or a
// failing built-in library.
func (e *Engine) decide(ctx context.Context, p Point, common *Input, in any) (*merged, Record, error) {
	rec := Record{ID: newID(), Point: p}
	if err := common.check(); err != nil {
		return nil, rec, fmt.Errorf("%s decision: %w", p, err)
	}
	rec.Time = common.Now
	raw, err := marshalInput(common, in)
	if err != nil {
		return nil, rec, fmt.Errorf("%s decision: encode the input: %w", p, err)
	}
	rec.Input = raw
	if err := ctx.Err(); err != nil {
		// The caller's context has ended: no layer could decide, and a
		// cancellation noticed only mid-evaluation would read as a
		// failing policy.
		return nil, rec, fmt.Errorf("%s decision: %w", p, err)
	}
	pi := p.index()
	cc := &checkContext{tenant: common.Tenant, system: e.system, point: p}
	set := e.state.Load()
	now := common.Now

	// Every input but admission's is Go values as encoding/json writes them,
	// whose objects never have a member twice; admission's carries the
	// request's object as it was sent.
	di := &decisionInput{raw: raw, unique: p != PointAdmission}
	m := newMerged(pi)
	rec.Policies = make([]string, 0, 1+len(set.provider)+len(set.tenants[common.Tenant]))
	if e.builtin.queries[pi] != nil {
		out, err := e.evalUnit(ctx, e.builtin, pi, di, m, now, cc)
		if err != nil {
			return nil, rec, fmt.Errorf("%s decision: built-in policy: %w", p, err)
		}
		m.apply(out, layerBuiltin, BuiltinName)
		rec.Policies = append(rec.Policies, e.builtin.id)
	}

	tenantUnits := set.tenants[common.Tenant]
	if common.Tenant == e.system {
		tenantUnits = nil // the provider's own objects answer to the provider's policies
	}
	layers := [2]struct {
		l     layer
		units []*unit
	}{{layerProvider, set.provider}, {layerTenant, tenantUnits}}
	for _, ly := range layers {
		if len(ly.units) == 0 {
			continue
		}
		// A failing policy is left out with the rest of its layer: keep the
		// decision as it was before the layer, when a policy of the layer
		// may have added to it before one fails (a lone policy that fails
		// has added nothing).
		before, nPolicies := m, len(rec.Policies)
		if len(ly.units) > 1 {
			before = m.clone()
		}
		var failed bool
		for _, u := range ly.units {
			if u.queries[pi] == nil {
				continue
			}
			out, err := e.evalUnit(ctx, u, pi, di, m, now, cc)
			if err != nil {
				if ctx.Err() != nil {
					return nil, rec, fmt.Errorf("%s decision: %w", p, ctx.Err())
				}
				failed = true
				rec.Fallback = true
				rec.Errors = append(rec.Errors, failureMessage(ly.l, u, err))
				break
			}
			m.apply(out, ly.l, u.key)
			rec.Policies = append(rec.Policies, u.id)
		}
		if failed {
			m, rec.Policies = before, rec.Policies[:nPolicies]
			break
		}
	}
	if len(rec.Policies) == 0 {
		rec.Policies = nil
	}
	rec.DecidedBy = map[string]string{}
	for fi, by := range m.decidedBy {
		if by != "" {
			rec.DecidedBy[pointFields[pi][fi].name] = by
		}
	}
	return m, rec, nil
}

func failureMessage(l layer, u *unit, err error) string {
	consequence := "the tenant's policies were left out of this decision"
	if l == layerProvider {
		consequence = "used the built-in default decision"
	}
	return fmt.Sprintf("%s policy %s (revision %.8s): %v; %s", l, u.key, u.revision, err, consequence)
}

// decisionInput is a decision's input: its JSON text, and the AST the
// policies evaluate, built from the text the first time a policy has to be
// evaluated (a decision answered from the cache builds none). A policy whose
// reads of input are known (unit.cacheable) gets only those parts: it cannot
// tell the difference, and converting less JSON to AST is most of what
// preparing an evaluation costs.
type decisionInput struct {
	raw  []byte
	full ast.Object
	// parts are the input cut down to the paths policies read, one per set
	// of paths (policies that read the same paths share one).
	parts []inputPart
	buf   []byte      // scratch for cache keys
	found []foundPath // see find
	// unique: no object in raw has a member twice, so find may stop at the
	// first member of a name.
	unique bool
}

// value is the input policy u evaluates for point pi: the whole input or
// the parts u reads, with input.decision set from m when u reads it.
func (di *decisionInput) value(u *unit, pi int, m *merged) (ast.Value, error) {
	var base ast.Object
	var err error
	if u.cacheable[pi] {
		paths := u.inputPaths[pi]
		for _, p := range di.parts {
			if sameRefs(p.paths, paths) {
				base = p.obj
				break
			}
		}
		if base == nil {
			if base, err = di.partialInput(paths); err != nil {
				return nil, err
			}
			di.parts = append(di.parts, inputPart{paths, base})
		}
	} else {
		if di.full == nil {
			if di.full, err = objectFromJSON(di.raw); err != nil {
				return nil, err
			}
		}
		base = di.full
	}
	if u.decisionRead(pi) {
		return withDecision(base, m), nil
	}
	return base, nil
}

type inputPart struct {
	paths []ast.Ref
	obj   ast.Object
}

func objectFromJSON(raw []byte) (ast.Object, error) {
	v, err := valueFromJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("convert the input: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, errors.New("the input is not a JSON object")
	}
	return obj, nil
}

// partialInput builds the input object with only the values at paths (none
// of which is a prefix of another, see inputPaths); input.decision, which
// is not in the JSON, is left to withDecision.
func (di *decisionInput) partialInput(paths []ast.Ref) (ast.Object, error) {
	raw := di.raw
	root := ast.NewObject()
	for _, p := range paths {
		if len(p) < 2 || p[1].Equal(decisionTerm) {
			continue
		}
		text, ok := di.find(p)
		if !ok {
			continue
		}
		v, err := valueFromJSON(text)
		if err != nil {
			return nil, fmt.Errorf("convert the input: %w", err)
		}
		// Make the objects on the way down; a step into an array (a path
		// such as input.x[0].y) is not something to rebuild: give up and
		// use the whole input.
		obj := root
		for _, k := range p[1 : len(p)-1] {
			if _, isString := k.Value.(ast.String); !isString {
				return objectFromJSON(raw)
			}
			next := obj.Get(k)
			if next == nil {
				next = ast.NewTerm(ast.NewObject())
				obj.Insert(k, next)
			}
			o, ok := next.Value.(ast.Object)
			if !ok {
				return objectFromJSON(raw)
			}
			obj = o
		}
		if _, isString := p[len(p)-1].Value.(ast.String); !isString {
			return objectFromJSON(raw)
		}
		obj.Insert(p[len(p)-1], ast.NewTerm(v))
	}
	return root, nil
}

func sameRefs(a, b []ast.Ref) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// evalUnit returns one policy's validated output for a point: from the
// cache when the policy saw the same values before, else by evaluating.
func (e *Engine) evalUnit(ctx context.Context, u *unit, pi int, di *decisionInput, m *merged, now time.Time, cc *checkContext) (layerOutput, error) {
	if e.cache == nil || !u.cacheable[pi] {
		input, err := di.value(u, pi, m)
		if err != nil {
			return layerOutput{}, err
		}
		return e.evalQuery(ctx, u, pi, input, now, cc)
	}
	di.buf = appendProjection(di.buf[:0], u.inputPaths[pi], di, m)
	key := cacheKey{u: u, pi: pi, tenant: cc.tenant, hash: maphash.Bytes(projectionSeed, di.buf)}
	if out, ok := e.cache.get(key, di.buf); ok {
		return out, nil
	}
	input, err := di.value(u, pi, m)
	if err != nil {
		return layerOutput{}, err
	}
	out, err := e.evalQuery(ctx, u, pi, input, now, cc)
	if err == nil {
		e.cache.put(key, bytes.Clone(di.buf), out)
	}
	return out, err
}

// evalQuery runs one policy's query for a point under the engine's deadline
// and validates what it returns.
func (e *Engine) evalQuery(ctx context.Context, u *unit, pi int, input ast.Value, now time.Time, cc *checkContext) (layerOutput, error) {
	pq := u.queries[pi]
	terms, err := pq.eval(ctx, u, input, now, e.timeout)
	if err != nil {
		if topdown.IsCancel(err) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return layerOutput{}, fmt.Errorf("evaluation ran past the %s deadline: %w", e.timeout, errDeadline)
		}
		return layerOutput{}, fmt.Errorf("evaluation failed: %w", err)
	}
	// Validate in the fields' order, then enforced, so that the first
	// problem reported does not depend on the order of the rules.
	var byField [maxFields]*ast.Term
	var enforced *ast.Term
	for i, t := range terms {
		if fi := pq.field[i]; fi >= 0 {
			byField[fi] = t
		} else {
			enforced = t
		}
	}
	var out layerOutput
	for fi, f := range pointFields[pi] {
		if byField[fi] == nil {
			continue
		}
		v, err := f.check(byField[fi].Value, cc)
		if err != nil {
			return layerOutput{}, fmt.Errorf("%s.%s %w", points[pi], f.name, err)
		}
		out.values[fi] = v
	}
	if enforced != nil && enforceable[pi] {
		v, err := checkEnforced(pi)(enforced.Value, cc)
		if err != nil {
			return layerOutput{}, fmt.Errorf("%s.enforced %w", points[pi], err)
		}
		out.enforced = v
	}
	return out, nil
}
