package planeval

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A set that only min or max reads need not be built. Policies take the
// least of a comprehension (min({k.rank | some k in found})) or of a union
// (min(stated | suggested)); the planner builds the set, an OPA set with a
// map of its own, then sorts it to take one element. fuseAggregates finds
//
//	MakeSet s; ... SetAdd s v ...; AssignVar t s; CallBuiltin min(t) -> r
//	CallBuiltin or(a, b) -> s;      AssignVar t s; CallBuiltin min(t) -> r
//
// (or max) where nothing else in the function reads s or t (or adds to s),
// and has s keep the least (greatest) element so far instead. Where two
// elements compare equal without being written the same (1 and 1.0), which
// one OPA's set keeps depends on its hashing and sorting: Eval then returns
// an error, and topdown decides. Likewise min or max of an array literal
// (max([1, x])) that nothing else reads takes the operands' least
// (greatest) without the array, as OPA's loop picks it: the last one.

var errTie = fmt.Errorf("%w: min or max of equal elements written differently", ErrUnsupported)

// fuseAggregates rewrites one function's (or plan's) blocks in place.
func fuseAggregates(blocks []*block) {
	u := &localUse{reads: map[int][]int{}, adds: map[int][]int{}, pos: map[*stmt]int{}}
	for _, b := range blocks {
		u.count(b)
	}
	var walk func(b *block, inLoop bool)
	walk = func(b *block, inLoop bool) {
		for i := range b.stmts {
			for _, sub := range b.stmts[i].blocks {
				walk(sub, inLoop || b.stmts[i].op == opScan)
			}
		}
		for i := 2; i < len(b.stmts); i++ {
			u.fuse(b, i, inLoop)
		}
	}
	for _, b := range blocks {
		walk(b, false)
	}
}

// localUse numbers a function's statements in the order they are written
// (pos), and records where each local is read (other than as the set a
// SetAdd adds to), written and added to. Outside a scan's body statements
// run in that order: blocks only ever break forward.
type localUse struct {
	n           int
	pos         map[*stmt]int
	at          []*stmt // at[pos[s]] is s
	reads, adds map[int][]int
	writes      map[int][]int
}

func (u *localUse) read(o operand) {
	if o.k == nil {
		u.reads[o.local] = append(u.reads[o.local], u.n)
	}
}

func (u *localUse) write(l int) {
	if u.writes == nil {
		u.writes = map[int][]int{}
	}
	u.writes[l] = append(u.writes[l], u.n)
}

func (u *localUse) count(b *block) {
	for i := range b.stmts {
		s := &b.stmts[i]
		u.n++
		u.pos[s] = u.n
		for len(u.at) <= u.n {
			u.at = append(u.at, nil)
		}
		u.at[u.n] = s
		switch s.op {
		case opSetAdd:
			u.adds[s.target] = append(u.adds[s.target], u.n)
			u.read(s.a)
		case opArrayAppend, opObjectInsert, opObjectInsertOnce:
			// The composite is read, changed and kept.
			u.read(operand{local: s.target})
			u.write(s.target)
			u.read(s.a)
			u.read(s.b)
		case opScan:
			u.read(s.a)
			u.write(s.target)
			u.write(s.value)
		case opReturn, opIsDefined, opIsUndefined, opResultSetAdd, opResult, opEqual, opNotEqual,
			opIsArray, opIsObject, opIsSet:
			u.read(s.a)
			u.read(s.b)
		case opBlock, opNot, opBreak, opNop:
		default:
			// Every other statement writes its target from its operands.
			u.read(s.a)
			u.read(s.b)
			u.read(s.c)
			for _, a := range s.args {
				u.read(a)
			}
			u.write(s.target)
		}
		for _, sub := range s.blocks {
			u.count(sub)
		}
	}
}

// readOnlyBy says whether the only read of l that can see what the
// statement at from writes is the one at by: outside a loop, every other
// read comes before from; in one, there is no other read at all.
func (u *localUse) readOnlyBy(l, from, by int, inLoop bool) bool {
	for _, p := range u.reads[l] {
		if p != by && (inLoop || p > from) {
			return false
		}
	}
	return true
}

// fuse rewrites the pattern ending at b.stmts[i], if it is there.
func (u *localUse) fuse(b *block, i int, inLoop bool) {
	call, assign := &b.stmts[i], &b.stmts[i-1]
	if call.op != opCallBuiltin || len(call.args) != 1 || call.args[0].k != nil {
		return
	}
	var acc opcode
	switch call.bi.name {
	case "min":
		acc = opSetAddMin
	case "max":
		acc = opSetAddMax
	default:
		return
	}
	t := call.args[0].local
	if assign.op == opMakeArrayOf && assign.target == t && u.readOnlyBy(t, u.pos[assign], u.pos[call], inLoop) {
		// min([5, x]): the least of the operands, without the array.
		op := opMinOf
		if acc == opSetAddMax {
			op = opMaxOf
		}
		*call = stmt{op: op, args: assign.args, target: call.target}
		*assign = stmt{op: opNop}
		return
	}
	if assign.op != opAssignVar || assign.target != t || assign.a.k != nil || assign.a.local == t {
		return
	}
	s := assign.a.local
	if !u.readOnlyBy(t, u.pos[assign], u.pos[call], inLoop) {
		return
	}
	if or := &b.stmts[i-2]; or.op == opCallBuiltin && or.bi.name == "or" && or.target == s && len(or.args) == 2 {
		if !u.readOnlyBy(s, u.pos[or], u.pos[assign], inLoop) || !u.allBefore(u.adds[s], u.pos[or], inLoop) {
			return
		}
		or.op, or.bi = opUnionMin, nil
		if acc == opSetAddMax {
			or.op = opUnionMax
		}
	} else {
		mk := -1
		for j := i - 2; j >= 0; j-- {
			if b.stmts[j].op == opMakeSet && b.stmts[j].target == s {
				mk = j
				break
			}
		}
		if mk < 0 {
			return
		}
		from, to := u.pos[&b.stmts[mk]], u.pos[assign]
		// The SetAdds between the MakeSet and the AssignVar are the only
		// ones into this set, and the only statements that change s there;
		// any other adds to s come before the MakeSet.
		var inside []int
		for _, p := range u.adds[s] {
			if p > from && p < to {
				inside = append(inside, p)
			} else if inLoop || p > to {
				return
			}
		}
		for _, p := range u.writes[s] {
			if p > from && p < to {
				return
			}
		}
		if len(inside) == 0 || !u.readOnlyBy(s, from, to, inLoop) {
			return
		}
		b.stmts[mk] = stmt{op: opResetLocal, target: s}
		setAccumulate(b.stmts[mk+1:i-1], s, acc)
	}
	*call = stmt{op: opAssignDefined, a: operand{local: t}, target: call.target}
}

// allBefore says whether every position in ps comes before from (and, in
// a loop, that there are none).
func (u *localUse) allBefore(ps []int, from int, inLoop bool) bool {
	for _, p := range ps {
		if inLoop || p >= from {
			return false
		}
	}
	return true
}

func setAccumulate(stmts []stmt, s int, acc opcode) {
	for i := range stmts {
		if stmts[i].op == opSetAdd && stmts[i].target == s {
			stmts[i].op = acc
		}
		for _, sub := range stmts[i].blocks {
			setAccumulate(sub.stmts, s, acc)
		}
	}
}

// accumulate is SetAdd of v to a set only min (greatest: max) reads: cur is
// the least (greatest) element so far, nil before the first.
func accumulate(cur, v *ast.Term, greatest bool) (*ast.Term, error) {
	if cur == nil {
		return v, nil
	}
	c := v.Value.Compare(cur.Value)
	if c == 0 {
		if !sameText(v.Value, cur.Value) {
			return nil, errTie
		}
		return cur, nil
	}
	if (c < 0) != greatest {
		return v, nil
	}
	return cur, nil
}

// extremeOf is min (greatest: max) of the array of elems, as OPA's picks:
// the last least (greatest) one.
func extremeOf(elems []*ast.Term, greatest bool) *ast.Term {
	if len(elems) == 0 {
		return nil
	}
	pick := elems[0]
	for _, e := range elems[1:] {
		c := pick.Value.Compare(e.Value)
		if (!greatest && c >= 0) || (greatest && c <= 0) {
			pick = e
		}
	}
	return pick
}

// unionExtreme is min(a | b) (greatest: max) for sets a and b: undefined
// (nil) when both are empty.
// An operand whose bit is set in kept is a set rule's kept element (see
// extremeRules) when it is not a set: the set of it.
func unionExtreme(a, b *ast.Term, greatest bool, kept int) (*ast.Term, error) {
	var cur *ast.Term
	for i, t := range [2]*ast.Term{a, b} {
		set, ok := t.Value.(ast.Set)
		if !ok {
			if kept&(1<<i) == 0 {
				return nil, fmt.Errorf("%w: or of %T and %T", errBuiltin, a.Value, b.Value)
			}
			var err error
			if cur, err = accumulate(cur, t, greatest); err != nil {
				return nil, err
			}
			continue
		}
		elems := set.Slice() // sorted
		if len(elems) == 0 {
			continue
		}
		v := elems[0]
		if greatest {
			v = elems[len(elems)-1]
		}
		var err error
		if cur, err = accumulate(cur, v, greatest); err != nil {
			return nil, err
		}
		// Within one set, elements equal to the extreme one and written
		// differently leave the pick to OPA's sort.
		if len(elems) > 1 {
			next := elems[1]
			if greatest {
				next = elems[len(elems)-2]
			}
			if next.Value.Compare(v.Value) == 0 {
				return nil, errTie
			}
		}
	}
	return cur, nil
}

// sameText says whether two values that compare equal are written the same:
// numbers may not be (1 and 1.0), nor composites holding them.
func sameText(a, b ast.Value) bool {
	switch x := a.(type) {
	case ast.String, ast.Boolean, ast.Null:
		return true
	case ast.Number:
		y, ok := b.(ast.Number)
		return ok && x == y
	case *ast.Array:
		y, ok := b.(*ast.Array)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i := range x.Len() {
			if !sameText(x.Elem(i).Value, y.Elem(i).Value) {
				return false
			}
		}
		return true
	}
	return false
}

// A partial set rule whose value every reader only tests for emptiness
// (stated == set()) or takes the least (greatest) of in a fused union
// (min(stated | suggested)) need not be built either. extremeRules finds
// such rules, whose functions then keep the least (greatest) element added
// and return it, or an empty set when nothing was added: a union takes the
// element as the set of it, and an element is never equal to set() (one
// that is a set itself is left to topdown).
func extremeRules(p *Program) {
	type site struct {
		caller []*block
		call   *stmt
	}
	calls := map[*function][]site{}
	fromPlans := map[*function]bool{}
	var collect func(bs []*block, owner []*block, plan bool)
	collect = func(bs []*block, owner []*block, plan bool) {
		for _, b := range bs {
			for i := range b.stmts {
				s := &b.stmts[i]
				if s.op == opCall {
					calls[s.fn] = append(calls[s.fn], site{owner, s})
					if plan {
						fromPlans[s.fn] = true
					}
				}
				collect(s.blocks, owner, plan)
			}
		}
	}
	for _, fn := range p.funcs {
		collect(fn.blocks, fn.blocks, false)
	}
	for _, pl := range p.plans {
		collect([]*block{pl}, []*block{pl}, true)
	}
	uses := map[*stmt]*localUse{} // by a caller's first statement
	useOf := func(bs []*block) *localUse {
		key := &bs[0].stmts[0]
		if u, ok := uses[key]; ok {
			return u
		}
		u := &localUse{reads: map[int][]int{}, adds: map[int][]int{}, pos: map[*stmt]int{}}
		for _, b := range bs {
			u.count(b)
		}
		uses[key] = u
		return u
	}
	for _, fn := range p.funcs {
		if !fn.memo || fromPlans[fn] || len(calls[fn]) == 0 {
			continue
		}
		ret, ok := setRule(fn)
		if !ok {
			continue
		}
		var unions []extremeArg
		greatest, valid := false, true
		for _, c := range calls[fn] {
			if len(c.caller) == 0 || len(c.caller[0].stmts) == 0 {
				valid = false
				break
			}
			found, ok := extremeReaders(useOf(c.caller), c.caller, c.call)
			if !ok {
				valid = false
				break
			}
			for _, u := range found {
				if len(unions) > 0 && (u.union.op == opUnionMax) != greatest {
					valid = false
				}
				greatest = u.union.op == opUnionMax
				unions = append(unions, u)
			}
		}
		if !valid {
			continue
		}
		acc := opSetAddMin
		if greatest {
			acc = opSetAddMax
		}
		fn.blocks[0].stmts[0] = stmt{op: opResetLocal, target: ret}
		for _, b := range fn.blocks {
			setAccumulate(b.stmts, ret, acc)
			for i := range b.stmts {
				if b.stmts[i].op == opReturn && b.stmts[i].a.local == ret {
					b.stmts[i].op = opReturnExtreme
				}
			}
		}
		for _, u := range unions {
			u.union.index |= 1 << u.arg
		}
	}
}

// setRule says whether fn builds a set in one local, made by its first
// statement, changed only by SetAdds and read only by its top-level
// Return: a partial set rule's function.
func setRule(fn *function) (int, bool) {
	if len(fn.blocks) < 2 || len(fn.blocks[0].stmts) == 0 || fn.blocks[0].stmts[0].op != opMakeSet {
		return 0, false
	}
	ret := fn.blocks[0].stmts[0].target
	u := &localUse{reads: map[int][]int{}, adds: map[int][]int{}, pos: map[*stmt]int{}}
	for _, b := range fn.blocks {
		u.count(b)
	}
	last := fn.blocks[len(fn.blocks)-1]
	if n := len(last.stmts); n == 0 || last.stmts[n-1].op != opReturn || last.stmts[n-1].a.local != ret {
		return 0, false
	}
	if len(u.reads[ret]) != 1 || len(u.writes[ret]) != 1 || len(u.adds[ret]) == 0 {
		return 0, false
	}
	return ret, true
}

// extremeArg is a fused union whose operand arg is a set rule's kept
// element.
type extremeArg struct {
	union *stmt
	arg   int
}

// extremeReaders says whether every statement that can read the result of
// call (in the function whose blocks are bs) only tests it for emptiness,
// right after a constant set() is assigned, or copies it into a local a
// fused union alone reads; it returns those unions.
func extremeReaders(u *localUse, bs []*block, call *stmt) ([]extremeArg, bool) {
	r := call.target
	from := u.pos[call]
	var unions []extremeArg
	ok := true
	// A statement that writes r in a block, after the call, hides the
	// call's value from every statement after it in that block: a block
	// runs its statements in order or leaves.
	var walk func(bs []*block, inLoop, hidden bool)
	walk = func(bs []*block, inLoop, hidden bool) {
		for _, b := range bs {
			hid := hidden
			for i := range b.stmts {
				s := &b.stmts[i]
				p := u.pos[s]
				reads := s.a.k == nil && s.a.local == r || s.b.k == nil && s.b.local == r || readsArg(s, r)
				switch s.op {
				case opSetAdd, opArrayAppend, opObjectInsert, opObjectInsertOnce:
					reads = reads || s.target == r // changes the value in place
				}
				if reads && !hid && (inLoop || p > from) {
					switch {
					case (s.op == opEqual || s.op == opNotEqual) && i > 0 && emptySetAssign(&b.stmts[i-1], s, r):
					case s.op == opAssignVar && s.a.local == r && u.unionReader(s.target, p, inLoop) != nil:
						un := u.unionReader(s.target, p, inLoop)
						unions = append(unions, extremeArg{un, argIndex(un, s.target)})
					default:
						ok = false
					}
				}
				walk(s.blocks, inLoop || s.op == opScan, hid)
				if p > from && s != call && writesTarget(s) && s.target == r {
					hid = true
				}
			}
		}
	}
	walk(bs, false, false)
	return unions, ok
}

// unionReader is the fused union that alone reads what the statement at
// from writes to l, as one of its two operands, or nil.
func (u *localUse) unionReader(l, from int, inLoop bool) *stmt {
	var by *stmt
	for _, p := range u.reads[l] {
		if !inLoop && p <= from {
			continue
		}
		if by != nil {
			return nil
		}
		by = u.at[p]
	}
	if by == nil || (by.op != opUnionMin && by.op != opUnionMax) || argIndex(by, l) < 0 {
		return nil
	}
	for _, p := range u.writes[l] {
		if p > from && p < u.pos[by] {
			return nil // what the union reads is another value
		}
	}
	return by
}

// writesTarget says whether s always writes its target when the block
// goes on after it (a scan does only when its source has elements).
func writesTarget(s *stmt) bool {
	switch s.op {
	case opSetAdd, opArrayAppend, opObjectInsert, opObjectInsertOnce, opScan, opReturn, opIsDefined, opIsUndefined,
		opResultSetAdd, opResult, opEqual, opNotEqual, opIsArray, opIsObject, opIsSet, opBlock, opNot, opBreak, opNop,
		opObjectMerge, opSetAddMin, opSetAddMax, opReturnExtreme:
		return false
	}
	return true
}

func readsArg(s *stmt, l int) bool {
	for _, a := range s.args {
		if a.k == nil && a.local == l {
			return true
		}
	}
	return false
}

// argIndex is the index of the only argument of s that is local l, or -1.
func argIndex(s *stmt, l int) int {
	at := -1
	for i, a := range s.args {
		if a.k == nil && a.local == l {
			if at >= 0 {
				return -1
			}
			at = i
		}
	}
	return at
}

// emptySetAssign says whether prev assigns the constant set() to the local
// eq compares r with.
func emptySetAssign(prev, eq *stmt, r int) bool {
	other := eq.b
	if eq.b.k == nil && eq.b.local == r {
		other = eq.a
	}
	if other.k != nil {
		set, ok := other.k.Value.(ast.Set)
		return ok && set.Len() == 0
	}
	if prev.op != opAssignVar || prev.target != other.local || prev.a.k == nil {
		return false
	}
	set, ok := prev.a.k.Value.(ast.Set)
	return ok && set.Len() == 0
}

// emptySetTerm is what a set rule that keeps its extreme element returns
// when nothing was added. Nothing changes it.
var emptySetTerm = ast.NewTerm(ast.NewSet())

// extremeResult is a set rule's value from the element it kept.
func extremeResult(v *ast.Term) (*ast.Term, error) {
	if v == nil {
		return emptySetTerm, nil
	}
	if _, isSet := v.Value.(ast.Set); isSet {
		return nil, fmt.Errorf("%w: a set as the element a set rule keeps", ErrUnsupported)
	}
	return v, nil
}
