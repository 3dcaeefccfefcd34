package policy

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"
)

// Klaxon adds one builtin to Rego. Scanning text for keywords is what triage
// policies do most, and in plain Rego it costs a handful of builtin calls
// (lower, replace, split, filter), each a full expression evaluation; done in
// Go it is one. It is pure and deterministic, so it is inside the sandbox.

// KeywordsBuiltin is the name of the keyword-scanning builtin.
const KeywordsBuiltin = "klaxon.keywords"

var keywordsDecl = &ast.Builtin{
	Name: KeywordsBuiltin,
	Description: "Returns the entries of `table` whose key occurs in `text` as whole words, ignoring case " +
		"and punctuation: \"data breach\" matches \"Data-Breach!\" but \"down\" does not match \"download\". " +
		"`text` is a string, or an array or object whose strings (values, at any depth) are scanned one by one.",
	Decl: types.NewFunction(
		types.Args(
			types.Named("table", types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))).Description("keywords (one or more words) to anything"),
			types.Named("text", types.A).Description("a string, or an array or object of strings"),
		),
		types.Named("found", types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))).Description("the entries of table whose keyword occurs in text"),
	),
}

func init() {
	// Registered globally, as OPA registers its own builtins, so that the
	// compiler, the evaluator and the test runner all know it.
	ast.RegisterBuiltin(keywordsDecl)
	topdown.RegisterBuiltinFunc(KeywordsBuiltin, builtinKeywords)
}

func builtinKeywords(_ topdown.BuiltinContext, operands []*ast.Term, iter func(*ast.Term) error) error {
	table, err := builtins.ObjectOperand(operands[0].Value, 1)
	if err != nil {
		return err
	}
	text := normalizedText(operands[1].Value)
	var found [][2]*ast.Term
	key := make([]byte, 0, 64) // reused: no allocation per keyword
	table.Foreach(func(k, v *ast.Term) {
		s, ok := k.Value.(ast.String)
		if !ok {
			return
		}
		key = appendWords(key[:0], string(s))
		if len(key) > 1 && bytes.Contains(text, key) {
			found = append(found, [2]*ast.Term{k, v})
		}
	})
	return iter(ast.NewTerm(ast.NewObject(found...)))
}

// normalizedText renders every string in v as its lower-case words, each
// with a space on both sides, strings apart by "|", so that a phrase matches
// only within one string.
func normalizedText(v ast.Value) []byte {
	b := make([]byte, 0, 512)
	var walk func(ast.Value)
	walk = func(v ast.Value) {
		switch x := v.(type) {
		case ast.String:
			b = appendWords(b, string(x))
			b = append(b, '|')
		case *ast.Array:
			x.Foreach(func(t *ast.Term) { walk(t.Value) })
		case ast.Object:
			x.Foreach(func(_, t *ast.Term) { walk(t.Value) })
		case ast.Set:
			x.Foreach(func(t *ast.Term) { walk(t.Value) })
		}
	}
	walk(v)
	return b
}

// appendWords appends s's words (runs of letters and digits), lower-cased,
// as " w1 w2 ... wn "; a string without words appends " ".
func appendWords(b []byte, s string) []byte {
	b = append(b, ' ')
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'):
			b = append(b, byte(r))
		case r < utf8.RuneSelf && 'A' <= r && r <= 'Z':
			b = append(b, byte(r+'a'-'A'))
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
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
