package policy

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultCacheEntries bounds the evaluation cache when Options leave it unset.
const DefaultCacheEntries = 4096

// A policy's output is a function of its revision, the decision point and
// the parts of the input it reads: the sandbox has no clock, no randomness
// and no I/O. The engine works out those parts from the compiled modules
// (every reference into input) and caches outputs under them, so a decision
// taken again for an unchanged incident, at a later time or after a status
// write the policy does not read, costs a lookup instead of an evaluation.

// reachableRules returns the rules a point's query can evaluate: its output
// rules and, through the compiler's dependency graph, every rule and
// function they use.
func reachableRules(c *ast.Compiler, roots []*ast.Rule) []*ast.Rule {
	seen := map[*ast.Rule]bool{}
	queue := append([]*ast.Rule(nil), roots...)
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		for dep := range c.Graph.Dependencies(r) {
			if d, ok := dep.(*ast.Rule); ok && !seen[d] {
				queue = append(queue, d)
			}
		}
	}
	out := make([]*ast.Rule, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	return out
}

// inputPaths lists the references into input that compiled rules make, cut
// at their first non-ground part, shortest first and without those another
// one covers. ok is false when a rule reads input as a whole or through a
// computed key, or rebinds it with `with`: such a policy is not cached.
func inputPaths(rules []*ast.Rule) (paths []ast.Ref, ok bool) {
	ok = true
	var all []ast.Ref
	for _, r := range rules {
		ast.WalkExprs(r, func(e *ast.Expr) bool {
			if len(e.With) > 0 {
				ok = false
			}
			return !ok
		})
		ast.WalkTerms(r, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Var:
				if v.Equal(ast.InputRootDocument.Value) {
					ok = false
				}
			case ast.Ref:
				if !v[0].Equal(ast.InputRootDocument) {
					return !ok
				}
				prefix := v.GroundPrefix()
				if len(prefix) < 2 {
					ok = false
				}
				all = append(all, prefix)
				return true // its elements are not bare inputs
			}
			return !ok
		})
		if !ok {
			return nil, false
		}
	}
	// Shortest first, so a path that another covers is seen after it.
	sortRefs(all)
	for _, p := range all {
		covered := false
		for _, q := range paths {
			if p.HasPrefix(q) {
				covered = true
				break
			}
		}
		if !covered {
			paths = append(paths, p)
		}
	}
	return paths, true
}

func sortRefs(refs []ast.Ref) {
	for i := 1; i < len(refs); i++ {
		for j := i; j > 0 && (len(refs[j]) < len(refs[j-1]) || len(refs[j]) == len(refs[j-1]) && refs[j].Compare(refs[j-1]) < 0); j-- {
			refs[j], refs[j-1] = refs[j-1], refs[j]
		}
	}
}

// cacheKey identifies one evaluation: the compiled policy (a new revision is
// a new unit), the point, the tenant (the engine validates outputs against
// it, and the built-in and provider policies serve every tenant) and a hash
// of what the policy read (see appendProjection).
type cacheKey struct {
	u      *unit
	pi     int
	tenant string
	hash   uint64
}

type cacheEntry struct {
	key    cacheKey
	values []byte // what the policy read, compared on a hit: a hash is not proof
	out    layerOutput
}

// evalCache is a bounded LRU of policy outputs, safe for concurrent use.
type evalCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front is the most recently used
	entries map[cacheKey]*list.Element
}

func newEvalCache(max int) *evalCache {
	if max <= 0 {
		return nil
	}
	return &evalCache{max: max, order: list.New(), entries: make(map[cacheKey]*list.Element, max)}
}

func (c *evalCache) get(key cacheKey, values []byte) (layerOutput, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return layerOutput{}, false
	}
	e := el.Value.(*cacheEntry)
	if !bytes.Equal(e.values, values) {
		return layerOutput{}, false
	}
	c.order.MoveToFront(el)
	return e.out, true
}

func (c *evalCache) put(key cacheKey, values []byte, out layerOutput) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		// A colliding key: keep the newer values.
		el.Value = &cacheEntry{key: key, values: values, out: out}
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, values: values, out: out})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
}
