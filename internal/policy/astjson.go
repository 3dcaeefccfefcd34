package policy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/klaxon-ops/klaxon/internal/policy/planeval"
)

// The input of a decision is kept as JSON (Record.Input, for the post-mortem
// record and replay) and evaluated as an ast.Value. Converting the JSON text
// straight to AST terms, instead of through map[string]any and
// ast.InterfaceToValue, halves the allocations of building the input, and it
// makes the evaluated value exactly the recorded one.

// maxJSONDepth bounds nesting, so hostile replay input cannot exhaust the stack.
const maxJSONDepth = 256

var errJSONSyntax = errors.New("invalid JSON")

// valueFromJSON converts one JSON text to an AST value. It trusts the text to
// be valid UTF-8 (encoding/json output is); ParseInput checks text from
// elsewhere first. It never panics on bad input.
func valueFromJSON(b []byte) (ast.Value, error) {
	p := parsers.Get().(*jsonParser)
	defer p.release()
	p.b, p.i = b, 0
	if n := stringBytes(b); n > 0 {
		p.strs.Grow(n)
	}
	p.space()
	t, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, p.errorf("unexpected %q after the value", p.b[p.i])
	}
	return t.Value, nil
}

type jsonParser struct {
	b []byte
	// strs holds the text of the strings without escapes that are not
	// common, one after another: each is a slice of it, so that they share
	// one allocation, sized beforehand by stringBytes, without the member
	// names and punctuation a copy of the whole text would hold. A Builder
	// never changes the bytes it has written, so the slices stay valid.
	strs  strings.Builder
	esc   []byte // scratch for a string with escapes, unescaped
	i     int
	pairs [][2]*ast.Term // scratch stack of object members, reused across objects
	terms planeval.TermSlab
}

// parsers are pooled with their scratch stack and what is left of their
// slab: a decision's input needs a score of terms, and the rest of a slab
// serves the next decisions rather than being thrown away.
var parsers = sync.Pool{New: func() any { return &jsonParser{pairs: make([][2]*ast.Term, 0, 32)} }}

// release returns p to the pool, keeping no reference to its text or to the
// terms it handed out.
func (p *jsonParser) release() {
	clear(p.pairs[:cap(p.pairs)])
	p.pairs = p.pairs[:0]
	p.b, p.i = nil, 0
	p.strs = strings.Builder{}
	if cap(p.esc) > 4<<10 {
		p.esc = nil
	}
	parsers.Put(p)
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errJSONSyntax, p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*ast.Term, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nested deeper than %d", maxJSONDepth)
	}
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		start := p.i + 1
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return p.stringTerm(s, start), nil
	case c == 't':
		return p.literal("true", ast.InternedTerm(true))
	case c == 'f':
		return p.literal("false", ast.InternedTerm(false))
	case c == 'n':
		return p.literal("null", ast.NullTerm())
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *jsonParser) literal(word string, t *ast.Term) (*ast.Term, error) {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return nil, p.errorf("expected %s", word)
	}
	p.i += len(word)
	return t, nil
}

func (p *jsonParser) number() (*ast.Term, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	text := p.b[start:p.i]
	if t := ast.InternedIntNumberTermFromString(string(text)); t != nil {
		return t, nil
	}
	if _, err := strconv.ParseFloat(string(text), 64); err != nil {
		// ParseFloat accepts everything JSON numbers are and reports range
		// errors for huge ones, which are still numbers to Rego.
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return nil, p.errorf("bad number %q", text)
		}
	}
	return ast.NumberTerm(json.Number(text)), nil
}

func (p *jsonParser) array(depth int) (*ast.Term, error) {
	p.i++ // [
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return ast.ArrayTerm(), nil
	}
	var elems []*ast.Term
	for {
		p.space()
		t, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		elems = append(elems, t)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return p.terms.Term(ast.NewArray(elems...)), nil
		default:
			return nil, p.errorf("expected , or ] in array")
		}
	}
}

func (p *jsonParser) object(depth int) (*ast.Term, error) {
	p.i++ // {
	base := len(p.pairs)
	defer func() { p.pairs = p.pairs[:base] }()
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return ast.NewTerm(ast.NewObject()), nil
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errorf("expected a member name")
		}
		kstart := p.i + 1
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		// Before the value is read: k may be p.esc, which the value's
		// strings reuse.
		kt := p.stringTerm(k, kstart)
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errorf("expected : after a member name")
		}
		p.i++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.pairs = append(p.pairs, [2]*ast.Term{kt, v})
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			members := p.pairs[base:]
			if hasDuplicateKeys(members) {
				// The last one wins, as in encoding/json; NewObject assumes
				// distinct keys.
				obj := ast.NewObjectWithCapacity(len(members))
				for _, kv := range members {
					obj.Insert(kv[0], kv[1])
				}
				return p.terms.Term(obj), nil
			}
			// NewObject copies the members, so the scratch stack can be reused.
			return p.terms.Term(ast.NewObject(members...)), nil
		default:
			return nil, p.errorf("expected , or } in object")
		}
	}
}

// hasDuplicateKeys reports whether two members share a name; encoders never
// write such objects, but a replayed input may come from anywhere.
func hasDuplicateKeys(members [][2]*ast.Term) bool {
	if len(members) <= 8 {
		for i := range members {
			for j := i + 1; j < len(members); j++ {
				if members[i][0].Equal(members[j][0]) {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[ast.String]struct{}, len(members))
	for _, kv := range members {
		k := kv[0].Value.(ast.String)
		if _, dup := seen[k]; dup {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

// str reads a JSON string at p.i and returns its unescaped bytes: a slice of
// the text itself when there is no escape and the text is valid UTF-8, as
// for almost every string.
func (p *jsonParser) str() ([]byte, error) {
	p.i++ // opening quote
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		// Eight bytes at a time while none of them ends the string, starts
		// an escape or is a control character: most strings are read so.
		if p.i+8 <= len(p.b) {
			if x := binary.LittleEndian.Uint64(p.b[p.i:]); !mayEndString(x) {
				if x&highBits != 0 {
					ascii = false
				}
				p.i += 8
				continue
			}
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii {
				return toValidUTF8(s), nil
			}
			return s, nil
		case c == '\\':
			return p.escapedStr(start)
		case c < 0x20:
			return nil, p.errorf("control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, p.errorf("unterminated string")
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// mayEndString says whether one of x's eight bytes may be a quote, a
// backslash or a control character (below 0x20). It is never wrong when it
// says no; it may say yes for a byte next to one that is.
func mayEndString(x uint64) bool {
	hasZero := func(v uint64) uint64 { return (v - lowBits) & ^v & highBits }
	return hasZero(x^(lowBits*'"'))|hasZero(x^(lowBits*'\\'))|((x-lowBits*0x20)&^x&highBits) != 0
}

// toValidUTF8 replaces each byte that is not part of valid UTF-8 with
// U+FFFD, as encoding/json reads them; otherwise a replayed input would
// differ from the recorded one.
func toValidUTF8(s []byte) []byte {
	if utf8.Valid(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[:n]...)
		}
		s = s[n:]
	}
	return out
}

// stringTerm returns the shared term of a common string (member names such as
// "metadata", enum values such as "Triggered") or a new one. b came from
// str; start is where the string's text begins in p.b, so that when b is that
// text itself (no escapes) or unescaped in p.esc, the value goes into p.strs
// with the others.
func (p *jsonParser) stringTerm(b []byte, start int) *ast.Term {
	if t, ok := commonStrings[string(b)]; ok { // a map lookup on string(b) does not allocate
		return t
	}
	off := p.strs.Len()
	p.strs.Write(b)
	return p.terms.Term(ast.String(p.strs.String()[off:]))
}

// stringBytes is about how many bytes of b's strings stringTerm writes to
// p.strs: those of every string that is not common (an escaped one's text is
// at least as long as its value). It only sizes p.strs, which grows if it is
// short.
func stringBytes(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j, escaped := i+1, false
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		j = min(j, len(b))
		if _, common := commonStrings[string(b[i+1:j])]; escaped || !common {
			n += j - i - 1
		}
		i = j
	}
	return n
}

func (p *jsonParser) escapedStr(start int) ([]byte, error) {
	out := p.esc[:0]
	defer func() { p.esc = out[:0] }()
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return toValidUTF8(out), nil
		case c < 0x20:
			return nil, p.errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++ // backslash
		if p.i >= len(p.b) {
			break
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A surrogate pair is two escapes; a lone half is U+FFFD, as
				// encoding/json decodes it.
				r2 := rune(-1)
				if len(p.b)-p.i >= 6 && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					var ok2 bool
					if r2, ok2 = p.hex4(); !ok2 {
						return nil, p.errorf("bad \\u escape")
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						continue
					}
					p.i = save
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.errorf("bad escape \\%c", e)
		}
	}
	return nil, p.errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
