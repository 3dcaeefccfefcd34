package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func BenchmarkZZUnit(b *testing.B) {
	inputs := benchInputs(b, "acme")
	objs := make([]ast.Value, len(inputs))
	for i := range inputs {
		in := inputs[i]
		in.validate()
		_, obj, _ := encodeInput(&in)
		objs[i] = withDecision(obj, newMerged(0))
	}
	ctx := context.Background()
	src := BuiltinSource()
	if testing.Short() {
		src = benchFixture(b, "acme")
	}
	u, _ := compileUnit(ctx, src)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := u.queries[0].Eval(ctx, rego.EvalParsedInput(objs[i%len(objs)])); err != nil {
			b.Fatal(err)
		}
	}
}
