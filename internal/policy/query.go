package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/klaxon-ops/klaxon/internal/policy/planeval"
)

// pointQuery is one policy's compiled query for a decision point. It reads
// each output rule the policy defines through a comprehension of its own,
//
//	__klaxon_0 = [x | x = data.klaxon.triage.severity]; __klaxon_1 = [...]; ...
//
// so that an undefined output is an empty array rather than an undefined
// query, only the output rules (and what they use) are evaluated, never the
// package's other rules, and the results come back as the query's bindings.
// This costs about half of what one generated partial-object rule gathering
// the outputs did: no rule evaluation per output, no virtual-cache entries
// for the gathered object.
type pointQuery struct {
	body ast.Body // compiled
	qc   ast.QueryCompiler
	// vars[i] holds the output named names[i]; field[i] is its index in
	// pointFields, or -1 for enforced.
	vars  []ast.Var
	names []string
	field []int
	// roots are the output rules, where the dependency graph starts.
	roots []*ast.Rule
	// prog evaluates the same outputs from OPA's plan IR, several times
	// faster than topdown; nil when the planner's output uses what
	// planeval does not run. Any evaluation it cannot finish exactly as
	// topdown would is left to topdown (see eval).
	prog *planeval.Program
}

// maxFields bounds the outputs of one point, enforced aside.
const maxFields = 6

// outVarPrefix names the query's result variables; a variable of the query
// cannot clash with one of a rule.
const outVarPrefix = "__klaxon_"

func newPointQuery(c *ast.Compiler, pi int, names []string) (*pointQuery, error) {
	pq := &pointQuery{}
	var b strings.Builder
	for i, name := range names {
		ref := fmt.Sprintf("data.klaxon.%s.%s", points[pi], name)
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s%d = [x | x = %s]", outVarPrefix, i, ref)
		pq.vars = append(pq.vars, ast.Var(fmt.Sprintf("%s%d", outVarPrefix, i)))
		pq.names = append(pq.names, name)
		pq.field = append(pq.field, fieldIndex(pi, name)) // -1 for enforced
		pq.roots = append(pq.roots, c.GetRulesExact(ast.MustParseRef(ref))...)
	}
	body, err := ast.ParseBodyWithOpts(b.String(), parseOptions())
	if err != nil {
		return nil, err
	}
	pq.qc = c.QueryCompiler()
	if pq.body, err = pq.qc.Compile(body); err != nil {
		return nil, err
	}
	return pq, nil
}

// eval runs the query once against input and returns each output's value,
// nil where the policy left it undefined. It is bounded by timeout and by
// ctx; past either, the error is a topdown cancellation. The plan evaluator
// answers when it can; topdown answers the rest (a builtin's error, a
// conflict), so both give the same decisions and the same errors.
func (pq *pointQuery) eval(ctx context.Context, u *unit, input ast.Value, now time.Time, timeout time.Duration) ([]*ast.Term, error) {
	if pq.prog != nil {
		// The plan evaluator asks whether to stop at every loop and call:
		// a look at the clock now and then costs less than a timer.
		dc := deadlineCancels.Get().(*deadlineCancel)
		*dc = deadlineCancel{ctx: ctx, deadline: time.Now().Add(timeout)}
		out, err := pq.evalPlan(ctx, u, input, now, dc)
		// The plan evaluator keeps no reference to dc once it returns.
		*dc = deadlineCancel{}
		deadlineCancels.Put(dc)
		if err == nil || topdown.IsCancel(err) {
			return out, err
		}
	}
	// One timer per evaluation, and a callback on the caller's context only
	// when it can end: no goroutine, no derived context.
	c := topdown.NewCancel()
	timer := time.AfterFunc(timeout, c.Cancel)
	defer timer.Stop()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.Cancel)
		defer stop()
	}
	return pq.evalTopdown(ctx, u, input, now, c)
}

// deadlineCancel is a topdown.Cancel that says to stop once the deadline
// has passed or the caller's context has ended, looking at both every
// deadlineEvery questions.
type deadlineCancel struct {
	ctx      context.Context
	deadline time.Time
	asked    int
	done     bool
}

const deadlineEvery = 16

// deadlineCancels are reused: an evaluation needs one only while it runs.
var deadlineCancels = sync.Pool{New: func() any { return new(deadlineCancel) }}

func (d *deadlineCancel) Cancel() { d.done = true }

func (d *deadlineCancel) Cancelled() bool {
	if d.done {
		return true
	}
	if d.asked++; d.asked%deadlineEvery == 0 {
		d.done = time.Now().After(d.deadline) || d.ctx.Err() != nil
	}
	return d.done
}

// evalPlan evaluates the outputs with the plan evaluator.
func (pq *pointQuery) evalPlan(ctx context.Context, u *unit, input ast.Value, now time.Time, c topdown.Cancel) ([]*ast.Term, error) {
	opts := planeval.Options{Input: ast.NewTerm(input), Data: u.dataTerm, Cancel: c, Capabilities: sandboxCaps()}
	if pq.prog.NeedsTime() {
		opts.Time = ast.NumberTerm(json.Number(strconv.FormatInt(now.UnixNano(), 10)))
	}
	return pq.prog.Eval(ctx, opts)
}

// evalTopdown evaluates the outputs with OPA's topdown evaluator.
func (pq *pointQuery) evalTopdown(ctx context.Context, u *unit, input ast.Value, now time.Time, c topdown.Cancel) ([]*ast.Term, error) {
	txn, err := u.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer u.store.Abort(ctx, txn)

	rc := newRuleCache()
	defer rc.release()
	q := topdown.NewQuery(pq.body).
		WithQueryCompiler(pq.qc).
		WithCompiler(u.compiler).
		WithStore(u.store).
		WithTransaction(txn).
		WithBaseCache(u.data).
		WithVirtualCache(rc).
		WithInput(ast.NewTerm(input)).
		WithTime(now).
		WithCancel(c).
		WithMetrics(noMetrics).
		WithIndexing(true).
		WithEarlyExit(true)
	out := make([]*ast.Term, len(pq.vars))
	err = q.Iter(ctx, func(qr topdown.QueryResult) error {
		for i, v := range pq.vars {
			if t := qr[v]; t != nil {
				if arr, ok := t.Value.(*ast.Array); ok && arr.Len() > 0 {
					out[i] = arr.Elem(0)
				}
			}
		}
		return nil
	})
	return out, err
}

// errDeadline marks a policy cut off by the engine's deadline.
var errDeadline = errors.New("deadline exceeded")
