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
func unionExtreme(a, b *ast.Term, greatest bool) (*ast.Term, error) {
	x, ok := a.Value.(ast.Set)
	y, ok2 := b.Value.(ast.Set)
	if !ok || !ok2 {
		return nil, fmt.Errorf("%w: or of %T and %T", errBuiltin, a.Value, b.Value)
	}
	var cur *ast.Term
	for _, set := range [2]ast.Set{x, y} {
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
