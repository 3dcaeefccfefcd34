package planeval

import "github.com/open-policy-agent/opa/v1/ast"

// natives are builtins computed here rather than by OPA's functions, for
// the operands they take: each gives what OPA's gives, which the tests
// check, and leaves any other operands (those OPA rejects, say) to OPA's.
var natives = map[string]func(args []*ast.Term) (*ast.Term, bool){
	"object.filter": objectFilter,
	"or":            setUnion,
	"min":           minOf,
	"max":           maxOf,
}

// minOf is min over a non-empty set or array, returning the element OPA's
// picks rather than a new term of its value: a set's first (its elements
// are sorted), an array's last least one.
func minOf(args []*ast.Term) (*ast.Term, bool) {
	switch x := args[0].Value.(type) {
	case ast.Set:
		if x.Len() == 0 {
			return nil, false
		}
		return x.Slice()[0], true
	case *ast.Array:
		if x.Len() == 0 {
			return nil, false
		}
		least := x.Elem(0)
		for i := 1; i < x.Len(); i++ {
			if e := x.Elem(i); least.Value.Compare(e.Value) >= 0 {
				least = e
			}
		}
		return least, true
	}
	return nil, false
}

// maxOf is max over a non-empty set or array, as minOf: a set's first
// greatest element (slices.MaxFunc's pick), an array's last.
func maxOf(args []*ast.Term) (*ast.Term, bool) {
	switch x := args[0].Value.(type) {
	case ast.Set:
		elems := x.Slice()
		if len(elems) == 0 {
			return nil, false
		}
		j := len(elems) - 1
		for j > 0 && elems[j-1].Value.Compare(elems[j].Value) == 0 {
			j--
		}
		return elems[j], true
	case *ast.Array:
		if x.Len() == 0 {
			return nil, false
		}
		greatest := x.Elem(0)
		for i := 1; i < x.Len(); i++ {
			if e := x.Elem(i); greatest.Value.Compare(e.Value) <= 0 {
				greatest = e
			}
		}
		return greatest, true
	}
	return nil, false
}

// setUnion is a | b for sets when one of them is empty: the other one, as
// it is, rather than a copy. Sets are never changed once a plan has built
// them (see emptySet), so sharing one is safe.
func setUnion(args []*ast.Term) (*ast.Term, bool) {
	a, ok := args[0].Value.(ast.Set)
	if !ok {
		return nil, false
	}
	b, ok := args[1].Value.(ast.Set)
	if !ok {
		return nil, false
	}
	switch {
	case b.Len() == 0:
		return args[0], true
	case a.Len() == 0:
		return args[1], true
	}
	return nil, false
}

// objectFilter is object.filter(object, keys) for keys given as a set or
// an array: the object's members whose key is one of keys. OPA's builds an
// object of the keys, then walks both objects in a generic filter, a dozen
// allocations for what is one lookup per key.
func objectFilter(args []*ast.Term) (*ast.Term, bool) {
	obj, ok := args[0].Value.(ast.Object)
	if !ok {
		return nil, false
	}
	var keys []*ast.Term
	switch x := args[1].Value.(type) {
	case ast.Set:
		keys = x.Slice()
	case *ast.Array:
		if x.Len() > 8 {
			return nil, false
		}
		var buf [8]*ast.Term
		for i := range x.Len() {
			buf[i] = x.Elem(i)
		}
		keys = buf[:x.Len()]
	default:
		return nil, false
	}
	if len(keys) > 8 {
		return nil, false
	}
	var pairs [8][2]*ast.Term
	n := 0
next:
	for _, k := range keys {
		v := obj.Get(k)
		if v == nil {
			continue
		}
		for _, m := range pairs[:n] {
			if m[0].Equal(k) {
				continue next // a key an array names twice
			}
		}
		pairs[n] = [2]*ast.Term{k, v}
		n++
	}
	return ast.NewTerm(ast.NewObject(pairs[:n]...)), true
}
