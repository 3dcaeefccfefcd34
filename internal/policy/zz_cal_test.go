package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bestCPU(n int, f func(i int)) time.Duration {
	best := time.Hour
	for r := 0; r < 5; r++ {
		c0 := cpuNow()
		for i := 0; i < n; i++ {
			f(i)
		}
		if d := (cpuNow() - c0) / time.Duration(n); d < best {
			best = d
		}
	}
	return best
}

func TestZZCal(t *testing.T) {
	inputs := benchInputs(t, "acme")
	raw, _ := json.Marshal(inputs[0])
	ctx := context.Background()
	fmt.Println("json.Marshal cpu/op", bestCPU(1000, func(i int) { json.Marshal(inputs[i%len(inputs)]) }))
	fmt.Println("valueFromJSON cpu/op", bestCPU(1000, func(i int) { valueFromJSON(raw) }))
	objs := make([]ast.Value, len(inputs))
	for i := range inputs {
		in := inputs[i]
		in.validate()
		_, obj, _ := encodeInput(&in)
		objs[i] = withDecision(obj, newMerged(0))
	}
	for _, which := range []string{"builtin", "fixture"} {
		src := BuiltinSource()
		if which == "fixture" {
			src = benchFixture(t, "acme")
		}
		u, _ := compileUnit(ctx, src)
		fmt.Println(which, "unit eval cpu/op", bestCPU(300, func(i int) {
			if _, err := u.queries[0].Eval(ctx, rego.EvalParsedInput(objs[i%len(objs)])); err != nil {
				t.Fatal(err)
			}
		}))
	}
	pq, _ := rego.New(rego.Query("true")).PrepareForEval(ctx)
	fmt.Println("trivial cpu/op", bestCPU(1000, func(i int) { pq.Eval(ctx, rego.EvalParsedInput(objs[0])) }))
}
