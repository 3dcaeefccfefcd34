package planeval

import "github.com/open-policy-agent/opa/v1/ast"

// The planner builds every composite term at run time, a statement per
// element: a table written in a rule (a keyword table of 30 entries, say) is
// rebuilt, hundreds of allocations, on every evaluation. foldConstants finds
// the composites built only from constants and never changed afterwards,
// and has their statements load the value, built once, instead.

// foldConstants rewrites one function's (or plan's) blocks in place.
func foldConstants(blocks []*block) {
	f := &folder{muts: map[int]int{}, edges: map[int][]int{}}
	for _, b := range blocks {
		f.survey(b)
	}
	for _, b := range blocks {
		f.fold(b)
	}
}

type folder struct {
	// muts counts the statements that change a local's value in place.
	muts map[int]int
	// edges[l] are the locals that may share (part of) l's value.
	edges map[int][]int
}

func (f *folder) survey(b *block) {
	for i := range b.stmts {
		s := &b.stmts[i]
		switch s.op {
		case opArrayAppend, opObjectInsert, opObjectInsertOnce, opSetAdd:
			f.muts[s.target]++
		case opAssignVar, opAssignVarOnce, opDot:
			if s.a.k == nil {
				f.edges[s.a.local] = append(f.edges[s.a.local], s.target)
			}
		case opScan:
			f.edges[s.a.local] = append(f.edges[s.a.local], s.target, s.value)
		case opCall, opCallBuiltin:
			// A callee never changes its arguments; a builtin's result may
			// share them.
			for _, a := range s.args {
				if a.k == nil {
					f.edges[a.local] = append(f.edges[a.local], s.target)
				}
			}
		}
		for _, sub := range s.blocks {
			f.survey(sub)
		}
	}
}

// shared says whether a value built in l may be changed through another
// local it flows to.
func (f *folder) shared(l int) bool {
	seen := map[int]bool{l: true}
	stack := []int{l}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, y := range f.edges[x] {
			if seen[y] {
				continue
			}
			if f.muts[y] > 0 {
				return true
			}
			seen[y] = true
			stack = append(stack, y)
		}
	}
	return false
}

// build is a composite under construction from constants.
type build struct {
	at      int // the Make statement
	val     ast.Value
	inserts []int
}

func (f *folder) fold(b *block) {
	consts := map[int]*ast.Term{}
	builds := map[int]*build{}
	// finish folds l's build if every change of l was one of its inserts.
	finish := func(l int) *ast.Term {
		bd := builds[l]
		delete(builds, l)
		if bd == nil || f.muts[l] != len(bd.inserts) || f.shared(l) {
			return nil
		}
		t := ast.NewTerm(bd.val)
		b.stmts[bd.at] = stmt{op: opAssignVar, a: operand{k: t}, target: l}
		for _, i := range bd.inserts {
			b.stmts[i] = stmt{op: opNop}
		}
		return t
	}
	constOf := func(o operand) *ast.Term {
		if o.k != nil {
			return o.k
		}
		if t, ok := consts[o.local]; ok {
			return t
		}
		if _, open := builds[o.local]; open {
			if t := finish(o.local); t != nil {
				consts[o.local] = t
				return t
			}
		}
		return nil
	}
	flush := func() {
		for l := range builds {
			finish(l)
		}
		clear(consts)
	}
	for i := range b.stmts {
		s := &b.stmts[i]
		switch s.op {
		case opMakeNumber, opMakeNull:
			delete(builds, s.target)
			if s.op == opMakeNull {
				consts[s.target] = ast.InternedNullTerm
			} else {
				consts[s.target] = s.num
			}
			continue
		case opMakeArray, opMakeObject, opMakeSet:
			if _, open := builds[s.target]; open {
				flush()
			}
			delete(consts, s.target)
			var v ast.Value
			switch s.op {
			case opMakeArray:
				v = ast.NewArrayWithCapacity(s.index)
			case opMakeObject:
				v = ast.NewObject()
			default:
				v = ast.NewSet()
			}
			builds[s.target] = &build{at: i, val: v}
			continue
		case opArrayAppend, opObjectInsert, opSetAdd:
			bd := builds[s.target]
			if bd == nil {
				break
			}
			a := constOf(s.a)
			var bv *ast.Term
			if s.op == opObjectInsert {
				bv = constOf(s.b)
			}
			if a == nil || (s.op == opObjectInsert && bv == nil) {
				delete(builds, s.target)
				break
			}
			switch v := bd.val.(type) {
			case *ast.Array:
				bd.val = v.Append(a)
			case ast.Object:
				v.Insert(a, bv)
			case ast.Set:
				v.Add(a)
			}
			bd.inserts = append(bd.inserts, i)
			continue
		}
		// Any other statement: what is complete is folded, the rest is
		// left as the planner wrote it.
		flush()
		for _, sub := range s.blocks {
			f.fold(sub)
		}
	}
	flush()
}
