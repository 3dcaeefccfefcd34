package planeval

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestNativesMatchOPA checks every native builtin against OPA's own on
// operands it takes and some it leaves to OPA.
func TestNativesMatchOPA(t *testing.T) {
	cases := map[string][][]string{
		"object.filter": {
			{`{"a": 1, "b": {"c": [2]}, "d": null}`, `{"a", "b", "x"}`},
			{`{"a": 1, "b": {"c": [2]}, "d": null}`, `["b", "a", "b", "zz"]`},
			{`{"a": 1}`, `set()`},
			{`{"a": 1}`, `[]`},
			{`{}`, `{"a"}`},
			{`{1: "one", "1": "string one", [1]: "array"}`, `{1, [1]}`},
			{`{"title": "t", "description": "d", "source": {"labels": {}}}`, `{"title", "description"}`},
			{`{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9}`, `["a", "b", "c", "d", "e", "f", "g", "h", "i"]`},
			{`{"a": 1, "b": 2}`, `{"a": 0}`},
			{`["a"]`, `{"a"}`},
			{`{"a": 1}`, `"a"`},
		},
		"min": {
			{`{3, 1, 2}`},
			{`[3, 1, 2, 1.0]`},
			{`["b", "a", ["a"], "a"]`},
			{`{[2, "x"], [1, "z"], [1, "y"]}`},
			{`[5, 2]`},
			{`set()`},
			{`[]`},
			{`"a"`},
		},
		"max": {
			{`{3, 1, 2}`},
			{`[1, 3, 2, 3.0]`},
			{`[1.0, 1]`},
			{`{"b", "a", null}`},
			{`[[1, "a"], [1, "b"], [0, "c"]]`},
			{`set()`},
			{`[]`},
			{`{"a": 1}`},
		},
		"or": {
			{`{1, 2}`, `set()`},
			{`set()`, `{"a", ["b"]}`},
			{`set()`, `set()`},
			{`{1}`, `{2}`},
			{`{1}`, `[]`},
			{`[]`, `set()`},
			{`{1}`, `{1, 1.0}`},
		},
	}
	for name, operands := range cases {
		native, f := natives[name], topdown.GetBuiltin(name)
		for _, ops := range operands {
			args := make([]*ast.Term, len(ops))
			for i, o := range ops {
				args[i] = ast.MustParseTerm(o)
			}
			var want *ast.Term
			wantErr := f(topdown.BuiltinContext{}, args, func(t *ast.Term) error { want = t; return nil })
			got, ok := native(args)
			if !ok {
				continue // OPA's decides
			}
			if wantErr != nil {
				t.Errorf("%s%v = %v, OPA's fails: %v", name, ops, got, wantErr)
				continue
			}
			if ast.Compare(got.Value, want.Value) != 0 || got.Hash() != want.Hash() || got.String() != want.String() {
				t.Errorf("%s%v = %v, OPA's gives %v", name, ops, got, want)
			}
		}
	}
}

// TestEqualIsCompare checks equal against ast.Compare on pairs of values of
// every kind.
func TestEqualIsCompare(t *testing.T) {
	values := []string{`"a"`, `"b"`, `""`, `"1"`, `1`, `1.0`, `2`, `true`, `false`, `null`,
		`[]`, `["a"]`, `{}`, `{"a": 1}`, `set()`, `{"a"}`, `{1}`}
	for _, x := range values {
		for _, y := range values {
			a, b := ast.MustParseTerm(x), ast.MustParseTerm(y)
			if got, want := equal(a, b), ast.Compare(a.Value, b.Value) == 0; got != want {
				t.Errorf("equal(%s, %s) = %v, want %v", x, y, got, want)
			}
		}
	}
}
