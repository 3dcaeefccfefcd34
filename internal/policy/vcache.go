package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// ruleCache is the evaluator's cache of rule values within one evaluation
// (topdown.VirtualCache): each rule a decision reads is evaluated once.
// OPA's own keeps a trie of hash maps, one per step of a reference
// (data, klaxon, triage, severity), and allocates nodes and maps for every
// rule it records; this one keeps each frame's entries in a slice, indexed
// by the reference's hash, and is reused from one evaluation to the next,
// so recording a rule's value usually allocates nothing.
type ruleCache struct {
	frames []rcFrame
	depth  int // frames[:depth] are in use
}

type rcFrame struct {
	index   map[int]int32 // reference hash -> first entry + 1
	entries []rcEntry
	refs    []*ast.Term // the entries' references, copied (the evaluator reuses its slices)
}

type rcEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
	next      int32 // next entry with the same hash + 1, or 0
}

var _ topdown.VirtualCache = (*ruleCache)(nil)

var ruleCaches = sync.Pool{New: func() any { return &ruleCache{} }}

// newRuleCache returns an empty cache with its first frame pushed.
func newRuleCache() *ruleCache {
	c := ruleCaches.Get().(*ruleCache)
	c.Push()
	return c
}

// release empties the cache and returns it to the pool; the evaluation that
// used it must be over.
func (c *ruleCache) release() {
	for c.depth > 0 {
		c.Pop()
	}
	ruleCaches.Put(c)
}

func (c *ruleCache) Push() {
	if c.depth == len(c.frames) {
		c.frames = append(c.frames, rcFrame{})
	}
	c.depth++
}

func (c *ruleCache) Pop() {
	f := &c.frames[c.depth-1]
	clear(f.index)
	clear(f.entries) // drop the values, for the collector
	f.entries = f.entries[:0]
	clear(f.refs)
	f.refs = f.refs[:0]
	c.depth--
}

func (c *ruleCache) find(f *rcFrame, ref ast.Ref, h int) *rcEntry {
	for i := f.index[h]; i != 0; i = f.entries[i-1].next {
		if e := &f.entries[i-1]; e.ref.Equal(ref) {
			return e
		}
	}
	return nil
}

func (c *ruleCache) Get(ref ast.Ref) (*ast.Term, bool) {
	f := &c.frames[c.depth-1]
	if len(f.entries) == 0 {
		return nil, false
	}
	e := c.find(f, ref, ref.Hash())
	if e == nil {
		return nil, false
	}
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

func (c *ruleCache) Put(ref ast.Ref, value *ast.Term) {
	f := &c.frames[c.depth-1]
	h := ref.Hash()
	if e := c.find(f, ref, h); e != nil {
		e.value, e.undefined = value, value == nil
		return
	}
	if f.index == nil {
		f.index = make(map[int]int32, 32)
	}
	start := len(f.refs)
	f.refs = append(f.refs, ref...)
	f.entries = append(f.entries, rcEntry{ref: f.refs[start:len(f.refs):len(f.refs)], value: value, undefined: value == nil, next: f.index[h]})
	f.index[h] = int32(len(f.entries))
}

func (c *ruleCache) Keys() []ast.Ref {
	f := &c.frames[c.depth-1]
	var keys []ast.Ref
	for _, e := range f.entries {
		if !e.undefined {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
