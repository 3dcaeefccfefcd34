package planeval

import "strconv"

// markPureDots marks the Dot statements of one function (or plan) whose
// source is input, data, a rule's value or a part of one: values no
// evaluation changes once they are made,
// so a lookup in them can be remembered. The planner reads input.a.b.c anew
// in every rule; a lookup whose source is a known path from input or data
// and whose key is a constant gets that path's slot (stmt.path), looked up
// once per evaluation. Other lookups are made each time: remembering them
// by source and key in a map cost more than the lookups it saved.
//
// The planner reuses locals from one rule body to the next, so purity is
// followed statement by statement: a local is pure from a lookup or an
// assignment from a pure local (or a scan of one) until the next statement
// that writes it. params[0] and params[1] are input and data, by the
// planner's convention, and nothing writes them.
func (l *linker) markPureDots(blocks []*block, params []int) {
	if len(params) < 2 {
		return
	}
	pure := map[int]int{params[0]: l.pathID("input"), params[1]: l.pathID("data")}
	for _, b := range blocks {
		l.markBlock(b, pure)
	}
}

// unknownPath marks a pure local whose path is not known.
const unknownPath = -1

// pathID numbers a path from input or data, across the whole program.
func (l *linker) pathID(p string) int {
	if id, ok := l.paths[p]; ok {
		return id
	}
	id := len(l.pathNames)
	l.paths[p] = id
	l.pathNames = append(l.pathNames, p)
	return id
}

// markBlock marks b's lookups given the locals pure on entry (local to path
// id, or unknownPath), and updates pure to what holds after b, whichever way
// it was left.
func (l *linker) markBlock(b *block, pure map[int]int) {
	for i := range b.stmts {
		s := &b.stmts[i]
		switch s.op {
		case opDot:
			delete(pure, s.target)
			if s.a.k != nil {
				break
			}
			src, ok := pure[s.a.local]
			if !ok {
				break
			}
			if src != unknownPath && s.b.k != nil {
				id := l.pathID(l.pathNames[src] + "\x00" + strconv.Quote(s.b.k.String()))
				s.path = id + 1
				pure[s.target] = id
			} else {
				pure[s.target] = unknownPath
			}
		case opAssignVar, opAssignVarOnce:
			src, ok := pure[s.a.local]
			if s.a.k == nil && ok {
				pure[s.target] = src
			} else {
				delete(pure, s.target)
			}
		case opScan:
			// The body runs again after it wrote its locals: what it
			// writes is not known pure at its start.
			inner := copyPure(pure)
			forgetWritten(s.blocks, inner)
			delete(inner, s.target)
			delete(inner, s.value)
			if _, ok := pure[s.a.local]; ok {
				inner[s.target], inner[s.value] = unknownPath, unknownPath
			}
			l.markBlock(s.blocks[0], inner)
			forgetWritten(s.blocks, pure)
			delete(pure, s.target)
			delete(pure, s.value)
		case opBlock, opNot:
			for _, sub := range s.blocks {
				// Each block may run or not: it starts from what held
				// before, and what it writes is unknown after.
				l.markBlock(sub, copyPure(pure))
			}
			forgetWritten(s.blocks, pure)
		case opCall:
			// A rule's value is computed once per evaluation and never
			// changed after: lookups in it are remembered like those in
			// input and data, under the rule's name.
			if s.fn.memo {
				pure[s.target] = l.pathID("rule " + s.fn.name)
			} else {
				delete(pure, s.target)
			}
		case opResetLocal:
			delete(pure, s.target)
		case opReturn, opBreak, opNop, opEqual, opNotEqual, opIsArray, opIsObject, opIsSet,
			opIsDefined, opIsUndefined, opResultSetAdd, opResult:
		default:
			// Calls, constants, composites and their changes write their
			// target with a value that may be anything.
			delete(pure, s.target)
		}
	}
}

func copyPure(m map[int]int) map[int]int {
	out := make(map[int]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// forgetWritten drops from pure every local a statement in blocks writes.
func forgetWritten(blocks []*block, pure map[int]int) {
	for _, b := range blocks {
		for i := range b.stmts {
			s := &b.stmts[i]
			switch s.op {
			case opReturn, opBreak, opNop, opEqual, opNotEqual, opIsArray, opIsObject, opIsSet,
				opIsDefined, opIsUndefined, opResultSetAdd, opResult, opBlock, opNot:
			case opScan:
				delete(pure, s.target)
				delete(pure, s.value)
			default:
				delete(pure, s.target)
			}
			forgetWritten(s.blocks, pure)
		}
	}
}
