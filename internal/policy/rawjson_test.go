package policy

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestRawFind checks that reading a path from the JSON text finds what
// reading it from the AST finds.
func TestRawFind(t *testing.T) {
	docs := []string{
		`{"a": {"b": [1, {"c": "x\"y"}, true], "d": null, "e": -1.5e3}, "f": "\u00e9", "a2": {}}`,
		`{"dup": 1, "dup": {"z": 2}}`,
		`{"k\u0062": 3, "s": "}]", "n": [[], [[]], {"x": [1,2]}]}`,
		`{"s": "a\\", "f": "\\\"", "a": {"b": [1]}}`,
	}
	for _, in := range benchInputs(t, "acme")[:50] {
		raw, _, err := encodeInput(&in)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(raw))
	}
	paths := []string{"x.a", "x.a.b", "x.a.b[0]", "x.a.b[1].c", "x.a.b[2]", "x.a.b[3]", "x.a.d", "x.a.e", "x.f", "x.a2",
		"x.dup", "x.dup.z", "x.kb", "x.s", "x.n[1]", "x.n[2].x[1]", "x.missing", "x.a.b.c", "x.f.g",
		"x.incident.spec", "x.incident.spec.source.labels", "x.incident.spec.title", "x.now", "x.incident.status.alerts.count", "x.alerts[0]"}
	for _, doc := range docs {
		v, err := valueFromJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range paths {
			p := ast.MustParseRef(ps)[1:]
			want, werr := v.Find(p)
			got, ok := rawFind([]byte(doc), p)
			if !strings.Contains(doc, `"dup"`) {
				// Without a member twice, the first is the last.
				if got2, ok2 := rawFindUnique([]byte(doc), p); ok2 != ok || !bytes.Equal(got2, got) {
					t.Errorf("%.40s %s: rawFindUnique gives %q, %v; rawFind %q, %v", doc, ps, got2, ok2, got, ok)
				}
			}
			if ok != (werr == nil) {
				t.Errorf("%.40s %s: found %v, want %v", doc, ps, ok, werr == nil)
				continue
			}
			if !ok {
				continue
			}
			gv, err := valueFromJSON(got)
			if err != nil {
				t.Errorf("%.40s %s: %q: %v", doc, ps, got, err)
				continue
			}
			if gv.Compare(want) != 0 {
				t.Errorf("%.40s %s: %s, want %v", doc, ps, got, want)
			}
		}
	}
}

// TestPartialInputAgrees checks that a policy given only the parts of the
// input it reads decides as it does given the whole input.
func TestPartialInputAgrees(t *testing.T) {
	e := newBenchEngine(t)
	units := []*unit{e.builtin}
	for _, src := range []Source{benchFixture(t, "acme"), benchProvider} {
		u, problems := compileUnit(context.Background(), src)
		if problems != nil {
			t.Fatal(problems)
		}
		units = append(units, u)
	}
	cc := &checkContext{tenant: "acme", system: e.system, point: PointTriage}
	for i, in := range benchInputs(t, "acme")[:300] {
		if err := in.validate(); err != nil {
			t.Fatal(err)
		}
		raw, full, err := encodeInput(&in)
		if err != nil {
			t.Fatal(err)
		}
		di := &decisionInput{raw: raw}
		m := newMerged(0)
		for _, u := range units {
			if !u.cacheable[0] {
				t.Fatalf("%s: not cacheable", u.key)
			}
			var whole ast.Value = full
			if u.readsDecision {
				whole = withDecision(full, m)
			}
			want, err := e.evalQuery(context.Background(), u, 0, whole, in.Now, cc)
			if err != nil {
				t.Fatal(err)
			}
			part, err := di.value(u, 0, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.evalQuery(context.Background(), u, 0, part, in.Now, cc)
			if err != nil {
				t.Fatal(err)
			}
			for fi := range want.values {
				w, g := want.values[fi], got.values[fi]
				if (w == nil) != (g == nil) || w != nil && w.Compare(g) != 0 {
					t.Errorf("input %d, %s, %s: %v with the whole input, %v with its parts", i, u.key, pointFields[0][fi].name, w, g)
				}
			}
			m.apply(want, layerBuiltin, u.key)
		}
	}
}
