package policy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A cached output is keyed by the parts of the input the policy reads. They
// are read straight from the input's JSON text (which the record keeps
// anyway), without building the AST the evaluation would need: on a cache
// hit, no AST is built at all. Equal JSON text is an equal value, and the
// engine's encoder writes a value always the same way, so comparing text is
// exact; at worst an equal value written differently is a miss.

// rawFind returns the JSON text of the value at path (object members by
// name, array elements by index) in doc, which must be valid JSON. A member
// that occurs twice is the last one, as when decoding.
func rawFind(doc []byte, path ast.Ref) ([]byte, bool) {
	return rawScanner{b: doc}.find(path)
}

// rawFindUnique is rawFind for a document whose objects have no member
// twice, as encoding/json writes Go values: the first member of a name is
// the one, and the rest of the object need not be read.
func rawFindUnique(doc []byte, path ast.Ref) ([]byte, bool) {
	return rawScanner{b: doc, unique: true}.find(path)
}

func (s rawScanner) find(path ast.Ref) ([]byte, bool) {
	s.space()
	for _, t := range path {
		switch k := t.Value.(type) {
		case ast.String:
			if s.i >= len(s.b) || s.b[s.i] != '{' {
				return nil, false
			}
			if !s.member(string(k)) {
				return nil, false
			}
		case ast.Number:
			n, ok := k.Int()
			if !ok || n < 0 || s.i >= len(s.b) || s.b[s.i] != '[' {
				return nil, false
			}
			if !s.element(n) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	start := s.i
	if !s.skipValue() {
		return nil, false
	}
	return s.b[start:s.i], true
}

type rawScanner struct {
	b []byte
	i int
	// unique: no object has a member twice (see rawFindUnique).
	unique bool
}

func (s *rawScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// member moves to the value of the last member named name of the object at
// s.i.
func (s *rawScanner) member(name string) bool {
	s.i++ // {
	found := -1
	for {
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		if s.b[s.i] == '}' {
			break
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		kstart := s.i
		if !s.skipString() {
			return false
		}
		key := s.b[kstart:s.i]
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if keyEquals(key, name) {
			if s.unique {
				return true
			}
			found = s.i
		}
		if !s.skipValue() {
			return false
		}
	}
	if found < 0 {
		return false
	}
	s.i = found
	return true
}

// keyEquals compares a quoted JSON string with name.
func keyEquals(quoted []byte, name string) bool {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' {
			var k string
			return json.Unmarshal(quoted, &k) == nil && k == name
		}
	}
	return string(inner) == name
}

// element moves to element n of the array at s.i.
func (s *rawScanner) element(n int) bool {
	s.i++ // [
	for idx := 0; ; idx++ {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			return false
		}
		if idx == n {
			return true
		}
		if !s.skipValue() {
			return false
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
		}
	}
}

func (s *rawScanner) skipString() bool {
	s.i++ // opening quote
	for {
		q := bytes.IndexByte(s.b[s.i:], '"')
		if q < 0 {
			return false
		}
		s.i += q + 1
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for j := s.i - 2; j >= 0 && s.b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
	}
}

// skipValue moves past the value at s.i.
func (s *rawScanner) skipValue() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		return s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if !s.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default: // a number, true, false or null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return true
			}
			s.i++
		}
		return true
	}
}

// projectionSeed hashes projections; it is per process, as the cache is.
var projectionSeed = maphash.MakeSeed()

// appendProjection appends to buf, for each path, what the input holds
// there: its JSON text, or for input.decision (which is not in the JSON,
// the engine adds it) the merged value's text; absent paths are marked so.
func appendProjection(buf []byte, paths []ast.Ref, di *decisionInput, m *merged) []byte {
	for _, p := range paths {
		var v []byte
		ok := false
		if len(p) >= 2 && p[1].Equal(decisionTerm) {
			if d, err := m.asObject().Find(p[2:]); err == nil {
				v, ok = []byte(d.String()), true
			}
		} else {
			v, ok = di.find(p)
		}
		if !ok {
			buf = append(buf, 0)
			continue
		}
		buf = append(buf, 1)
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	return buf
}

// find is rawFind on the decision's JSON, remembering the last few paths:
// the layers of a decision mostly read the same parts.
func (di *decisionInput) find(p ast.Ref) ([]byte, bool) {
	for _, f := range di.found {
		if f.path.Equal(p) {
			return f.text, f.ok
		}
	}
	find := rawFind
	if di.unique {
		find = rawFindUnique
	}
	text, ok := find(di.raw, p[1:])
	if len(di.found) < 8 {
		di.found = append(di.found, foundPath{p, text, ok})
	}
	return text, ok
}

type foundPath struct {
	path ast.Ref
	text []byte
	ok   bool
}
