package planeval

import "github.com/open-policy-agent/opa/v1/ast"

// The planner builds every composite term at run time, a statement per
// element: a table written in a rule (a keyword table of 30 entries, say) is
// rebuilt, hundreds of allocations, on every evaluation. foldConstants finds
// the composites built only from constants and never changed afterwards,
// and has their statements load the value, built once, instead.

// foldConstants rewrites one function's (or plan's) blocks in place.
func foldConstants(blocks []*block) {
	f := &folder{muts: map[int][]int{}, edges: map[int][]edge{}, pos: map[*stmt]int{}}
	for _, b := range blocks {
		f.survey(b)
	}
	for _, b := range blocks {
		f.fold(b, false)
	}
}

type folder struct {
	// n numbers the statements in the order they are written (pos).
	n   int
	pos map[*stmt]int
	// muts[l] are where statements change a local's value in place.
	muts map[int][]int
	// edges[l] are the locals that may share (part of) l's value, and
	// where they come to.
	edges map[int][]edge
}

type edge struct{ to, at int }

func (f *folder) survey(b *block) {
	for i := range b.stmts {
		s := &b.stmts[i]
		f.n++
		f.pos[s] = f.n
		switch s.op {
		case opArrayAppend, opObjectInsert, opObjectInsertOnce, opSetAdd:
			f.muts[s.target] = append(f.muts[s.target], f.n)
		case opAssignVar, opAssignVarOnce, opDot:
			if s.a.k == nil {
				f.edges[s.a.local] = append(f.edges[s.a.local], edge{s.target, f.n})
			}
		case opScan:
			f.edges[s.a.local] = append(f.edges[s.a.local], edge{s.target, f.n}, edge{s.value, f.n})
		case opCall, opCallBuiltin:
			// A callee never changes its arguments; a builtin's result may
			// share them.
			for _, a := range s.args {
				if a.k == nil {
					f.edges[a.local] = append(f.edges[a.local], edge{s.target, f.n})
				}
			}
		}
		for _, sub := range s.blocks {
			f.survey(sub)
		}
	}
}

// shared says whether a value built in l, complete at position from, may
// be changed through another local it flows to. Outside a scan's body,
// statements run in the order they are written, so only what comes after
// from can see the value: the planner reuses locals from one rule body to
// the next, and what an earlier body did with l does not matter. In a
// scan's body, everything does.
func (f *folder) shared(l, from int, inLoop bool) bool {
	type visit struct{ l, from int }
	seen := map[int]bool{l: true}
	stack := []visit{{l, from}}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range f.edges[x.l] {
			if seen[e.to] || (!inLoop && e.at <= x.from) {
				continue
			}
			if f.mutatedAfter(e.to, e.at, inLoop) {
				return true
			}
			seen[e.to] = true
			stack = append(stack, visit{e.to, e.at})
		}
	}
	return false
}

// mutatedAfter says whether a statement after position from (in a loop:
// anywhere) changes l's value in place.
func (f *folder) mutatedAfter(l, from int, inLoop bool) bool {
	for _, p := range f.muts[l] {
		if inLoop || p > from {
			return true
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

func (f *folder) fold(b *block, inLoop bool) {
	consts := map[int]*ast.Term{}
	builds := map[int]*build{}
	// finish folds l's build if every change of l was one of its inserts.
	finish := func(l int) *ast.Term {
		bd := builds[l]
		delete(builds, l)
		if bd == nil {
			return nil
		}
		// Every change of l from the Make on is one of the build's inserts,
		// and nothing changes the value through a local it flows to.
		end := f.pos[&b.stmts[bd.at]]
		if len(bd.inserts) > 0 {
			end = f.pos[&b.stmts[bd.inserts[len(bd.inserts)-1]]]
		}
		from := f.pos[&b.stmts[bd.at]]
		changes := 0
		for _, p := range f.muts[l] {
			if inLoop || p > from {
				changes++
			}
		}
		if changes != len(bd.inserts) || f.shared(l, end, inLoop) {
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
			f.fold(sub, inLoop || s.op == opScan)
		}
	}
	flush()
}
