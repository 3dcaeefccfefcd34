package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/policies"
)

// DefaultTimeout bounds one policy's evaluation when Options leave it unset.
const DefaultTimeout = 100 * time.Millisecond

// BuiltinName names the built-in library in records and messages.
const BuiltinName = "builtin"

// Options configure an Engine.
type Options struct {
	// SystemNamespace is the provider's namespace; its policies apply to every
	// tenant. Default v1alpha1.DefaultSystemNamespace.
	SystemNamespace string
	// Timeout bounds each policy's evaluation at a decision point; a policy
	// that runs past it is dropped from that decision. Default DefaultTimeout.
	Timeout time.Duration
	// CacheEntries bounds the cache of policy outputs, keyed by policy
	// revision, point and the parts of the input the policy reads. Default
	// DefaultCacheEntries; negative turns the cache off.
	CacheEntries int
}

// Engine evaluates the decision points for every tenant. It holds the
// built-in library, the provider's policies and each tenant's, every one
// compiled apart. It is safe for concurrent use: evaluations never wait for
// Upsert or Delete, and each sees one whole set of policies.
type Engine struct {
	system  string
	timeout time.Duration
	builtin *unit
	cache   *evalCache // nil when off

	mu    sync.Mutex // serialises writers; readers use state
	state atomic.Pointer[policySet]
}

// policySet is an immutable snapshot of the compiled policies. Writers copy
// it and swap the pointer, so an evaluation that loaded it keeps a
// consistent set however long it runs.
type policySet struct {
	provider []*unit            // in name order
	tenants  map[string][]*unit // namespace -> policies in name order
}

// NewEngine compiles the built-in library and returns an engine with no
// provider or tenant policy yet.
func NewEngine(opts Options) (*Engine, error) {
	if opts.SystemNamespace == "" {
		opts.SystemNamespace = v1alpha1.DefaultSystemNamespace
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CacheEntries == 0 {
		opts.CacheEntries = DefaultCacheEntries
	}
	u, problems := compileUnit(context.Background(), BuiltinSource())
	if len(problems) > 0 {
		return nil, fmt.Errorf("compile the built-in policies: %s", joinProblems(problems))
	}
	u.key, u.id = BuiltinName, BuiltinName+"@"+u.revision
	e := &Engine{system: opts.SystemNamespace, timeout: opts.Timeout, builtin: u, cache: newEvalCache(opts.CacheEntries)}
	e.state.Store(&policySet{tenants: map[string][]*unit{}})
	return e, nil
}

// BuiltinSource is the built-in library (package policies) as a Source.
func BuiltinSource() Source {
	return Source{Namespace: BuiltinName, Name: BuiltinName, Modules: policies.Modules(), Tests: policies.Tests()}
}

// SystemNamespace is the provider's namespace.
func (e *Engine) SystemNamespace() string { return e.system }

// Upsert compiles a policy and puts it in force, replacing the policy of the
// same namespace and name. It compiles on the caller's goroutine and then
// swaps the set atomically; evaluations running meanwhile finish on the old
// set. When the policy has problems, the last good version (if any) stays in
// force. The result is the revision in force for this policy, "" when none.
// A policy whose revision is already in force is not compiled again.
func (e *Engine) Upsert(ctx context.Context, src Source) (revision string, problems []Problem) {
	if cur := e.current(src.Namespace, src.Name); cur != nil && cur.revision == src.Revision() {
		return cur.revision, nil
	}
	u, problems := compileUnit(ctx, src)
	if len(problems) > 0 {
		if cur := e.current(src.Namespace, src.Name); cur != nil {
			return cur.revision, problems
		}
		return "", problems
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.swap(src.Namespace, func(list []*unit) []*unit {
		list = slices.DeleteFunc(list, func(x *unit) bool { return x.name == src.Name })
		list = append(list, u)
		slices.SortFunc(list, func(a, b *unit) int { return strings.Compare(a.name, b.name) })
		return list
	})
	return u.revision, nil
}

// Delete takes a policy out of force; deleting an unknown policy does nothing.
func (e *Engine) Delete(namespace, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.swap(namespace, func(list []*unit) []*unit {
		return slices.DeleteFunc(list, func(x *unit) bool { return x.name == name })
	})
}

// Revision returns the revision of a policy in force, and whether there is one.
func (e *Engine) Revision(namespace, name string) (string, bool) {
	if u := e.current(namespace, name); u != nil {
		return u.revision, true
	}
	return "", false
}

// swap replaces one namespace's list in a copy of the set; e.mu is held.
func (e *Engine) swap(namespace string, change func([]*unit) []*unit) {
	old := e.state.Load()
	next := &policySet{provider: old.provider, tenants: old.tenants}
	if namespace == e.system {
		next.provider = change(slices.Clone(old.provider))
	} else {
		next.tenants = make(map[string][]*unit, len(old.tenants)+1)
		for ns, list := range old.tenants {
			next.tenants[ns] = list
		}
		if list := change(slices.Clone(old.tenants[namespace])); len(list) > 0 {
			next.tenants[namespace] = list
		} else {
			delete(next.tenants, namespace)
		}
	}
	e.state.Store(next)
}

func (e *Engine) current(namespace, name string) *unit {
	set := e.state.Load()
	list := set.tenants[namespace]
	if namespace == e.system {
		list = set.provider
	}
	for _, u := range list {
		if u.name == name {
			return u
		}
	}
	return nil
}

func joinProblems(ps []Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}
