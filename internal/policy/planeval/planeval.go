// Package planeval evaluates Rego policies from OPA's plan IR
// (github.com/open-policy-agent/opa/v1/ir) instead of with OPA's topdown
// interpreter. The planner turns each rule into a straight sequence of
// lookups, comparisons and builtin calls over local variables; running that
// sequence costs a fraction of topdown's unification, bindings and
// continuations per expression.
//
// It is a second evaluator, not a replacement: Compile refuses what it does
// not run (`with`, dynamic calls), and
// Eval returns an error whenever the result could differ from topdown's (a
// builtin's error, which topdown treats as undefined, a conflict, a base
// document under a rule), so that the caller evaluates that decision with
// topdown instead. The
// semantics of blocks, breaks, scans and negation follow OPA's Wasm
// compiler (internal/compiler/wasm), the reference implementation of the IR.
package planeval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/compile"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// ErrUnsupported marks a policy or an evaluation this package does not run;
// the caller uses topdown.
var ErrUnsupported = errors.New("not supported by the plan evaluator")

// Program is a policy compiled to the plan IR, one plan per entrypoint.
type Program struct {
	plans []*block // plans[i] evaluates entrypoints[i]: its blocks in order
	funcs []*function
	// maxLocals is the most locals a plan needs; frameHint is room for the
	// frames of calls (the sum of every function's locals).
	maxLocals, frameHint int
	pool                 sync.Pool // of *machine
	// npaths is how many paths from input and data lookups read.
	npaths int
	// needsTime: a builtin the plan calls reads the evaluation's time.
	needsTime bool
}

// timeBuiltins read BuiltinContext.Time.
var timeBuiltins = map[string]bool{"time.now_ns": true, "io.jwt.decode_verify": true, "http.send": true}

// Subset returns a program that evaluates only the entrypoints at the
// given indexes of the ones p was compiled for, in that order. It shares
// p's functions and constants.
func (p *Program) Subset(indexes []int) *Program {
	sub := &Program{funcs: p.funcs, maxLocals: p.maxLocals, frameHint: p.frameHint, npaths: p.npaths, needsTime: p.needsTime}
	for _, i := range indexes {
		sub.plans = append(sub.plans, p.plans[i])
	}
	return sub
}

// NeedsTime says whether Eval needs Options.Time: whether a builtin the
// plan calls reads the evaluation's time.
func (p *Program) NeedsTime() bool { return p.needsTime }

type function struct {
	name    string
	params  []int
	ret     int
	blocks  []*block
	nlocals int
	memo    bool // a rule (input and data only): evaluated once per Eval
	index   int
}

type block struct{ stmts []stmt }

type opcode uint8

const (
	opNop opcode = iota
	opReturn
	opCall
	opCallBuiltin
	opBlock
	opBreak
	opDot
	opLen
	opScan
	opNot
	opAssignInt
	opAssignVar
	opAssignVarOnce
	opResetLocal
	opMakeNull
	opMakeNumber // MakeNumberInt and MakeNumberRef: a constant number
	opMakeArray
	opMakeObject
	opMakeSet
	opEqual
	opNotEqual
	opIsArray
	opIsObject
	opIsSet
	opIsDefined
	opIsUndefined
	opArrayAppend
	opObjectInsert
	opObjectInsertOnce
	opSetAdd
	opResultSetAdd
	opResult // {"result": a} added to the result set, without the object
	// opMakeArrayOf makes an array of its args at once: what the planner
	// writes as MakeArray and an ArrayAppend per element (see fuseArrays).
	opMakeArrayOf
	// opObjectMerge merges a base document with a virtual one at the same
	// path. The engine's data never has a document where a policy has
	// rules, so it never runs; if it did, topdown would take over.
	opObjectMerge
	// opSetAddMin and opSetAddMax keep the least (greatest) element added
	// to a set only min (max) reads, opUnionMin and opUnionMax compute
	// min(a | b) (max) without the union, and opAssignDefined takes their
	// value in place of the call: see fuseAggregates.
	opSetAddMin
	opSetAddMax
	opUnionMin
	opUnionMax
	opAssignDefined
	// opMinOf and opMaxOf are min and max of an array literal's elements,
	// the array never made (see fuseAggregates).
	opMinOf
	opMaxOf
	// opReturnExtreme returns what a set rule kept instead of its set (see
	// extremeRules).
	opReturnExtreme
)

// operand is a local (k == nil) or a constant.
type operand struct {
	local int
	k     *ast.Term
}

type stmt struct {
	op      opcode
	a, b, c operand // sources: a (and b, c) as each statement reads them
	target  int     // the local written, or the key local of a scan
	value   int     // the value local of a scan
	index   int     // a break's index, a capacity; a fused union's kept operands (see extremeRules)
	num     *ast.Term
	blocks  []*block
	fn      *function
	bi      *builtinCall
	args    []operand
	// path, when not 0, is 1 + the number of the path from input or data
	// a Dot reads with constant keys (see markPureDots): its result is
	// looked up once per evaluation and remembered in that slot.
	path int
}

type builtinCall struct {
	name string
	f    topdown.BuiltinFunc
	decl *ast.Builtin
	// native, when set, computes the builtin for the operands it takes
	// (ok) exactly as f would, without what f spends on generality; for
	// any others f is called.
	native func(args []*ast.Term) (v *ast.Term, ok bool)
}

// Compile plans the modules' entrypoints (paths such as
// "klaxon/triage/severity") with OPA's compiler and prepares the plans. It
// returns an error wrapping ErrUnsupported when the plan uses what Eval does
// not run, or the planner's error.
func Compile(ctx context.Context, modules map[string]*ast.Module, entrypoints []string, caps *ast.Capabilities) (*Program, error) {
	b := &bundle.Bundle{Data: map[string]any{}}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range modules {
			if !yield(k) {
				return
			}
		}
	}) {
		m := modules[name]
		b.Modules = append(b.Modules, bundle.ModuleFile{Path: name, URL: name, Parsed: m.Copy(), Raw: []byte(m.String())})
	}
	c := compile.New().
		WithTarget(compile.TargetPlan).
		WithEntrypoints(entrypoints...).
		WithBundle(b).
		WithCapabilities(caps).
		WithRegoVersion(ast.RegoV1).
		WithPruneUnused(true).
		WithEnablePrintStatements(false)
	if err := c.Build(ctx); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	out := c.Bundle()
	if out == nil || len(out.PlanModules) != 1 {
		return nil, fmt.Errorf("plan: %w: no plan produced", ErrUnsupported)
	}
	var pol ir.Policy
	if err := json.Unmarshal(out.PlanModules[0].Raw, &pol); err != nil {
		return nil, fmt.Errorf("plan: decode: %w", err)
	}
	return fromPolicy(&pol, entrypoints)
}

// fromPolicy turns the planner's output into a Program.
func fromPolicy(pol *ir.Policy, entrypoints []string) (*Program, error) {
	if pol.Plans == nil || pol.Static == nil {
		return nil, fmt.Errorf("plan: %w: empty policy", ErrUnsupported)
	}
	l := &linker{pol: pol, funcs: map[string]*function{}, builtins: map[string]*builtinCall{}, paths: map[string]int{}}
	for _, s := range pol.Static.Strings {
		l.strings = append(l.strings, ast.StringTerm(s.Value))
	}
	for _, bf := range pol.Static.BuiltinFuncs {
		f := topdown.GetBuiltin(bf.Name)
		decl := ast.BuiltinMap[bf.Name]
		if f == nil || decl == nil {
			return nil, fmt.Errorf("plan: %w: builtin %s", ErrUnsupported, bf.Name)
		}
		l.builtins[bf.Name] = &builtinCall{name: bf.Name, f: f, decl: decl, native: natives[bf.Name]}
	}
	p := &Program{}
	for name := range l.builtins {
		p.needsTime = p.needsTime || timeBuiltins[name]
	}
	if pol.Funcs != nil {
		for i, f := range pol.Funcs.Funcs {
			fn := &function{name: f.Name, ret: int(f.Return), memo: len(f.Params) == 2, index: i}
			for _, prm := range f.Params {
				fn.params = append(fn.params, int(prm))
			}
			l.funcs[f.Name] = fn
			p.funcs = append(p.funcs, fn)
		}
		for i, f := range pol.Funcs.Funcs {
			fn := p.funcs[i]
			l.maxLocal = max(fn.ret, slices.Max(append([]int{0}, fn.params...)))
			for _, b := range f.Blocks {
				lb, err := l.block(b)
				if err != nil {
					return nil, fmt.Errorf("plan: %s: %w", f.Name, err)
				}
				fn.blocks = append(fn.blocks, lb)
			}
			foldConstants(fn.blocks)
			fuseArrays(fn.blocks)
			fuseAggregates(fn.blocks)
			stripNops(fn.blocks)
			l.markPureDots(fn.blocks, fn.params)
			fn.nlocals = l.maxLocal + 1
			p.frameHint += fn.nlocals
		}
	}
	byName := map[string]*ir.Plan{}
	for _, pl := range pol.Plans.Plans {
		byName[pl.Name] = pl
	}
	for _, ep := range entrypoints {
		pl, ok := byName[ep]
		if !ok {
			return nil, fmt.Errorf("plan: %w: no plan for %s", ErrUnsupported, ep)
		}
		l.maxLocal = int(ir.Data)
		pb := &block{}
		for _, b := range pl.Blocks {
			lb, err := l.block(b)
			if err != nil {
				return nil, fmt.Errorf("plan: %s: %w", ep, err)
			}
			// Each of a plan's blocks is a block of its own.
			pb.stmts = append(pb.stmts, stmt{op: opBlock, blocks: []*block{lb}})
		}
		directResults(pb)
		foldConstants([]*block{pb})
		fuseArrays([]*block{pb})
		fuseAggregates([]*block{pb})
		stripNops([]*block{pb})
		l.markPureDots([]*block{pb}, []int{int(ir.Input), int(ir.Data)})
		p.plans = append(p.plans, pb)
		p.maxLocals = max(p.maxLocals, l.maxLocal+1)
	}
	p.npaths = len(l.pathNames)
	extremeRules(p)
	return p, nil
}

type linker struct {
	pol      *ir.Policy
	strings  []*ast.Term
	funcs    map[string]*function
	builtins map[string]*builtinCall
	maxLocal int
	// paths numbers the paths from input and data lookups read.
	paths     map[string]int
	pathNames []string
}

func (l *linker) local(x ir.Local) int {
	l.maxLocal = max(l.maxLocal, int(x))
	return int(x)
}

func (l *linker) operand(o ir.Operand) (operand, error) {
	// Decoded from JSON, values are pointers.
	switch v := o.Value.(type) {
	case *ir.Local:
		return l.operand(ir.Operand{Value: *v})
	case *ir.StringIndex:
		return l.operand(ir.Operand{Value: *v})
	case *ir.Bool:
		return l.operand(ir.Operand{Value: *v})
	case ir.Local:
		return operand{local: l.local(v)}, nil
	case ir.StringIndex:
		if int(v) < 0 || int(v) >= len(l.strings) {
			return operand{}, fmt.Errorf("%w: string index %d", ErrUnsupported, v)
		}
		return operand{k: l.strings[v]}, nil
	case ir.Bool:
		return operand{k: ast.BooleanTerm(bool(v))}, nil
	}
	return operand{}, fmt.Errorf("%w: operand %v", ErrUnsupported, o.Value)
}

func (l *linker) block(b *ir.Block) (*block, error) {
	out := &block{stmts: make([]stmt, 0, len(b.Stmts))}
	for _, s := range b.Stmts {
		ls, err := l.stmt(s)
		if err != nil {
			return nil, err
		}
		out.stmts = append(out.stmts, ls)
	}
	return out, nil
}

func (l *linker) blocks(bs ...*ir.Block) ([]*block, error) {
	out := make([]*block, 0, len(bs))
	for _, b := range bs {
		lb, err := l.block(b)
		if err != nil {
			return nil, err
		}
		out = append(out, lb)
	}
	return out, nil
}

func (l *linker) stmt(s ir.Stmt) (stmt, error) {
	var out stmt
	var err error
	op1 := func(o ir.Operand) operand {
		var x operand
		if err == nil {
			x, err = l.operand(o)
		}
		return x
	}
	switch s := s.(type) {
	case *ir.NopStmt:
		out.op = opNop
	case *ir.ReturnLocalStmt:
		out = stmt{op: opReturn, a: operand{local: l.local(s.Source)}}
	case *ir.CallStmt:
		args := make([]operand, len(s.Args))
		for i, a := range s.Args {
			args[i] = op1(a)
		}
		out = stmt{args: args, target: l.local(s.Result)}
		if fn, ok := l.funcs[s.Func]; ok {
			if len(fn.params) != len(args) {
				return out, fmt.Errorf("%w: call of %s with %d arguments", ErrUnsupported, s.Func, len(args))
			}
			out.op, out.fn = opCall, fn
		} else if bi, ok := l.builtins[s.Func]; ok {
			if bi.decl.Decl.Result() == nil || len(args) != len(bi.decl.Decl.FuncArgs().Args) || bi.decl.Decl.FuncArgs().Variadic != nil {
				return out, fmt.Errorf("%w: call of builtin %s", ErrUnsupported, s.Func)
			}
			out.op, out.bi = opCallBuiltin, bi
		} else {
			return out, fmt.Errorf("%w: call of %s", ErrUnsupported, s.Func)
		}
	case *ir.BlockStmt:
		out.op = opBlock
		out.blocks, err = l.blocks(s.Blocks...)
	case *ir.BreakStmt:
		out = stmt{op: opBreak, index: int(s.Index)}
	case *ir.DotStmt:
		out = stmt{op: opDot, a: op1(s.Source), b: op1(s.Key), target: l.local(s.Target)}
	case *ir.LenStmt:
		out = stmt{op: opLen, a: op1(s.Source), target: l.local(s.Target)}
	case *ir.ScanStmt:
		out = stmt{op: opScan, a: operand{local: l.local(s.Source)}, target: l.local(s.Key), value: l.local(s.Value)}
		out.blocks, err = l.blocks(s.Block)
	case *ir.NotStmt:
		out.op = opNot
		out.blocks, err = l.blocks(s.Block)
	case *ir.AssignIntStmt:
		out = stmt{op: opAssignInt, num: ast.InternedTerm(int(s.Value)), target: l.local(s.Target)}
	case *ir.AssignVarStmt:
		out = stmt{op: opAssignVar, a: op1(s.Source), target: l.local(s.Target)}
	case *ir.AssignVarOnceStmt:
		out = stmt{op: opAssignVarOnce, a: op1(s.Source), target: l.local(s.Target)}
	case *ir.ResetLocalStmt:
		out = stmt{op: opResetLocal, target: l.local(s.Target)}
	case *ir.MakeNullStmt:
		out = stmt{op: opMakeNull, target: l.local(s.Target)}
	case *ir.MakeNumberIntStmt:
		out = stmt{op: opMakeNumber, num: ast.InternedTerm(int(s.Value)), target: l.local(s.Target)}
	case *ir.MakeNumberRefStmt:
		if s.Index < 0 || s.Index >= len(l.strings) {
			return out, fmt.Errorf("%w: number index %d", ErrUnsupported, s.Index)
		}
		n := ast.Number(string(l.strings[s.Index].Value.(ast.String)))
		if _, ok := n.Float64(); !ok {
			return out, fmt.Errorf("%w: number %s", ErrUnsupported, n)
		}
		out = stmt{op: opMakeNumber, num: ast.NewTerm(n), target: l.local(s.Target)}
	case *ir.MakeArrayStmt:
		out = stmt{op: opMakeArray, index: int(s.Capacity), target: l.local(s.Target)}
	case *ir.MakeObjectStmt:
		out = stmt{op: opMakeObject, target: l.local(s.Target)}
	case *ir.MakeSetStmt:
		out = stmt{op: opMakeSet, target: l.local(s.Target)}
	case *ir.EqualStmt:
		out = stmt{op: opEqual, a: op1(s.A), b: op1(s.B)}
	case *ir.NotEqualStmt:
		out = stmt{op: opNotEqual, a: op1(s.A), b: op1(s.B)}
	case *ir.IsArrayStmt:
		out = stmt{op: opIsArray, a: op1(s.Source)}
	case *ir.IsObjectStmt:
		out = stmt{op: opIsObject, a: op1(s.Source)}
	case *ir.IsSetStmt:
		out = stmt{op: opIsSet, a: op1(s.Source)}
	case *ir.IsDefinedStmt:
		out = stmt{op: opIsDefined, a: operand{local: l.local(s.Source)}}
	case *ir.IsUndefinedStmt:
		out = stmt{op: opIsUndefined, a: operand{local: l.local(s.Source)}}
	case *ir.ArrayAppendStmt:
		out = stmt{op: opArrayAppend, a: op1(s.Value), target: l.local(s.Array)}
	case *ir.ObjectInsertStmt:
		out = stmt{op: opObjectInsert, a: op1(s.Key), b: op1(s.Value), target: l.local(s.Object)}
	case *ir.ObjectInsertOnceStmt:
		out = stmt{op: opObjectInsertOnce, a: op1(s.Key), b: op1(s.Value), target: l.local(s.Object)}
	case *ir.SetAddStmt:
		out = stmt{op: opSetAdd, a: op1(s.Value), target: l.local(s.Set)}
	case *ir.ResultSetAddStmt:
		out = stmt{op: opResultSetAdd, a: operand{local: l.local(s.Value)}}
	case *ir.ObjectMergeStmt:
		out = stmt{op: opObjectMerge, a: operand{local: l.local(s.A)}, b: operand{local: l.local(s.B)}, target: l.local(s.Target)}
	default:
		// WithStmt, CallDynamicStmt and anything newer.
		return out, fmt.Errorf("%w: %T", ErrUnsupported, s)
	}
	return out, err
}

// Options are one evaluation's input, data and bounds.
type Options struct {
	Input *ast.Term
	Data  *ast.Term
	// Time is the evaluation's time, as topdown's WithTime gives it to builtins.
	Time *ast.Term
	// Cancel, when set, stops the evaluation at the next loop iteration or
	// call; Eval then returns a topdown cancellation error.
	Cancel       topdown.Cancel
	Capabilities *ast.Capabilities
}

// Eval evaluates every entrypoint and returns each one's value, nil where it
// is undefined. On any error but a cancellation the caller should evaluate
// with topdown, which also gives the error topdown would.
func (p *Program) Eval(ctx context.Context, opts Options) ([]*ast.Term, error) {
	vm, _ := p.pool.Get().(*machine)
	if vm == nil {
		vm = &machine{
			memo:  make([]*ast.Term, len(p.funcs)),
			done:  make([]bool, len(p.funcs)),
			paths: make([]pathSlot, p.npaths),
			stack: make([]*ast.Term, p.maxLocals+p.frameHint),
			// frameHint is every function's locals: deeper than any
			// evaluation goes, so the stack does not grow.
		}
		vm.onOutput = vm.output
		vm.addMember = func(k, v *ast.Term) { vm.members = append(vm.members, [2]*ast.Term{k, v}) }
	}
	defer p.release(vm)
	vm.cancel = opts.Cancel
	vm.bctx = topdown.BuiltinContext{
		Context:      ctx,
		Time:         opts.Time,
		Cancel:       opts.Cancel,
		Capabilities: opts.Capabilities,
		Cache:        vm.cache, // emptied when the last evaluation ended
	}
	out := make([]*ast.Term, len(p.plans))
	locals := vm.stack[:p.maxLocals:p.maxLocals]
	vm.sp, vm.high = p.maxLocals, p.maxLocals
	for i, pl := range p.plans {
		clear(locals)
		locals[ir.Input], locals[ir.Data] = opts.Input, opts.Data
		vm.result = nil
		if _, err := vm.run(pl, locals); err != nil {
			return nil, err
		}
		if vm.result != nil {
			out[i] = vm.result
		}
	}
	return out, nil
}

// release returns a machine to the pool with nothing of its evaluation kept.
func (p *Program) release(vm *machine) {
	clear(vm.memo)
	clear(vm.done)
	clear(vm.paths)
	clear(vm.stack[:vm.high]) // frames are cleared when made; this only lets go of values
	clear(vm.args)
	vm.sp, vm.high, vm.steps, vm.result, vm.out, vm.nout, vm.cancel = 0, 0, 0, nil, nil, 0, nil
	// A builtin's cache is one evaluation's: nothing of it serves the next
	// input, but its map does.
	if vm.cache = vm.bctx.Cache; len(vm.cache) > 64 {
		vm.cache = nil
	}
	clear(vm.cache)
	clear(vm.members)
	vm.members = vm.members[:0]
	vm.bctx = topdown.BuiltinContext{}
	p.pool.Put(vm)
}

// machine is one evaluation's state.
type machine struct {
	memo   []*ast.Term // memo[f.index]: a rule's value, once computed
	done   []bool
	cancel topdown.Cancel
	bctx   topdown.BuiltinContext
	result *ast.Term
	steps  int
	// A builtin call's operands and outputs; onOutput is bound once.
	args     []*ast.Term
	out      *ast.Term
	nout     int
	onOutput func(*ast.Term) error
	// paths remember lookups into input and data (see stmt.path).
	paths []pathSlot
	// stack holds the frames of the calls in progress.
	stack []*ast.Term
	// terms are where the terms of the composites a plan makes come from,
	// elems the elements of its arrays.
	terms TermSlab
	elems termPtrSlab
	// cache is the builtins' cache map of the last evaluation, emptied.
	cache builtins.Cache
	// members holds the members of the objects scans are going over, the
	// innermost scan's last; addMember is bound once.
	members   [][2]*ast.Term
	addMember func(k, v *ast.Term)
	sp        int
	high      int // the most of stack used since the machine was last released
}

// TermSlab hands out terms cut from slabs of 64, one allocation for a score of
// terms; what one evaluation leaves of a slab serves the next. Its zero value is
// ready to use.
type TermSlab struct{ free []ast.Term }

// Term returns a new term for v.
func (s *TermSlab) Term(v ast.Value) *ast.Term {
	if len(s.free) == 0 {
		s.free = make([]ast.Term, 64)
	}
	t := &s.free[0]
	s.free = s.free[1:]
	t.Value = v
	return t
}

// termPtrSlab hands out slices of term pointers cut from slabs of 256:
// the elements of the arrays a plan makes, a few at a time.
type termPtrSlab struct{ free []*ast.Term }

// take returns n nil pointers, of capacity n: appending to them copies.
func (s *termPtrSlab) take(n int) []*ast.Term {
	if n > 32 {
		return make([]*ast.Term, n)
	}
	if len(s.free) < n {
		s.free = make([]*ast.Term, 256)
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

// emptySet and emptyObject are what MakeSet and MakeObject put in the new
// term: a tenth of the sets a plan makes stay empty (a partial set none of
// whose rules holds), and an empty value costs no allocation of its own.
// The first SetAdd or ObjectInsert into the term gives it a set or object
// of its own; nothing ever changes these two. The planner builds a set or
// object completely before anything reads it, so no other term can hold
// the empty value of one that later grows.
var (
	emptySet    = ast.NewSet()
	emptyObject = ast.NewObject()
)

// retSignal is a block's result when a function returned: it unwinds every
// enclosing block.
const retSignal = 1 << 30

var (
	errConflict  = fmt.Errorf("%w: conflicting values", ErrUnsupported)
	errBuiltin   = fmt.Errorf("%w: a builtin failed", ErrUnsupported)
	errResults   = fmt.Errorf("%w: more than one result", ErrUnsupported)
	errCancelled = &topdown.Error{Code: topdown.CancelErr, Message: "caller cancelled query execution"}
)

func (m *machine) read(o operand, locals []*ast.Term) *ast.Term {
	if o.k != nil {
		return o.k
	}
	return locals[o.local]
}

// run executes a block and returns -1 when it ran to its end, or the index
// of the break that left it, as a Wasm `br` counts: 0 leaves this block, n
// leaves n more enclosing ones; retSignal when a function returned.
func (m *machine) run(b *block, locals []*ast.Term) (int, error) {
	for i := range b.stmts {
		s := &b.stmts[i]
		switch s.op {
		case opNop:
		case opReturn:
			m.result = locals[s.a.local]
			return retSignal, nil
		case opReturnExtreme:
			v, err := extremeResult(locals[s.a.local])
			if err != nil {
				return 0, err
			}
			m.result = v
			return retSignal, nil
		case opCall:
			v, err := m.call(s, locals)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, nil
			}
			locals[s.target] = v
		case opCallBuiltin:
			v, err := m.builtin(s, locals)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, nil
			}
			locals[s.target] = v
		case opBlock:
			for _, sub := range s.blocks {
				r, err := m.run(sub, locals)
				if err != nil {
					return 0, err
				}
				if r >= 1 {
					if r == retSignal {
						return r, nil
					}
					return r - 1, nil
				}
			}
		case opBreak:
			return s.index, nil
		case opDot:
			src, key := m.read(s.a, locals), m.read(s.b, locals)
			if src == nil || key == nil {
				return 0, nil
			}
			var v *ast.Term
			if s.path > 0 {
				if st := m.paths[s.path-1]; st.done {
					v = st.v
				} else {
					v = dot(src.Value, key)
					m.paths[s.path-1] = pathSlot{v: v, done: true}
				}
			} else {
				v = dot(src.Value, key)
			}
			if v == nil {
				return 0, nil
			}
			locals[s.target] = v
		case opLen:
			src := m.read(s.a, locals)
			if src == nil {
				return 0, nil
			}
			n, ok := length(src.Value)
			if !ok {
				return 0, nil
			}
			locals[s.target] = ast.InternedTerm(n)
		case opScan:
			r, err := m.scan(s, locals)
			if err != nil || r != -1 {
				return r, err
			}
		case opNot:
			r, err := m.run(s.blocks[0], locals)
			if err != nil {
				return 0, err
			}
			switch {
			case r == retSignal:
				return r, nil
			case r == -1: // the negated block is defined: not is undefined
				return 0, nil
			case r >= 1:
				return r - 1, nil
			}
		case opAssignInt, opMakeNumber:
			locals[s.target] = s.num
		case opAssignVar:
			locals[s.target] = m.read(s.a, locals)
		case opAssignVarOnce:
			v := m.read(s.a, locals)
			if cur := locals[s.target]; cur != nil && v != nil && !equal(cur, v) {
				return 0, errConflict
			}
			locals[s.target] = v
		case opResetLocal:
			locals[s.target] = nil
		case opMakeNull:
			locals[s.target] = ast.InternedNullTerm
		case opMakeArray:
			locals[s.target] = m.terms.Term(ast.NewArrayWithCapacity(s.index))
		case opMakeArrayOf:
			elems := m.elems.take(len(s.args))
			for i, a := range s.args {
				if elems[i] = m.read(a, locals); elems[i] == nil {
					return 0, fmt.Errorf("%w: append of an undefined value", ErrUnsupported)
				}
			}
			locals[s.target] = m.terms.Term(ast.NewArray(elems...))
		case opMakeObject:
			locals[s.target] = m.terms.Term(emptyObject)
		case opMakeSet:
			locals[s.target] = m.terms.Term(emptySet)
		case opEqual, opNotEqual:
			a, b := m.read(s.a, locals), m.read(s.b, locals)
			if a == nil || b == nil {
				return 0, nil
			}
			if eq := equal(a, b); eq != (s.op == opEqual) {
				return 0, nil
			}
		case opIsArray:
			if v := m.read(s.a, locals); v == nil || !isArray(v.Value) {
				return 0, nil
			}
		case opIsObject:
			if v := m.read(s.a, locals); v == nil || !isObject(v.Value) {
				return 0, nil
			}
		case opIsSet:
			if v := m.read(s.a, locals); v == nil || !isSet(v.Value) {
				return 0, nil
			}
		case opIsDefined:
			if locals[s.a.local] == nil {
				return 0, nil
			}
		case opIsUndefined:
			if locals[s.a.local] != nil {
				return 0, nil
			}
		case opArrayAppend:
			arr, v := locals[s.target], m.read(s.a, locals)
			a, ok := arr.Value.(*ast.Array)
			if !ok || v == nil {
				return 0, fmt.Errorf("%w: append to %T", ErrUnsupported, arr.Value)
			}
			arr.Value = a.Append(v)
		case opObjectInsert, opObjectInsertOnce:
			obj, k, v := locals[s.target], m.read(s.a, locals), m.read(s.b, locals)
			o, ok := obj.Value.(ast.Object)
			if !ok || k == nil || v == nil {
				return 0, fmt.Errorf("%w: insert into %T", ErrUnsupported, obj.Value)
			}
			if s.op == opObjectInsertOnce {
				if cur := o.Get(k); cur != nil && !equal(cur, v) {
					return 0, errConflict
				}
			}
			if o == emptyObject {
				o = ast.NewObject()
				obj.Value = o
			}
			o.Insert(k, v)
		case opSetAdd:
			set, v := locals[s.target], m.read(s.a, locals)
			st, ok := set.Value.(ast.Set)
			if !ok || v == nil {
				return 0, fmt.Errorf("%w: add to %T", ErrUnsupported, set.Value)
			}
			if st == emptySet {
				st = ast.NewSet()
				set.Value = st
			}
			st.Add(v)
		case opResultSetAdd:
			// A plan's result is {"result": value}.
			res := locals[s.a.local]
			if res == nil {
				return 0, fmt.Errorf("%w: undefined result", ErrUnsupported)
			}
			obj, ok := res.Value.(ast.Object)
			if !ok || obj.Len() != 1 {
				return 0, fmt.Errorf("%w: result %v", ErrUnsupported, locals[s.a.local])
			}
			v := obj.Get(resultKey)
			if v == nil {
				return 0, fmt.Errorf("%w: result %v", ErrUnsupported, obj)
			}
			if err := m.addResult(v); err != nil {
				return 0, err
			}
		case opResult:
			v := m.read(s.a, locals)
			if v == nil {
				return 0, fmt.Errorf("%w: undefined result", ErrUnsupported)
			}
			if err := m.addResult(v); err != nil {
				return 0, err
			}
		case opSetAddMin, opSetAddMax:
			v := m.read(s.a, locals)
			if v == nil {
				return 0, fmt.Errorf("%w: add of an undefined value", ErrUnsupported)
			}
			acc, err := accumulate(locals[s.target], v, s.op == opSetAddMax)
			if err != nil {
				return 0, err
			}
			locals[s.target] = acc
		case opUnionMin, opUnionMax:
			a, b := m.read(s.args[0], locals), m.read(s.args[1], locals)
			if a == nil || b == nil {
				return 0, nil
			}
			v, err := unionExtreme(a, b, s.op == opUnionMax, s.index)
			if err != nil {
				return 0, err
			}
			locals[s.target] = v
		case opMinOf, opMaxOf:
			elems := m.args[:0]
			for _, a := range s.args {
				v := m.read(a, locals)
				if v == nil {
					clear(elems)
					return 0, fmt.Errorf("%w: append of an undefined value", ErrUnsupported)
				}
				elems = append(elems, v)
			}
			m.args = elems
			v := extremeOf(elems, s.op == opMaxOf)
			clear(elems)
			if v == nil {
				return 0, nil
			}
			locals[s.target] = v
		case opAssignDefined:
			v := m.read(s.a, locals)
			if v == nil {
				return 0, nil
			}
			locals[s.target] = v
		case opObjectMerge:
			return 0, fmt.Errorf("%w: a base document where rules are", ErrUnsupported)
		default:
			return 0, fmt.Errorf("%w: opcode %d", ErrUnsupported, s.op)
		}
	}
	return -1, nil
}

var resultKey = ast.StringTerm("result")

// equal is ast.Compare(a.Value, b.Value) == 0, strings and booleans (most
// comparisons a policy makes) compared without Compare's type dispatch.
func equal(a, b *ast.Term) bool {
	if a == b {
		return true
	}
	switch x := a.Value.(type) {
	case ast.String:
		y, ok := b.Value.(ast.String)
		return ok && x == y
	case ast.Boolean:
		y, ok := b.Value.(ast.Boolean)
		return ok && x == y
	}
	return ast.Compare(a.Value, b.Value) == 0
}

// addResult records a plan's result. A second, different one would be a
// conflict topdown reports its own way.
func (m *machine) addResult(v *ast.Term) error {
	if m.result != nil && !equal(m.result, v) {
		return errResults
	}
	m.result = v
	return nil
}

// stripNops removes the statements folding and directResults emptied.
func stripNops(blocks []*block) {
	for _, b := range blocks {
		kept := b.stmts[:0]
		for _, s := range b.stmts {
			if s.op != opNop {
				kept = append(kept, s)
			}
			stripNops(s.blocks)
		}
		clear(b.stmts[len(kept):])
		b.stmts = kept
	}
}

// directResults rewrites the planner's way of adding a result,
//
//	MakeObject t; ObjectInsert t "result" v; ResultSetAdd t
//
// into one statement that adds v, at every depth of a plan.
func directResults(b *block) {
	for i := range b.stmts {
		s := &b.stmts[i]
		for _, sub := range s.blocks {
			directResults(sub)
		}
		if s.op != opMakeObject || i+2 >= len(b.stmts) {
			continue
		}
		ins, add := &b.stmts[i+1], &b.stmts[i+2]
		if ins.op == opObjectInsert && ins.target == s.target && ins.a.k != nil && ins.a.k.Equal(resultKey) &&
			add.op == opResultSetAdd && add.a.local == s.target {
			v := ins.b
			*s, *ins = stmt{op: opNop}, stmt{op: opNop}
			*add = stmt{op: opResult, a: v}
		}
	}
}

// fuseArrays rewrites an array written as a literal,
//
//	MakeArray t; ArrayAppend t a; ArrayAppend t b; ...
//
// into one statement that makes the array of a, b, ... at once: OPA's
// Array.Append copies the array's header on every element, an allocation
// each.
func fuseArrays(blocks []*block) {
	for _, b := range blocks {
		for i := range b.stmts {
			s := &b.stmts[i]
			for _, sub := range s.blocks {
				fuseArrays([]*block{sub})
			}
			if s.op != opMakeArray {
				continue
			}
			// Constants the planner makes between the appends (the 5 of
			// [5, x]) stay where they are; the array is made at the last
			// append, when they are there. Nothing between reads the array,
			// fails, or changes a local already appended.
			var args []operand
			var at []int
		scan:
			for j := i + 1; j < len(b.stmts); j++ {
				ap := &b.stmts[j]
				switch {
				case ap.op == opArrayAppend && ap.target == s.target && !(ap.a.k == nil && ap.a.local == s.target):
					args, at = append(args, ap.a), append(at, j)
				case (ap.op == opMakeNumber || ap.op == opMakeNull) && ap.target != s.target && !appended(args, ap.target):
				default:
					break scan
				}
			}
			if len(args) == 0 {
				continue
			}
			target := s.target
			*s = stmt{op: opNop}
			for _, j := range at {
				b.stmts[j] = stmt{op: opNop}
			}
			b.stmts[at[len(at)-1]] = stmt{op: opMakeArrayOf, args: args, target: target}
		}
	}
}

// appended says whether local l is one of args.
func appended(args []operand, l int) bool {
	for _, a := range args {
		if a.k == nil && a.local == l {
			return true
		}
	}
	return false
}

// pathSlot is a path's value once looked up; v nil is undefined.
type pathSlot struct {
	v    *ast.Term
	done bool
}

// scan runs the scan's block for each element of its source, in the order
// topdown enumerates them (sorted, for objects and sets). It returns -1 to
// go on after the scan, or a break for the enclosing block.
func (m *machine) scan(s *stmt, locals []*ast.Term) (int, error) {
	src := locals[s.a.local]
	if src == nil {
		return 0, nil
	}
	switch x := src.Value.(type) {
	case *ast.Array:
		for i := range x.Len() {
			if stop, r, err := m.scanOne(s, locals, ast.InternedTerm(i), x.Elem(i)); stop {
				return r, err
			}
		}
	case ast.Object:
		// The members, sorted by key as topdown enumerates them, go on
		// m.members above those of the scans this one is inside; the body
		// may scan objects too, above them in turn.
		start := len(m.members)
		x.Foreach(m.addMember)
		end := len(m.members)
		defer func() {
			clear(m.members[start:])
			m.members = m.members[:start]
		}()
		for i := start; i < end; i++ {
			kv := m.members[i]
			if stop, r, err := m.scanOne(s, locals, kv[0], kv[1]); stop {
				return r, err
			}
		}
	case ast.Set:
		for _, k := range x.Slice() { // sorted
			if stop, r, err := m.scanOne(s, locals, k, k); stop {
				return r, err
			}
		}
	}
	return -1, nil
}

// scanOne runs a scan's block for one element; stop says the scan is over,
// and r is then what the enclosing block does.
func (m *machine) scanOne(s *stmt, locals []*ast.Term, k, v *ast.Term) (stop bool, r int, err error) {
	if m.cancel != nil && m.cancel.Cancelled() {
		return true, 0, errCancelled
	}
	locals[s.target], locals[s.value] = k, v
	r, err = m.run(s.blocks[0], locals)
	switch {
	case err != nil:
		return true, 0, err
	case r == retSignal:
		return true, r, nil
	case r == 1:
		return true, -1, nil
	case r >= 2:
		return true, r - 2, nil
	}
	return false, -1, nil
}

func (m *machine) call(s *stmt, locals []*ast.Term) (*ast.Term, error) {
	fn := s.fn
	if fn.memo {
		// A rule's value does not change within one evaluation (no `with`
		// reaches here): compute it once. Undefined is remembered too.
		if m.done[fn.index] {
			return m.memo[fn.index], nil
		}
	}
	if m.cancel != nil && m.cancel.Cancelled() {
		return nil, errCancelled
	}
	m.steps++
	if m.steps > maxCalls {
		return nil, fmt.Errorf("%w: too many calls", ErrUnsupported)
	}
	frame := m.frame(fn.nlocals)
	defer func() { m.sp -= fn.nlocals }()
	for i, p := range fn.params {
		v := m.read(s.args[i], locals)
		if v == nil {
			return nil, nil
		}
		frame[p] = v
	}
	saved := m.result
	m.result = nil
	var v *ast.Term
	returned := false
	for _, b := range fn.blocks {
		r, err := m.run(b, frame)
		if err != nil {
			return nil, err
		}
		if r == retSignal {
			v, returned = m.result, true
			break
		}
		if r >= 1 {
			break
		}
	}
	if !returned {
		v = frame[fn.ret]
	}
	m.result = saved
	if fn.memo {
		m.memo[fn.index], m.done[fn.index] = v, true
	}
	return v, nil
}

// frame returns n cleared locals on the stack.
func (m *machine) frame(n int) []*ast.Term {
	if m.sp+n > len(m.stack) {
		// Frames in progress keep the old array; new ones use a larger one.
		m.stack = make([]*ast.Term, max(2*len(m.stack), m.sp+n))
	}
	f := m.stack[m.sp : m.sp+n : m.sp+n]
	clear(f)
	m.sp += n
	m.high = max(m.high, m.sp)
	return f
}

// maxCalls bounds recursion the planner cannot (Rego has none, but a bug
// should not overflow the stack).
const maxCalls = 1 << 20

func (m *machine) builtin(s *stmt, locals []*ast.Term) (*ast.Term, error) {
	args := m.args[:0]
	for _, a := range s.args {
		v := m.read(a, locals)
		if v == nil {
			return nil, nil
		}
		args = append(args, v)
	}
	m.args = args
	if s.bi.native != nil {
		if v, ok := s.bi.native(args); ok {
			clear(args)
			return v, nil
		}
	}
	if m.bctx.Cache == nil {
		m.bctx.Cache = builtins.Cache{}
	}
	m.out, m.nout = nil, 0
	err := s.bi.f(m.bctx, args, m.onOutput)
	clear(args)
	if err != nil {
		if topdown.IsCancel(err) {
			return nil, errCancelled
		}
		return nil, fmt.Errorf("%w: %s: %v", errBuiltin, s.bi.name, err)
	}
	if m.nout > 1 {
		return nil, errResults
	}
	return m.out, nil
}

func (m *machine) output(t *ast.Term) error {
	m.out = t
	m.nout++
	return nil
}

// dot is opa_value_get: an object's value at key, an array's element at an
// integer index, a set's element equal to key.
func dot(v ast.Value, key *ast.Term) *ast.Term {
	switch x := v.(type) {
	case ast.Object:
		return x.Get(key)
	case *ast.Array:
		n, ok := key.Value.(ast.Number)
		if !ok {
			return nil
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= x.Len() {
			return nil
		}
		return x.Elem(i)
	case ast.Set:
		if x.Contains(key) {
			return key
		}
	}
	return nil
}

func length(v ast.Value) (int, bool) {
	switch x := v.(type) {
	case *ast.Array:
		return x.Len(), true
	case ast.Object:
		return x.Len(), true
	case ast.Set:
		return x.Len(), true
	case ast.String:
		return utf8.RuneCountInString(string(x)), true
	}
	return 0, false
}

func isArray(v ast.Value) bool  { _, ok := v.(*ast.Array); return ok }
func isObject(v ast.Value) bool { _, ok := v.(ast.Object); return ok }
func isSet(v ast.Value) bool    { _, ok := v.(ast.Set); return ok }
