package policy

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/profiler"
	"github.com/open-policy-agent/opa/v1/rego"
)

func TestZZProf(t *testing.T) {
	which := os.Getenv("WHICH")
	src := BuiltinSource()
	if which == "fixture" {
		src = benchFixture(t, "acme")
	}
	u, problems := compileUnit(context.Background(), src)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	inputs := benchInputs(t, "acme")
	p := profiler.New()
	for i := 0; i < 100; i++ {
		in := inputs[i]
		in.validate()
		_, obj, _ := encodeInput(&in)
		if _, err := u.queries[0].Eval(context.Background(), rego.EvalParsedInput(withDecision(obj, newMerged(0))), rego.EvalQueryTracer(p)); err != nil {
			t.Fatal(err)
		}
	}
	tot := 0
	for _, s := range p.ReportTopNResults(200, []string{"num_eval"}) {
		tot += s.NumEval + s.NumRedo
	}
	fmt.Println("total eval+redo per decision", tot/100)
	for i, s := range p.ReportTopNResults(30, []string{"num_eval"}) {
		fmt.Printf("%2d %6dus eval=%4d redo=%4d %s\n", i, s.ExprTimeNs/100/1000, s.NumEval/100, s.NumRedo/100, s.Location)
	}
}
