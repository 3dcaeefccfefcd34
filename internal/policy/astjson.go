package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
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
	p := jsonParser{b: b}
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
	b     []byte
	i     int
	pairs [][2]*ast.Term // scratch stack of object members, reused across objects
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
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return stringTerm(s), nil
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
			return ast.NewTerm(ast.NewArray(elems...)), nil
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
		k, err := p.str()
		if err != nil {
			return nil, err
		}
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
		p.pairs = append(p.pairs, [2]*ast.Term{stringTerm(k), v})
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			// NewObject copies the members, so the scratch stack can be reused.
			return ast.NewTerm(ast.NewObject(p.pairs[base:]...)), nil
		default:
			return nil, p.errorf("expected , or } in object")
		}
	}
}

// str reads a JSON string at p.i and returns its unescaped bytes: a slice of
// the text itself when there is no escape, as for almost every string.
func (p *jsonParser) str() ([]byte, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, nil
		case c == '\\':
			return p.escapedStr(start)
		case c < 0x20:
			return nil, p.errorf("control character in string")
		}
		p.i++
	}
	return nil, p.errorf("unterminated string")
}

// stringTerm returns the shared term of a common string (member names such as
// "metadata", enum values such as "Triggered") or a new one.
func stringTerm(b []byte) *ast.Term {
	if t, ok := commonStrings[string(b)]; ok { // a map lookup on string(b) does not allocate
		return t
	}
	return ast.StringTerm(string(b))
}

func (p *jsonParser) escapedStr(start int) ([]byte, error) {
	out := make([]byte, 0, p.i-start+16)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, nil
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
