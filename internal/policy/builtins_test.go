package policy

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// appendWordsReference is appendWords done the obvious way, rune by rune.
func appendWordsReference(b []byte, s string) []byte {
	b = append(b, ' ')
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b = utf8.AppendRune(b, unicode.ToLower(r))
		case b[len(b)-1] != ' ':
			b = append(b, ' ')
		}
	}
	if b[len(b)-1] != ' ' {
		b = append(b, ' ')
	}
	return b
}

// keywordsReference is klaxon.keywords done the obvious way: every string
// rendered as " w1 w2 ... wn ", each keyword rendered so and searched for.
func keywordsReference(table ast.Object, text ast.Value) ast.Object {
	var b []byte
	var walk func(ast.Value)
	walk = func(v ast.Value) {
		switch x := v.(type) {
		case ast.String:
			b = appendWordsReference(b, string(x))
			b = append(b, '|')
		case *ast.Array:
			x.Foreach(func(t *ast.Term) { walk(t.Value) })
		case ast.Object:
			x.Foreach(func(_, t *ast.Term) { walk(t.Value) })
		case ast.Set:
			x.Foreach(func(t *ast.Term) { walk(t.Value) })
		}
	}
	walk(text)
	out := ast.NewObject()
	table.Foreach(func(k, v *ast.Term) {
		if s, ok := k.Value.(ast.String); ok {
			if key := appendWordsReference(nil, string(s)); len(key) > 1 && bytes.Contains(b, key) {
				out.Insert(k, v)
			}
		}
	})
	return out
}

func callKeywords(t testing.TB, table ast.Object, text ast.Value) ast.Value {
	var got ast.Value
	err := builtinKeywords(topdown.BuiltinContext{}, []*ast.Term{ast.NewTerm(table), ast.NewTerm(text)}, func(r *ast.Term) error {
		got = r.Value
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestKeywordsAgainstReference compares the indexed scan with the obvious
// one on the benchmark fixture's table and inputs.
func TestKeywordsAgainstReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/bench/services.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := util.UnmarshalJSON(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	table := ast.MustInterfaceToValue(cfg["keywords"]).(ast.Object)
	extra := ast.MustParseTerm(`{"data breach": 1, "down": 2, "Élan": 3, "5xx": 4, "!!!": 5, "": 6, "a b c": 7, "b": 8}`).Value.(ast.Object)
	texts := []ast.Value{
		ast.String("Possible DATA-BREACH; API down!"), ast.String("download shutdown"), ast.String("a b a b c"),
		ast.MustParseTerm(`["data", "breach"]`).Value, ast.MustParseTerm(`{"a": "élan vital", "b": ["5XX errors"], "c": {"a b", "c"}}`).Value,
		ast.Number("42"), ast.String(""), ast.String("!!!"),
	}
	for _, in := range benchInputs(t, "acme")[:300] {
		_, obj, err := encodeInput(&in)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := obj.Find(ast.MustParseRef("x.incident.spec")[1:])
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, spec)
	}
	// Twice: the second time, the results are the objects the matchers
	// kept the first time.
	for pass := range 2 {
		for _, tab := range []ast.Object{table, extra} {
			for _, text := range texts {
				got, want := callKeywords(t, tab, text), keywordsReference(tab, text)
				if got.Compare(want) != 0 || got.Hash() != want.Hash() {
					t.Errorf("pass %d: klaxon.keywords(%.40v, %.80v) = %v, want %v", pass, tab, text, got, want)
				}
			}
		}
	}
}

// FuzzKeywords compares the indexed scan with the obvious one on any text.
func FuzzKeywords(f *testing.F) {
	table := ast.MustParseTerm(`{"data breach": 1, "down": 2, "Élan": 3, "5xx": 4, "a a": 5, "a b a": 6, "ünï cödé": 7}`).Value.(ast.Object)
	for _, s := range []string{"Data-Breach!", "down town", "a a a b a", "ÉLAN", "ÜNÏ, CÖDÉ"} {
		f.Add(s, "second string")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := string(wordsOf(a)), string(appendWordsReference(nil, a)); got != want {
			t.Errorf("wordsOf(%q) = %q, want %q", a, got, want)
		}
		text := ast.NewArray(ast.StringTerm(a), ast.StringTerm(b))
		if got, want := callKeywords(t, table, text), keywordsReference(table, text); got.Compare(want) != 0 {
			t.Errorf("%q %q: %v, want %v", a, b, got, want)
		}
	})
}

// TestScanWords checks the scan's one-pass tokenizer against the obvious one:
// the same text, and a start for each word, which ends one byte before the
// next one starts.
func TestScanWords(t *testing.T) {
	cases := fuzzStrings([]string{"", " ", "a", "Data-Breach!", "  x  y  ", "ÉCOLE down"}, 5, 3000, 12,
		"a", "B", "z", "0", "9", " ", "-", "!", "\n", "é", "É", "ß", "İ", "\u00a0", "日", "\xff", "_")
	sc := &scan{}
	for _, s := range cases {
		want := appendWordsReference(nil, s)
		sc.words(s)
		if string(sc.buf) != string(want) {
			t.Fatalf("words(%q) = %q, want %q", s, sc.buf, want)
		}
		fields := strings.Fields(string(want))
		if len(fields) != len(sc.starts) {
			t.Fatalf("words(%q): %d starts, want %d", s, len(sc.starts), len(fields))
		}
		for wi, f := range fields {
			if got := string(sc.buf[sc.starts[wi]:sc.end(wi)]); got != f {
				t.Fatalf("words(%q): word %d = %q, want %q", s, wi, got, f)
			}
		}
	}
}
