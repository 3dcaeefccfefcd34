package policy

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"
)

// Klaxon adds one builtin to Rego. Scanning text for keywords is what triage
// policies do most, and in plain Rego it costs a handful of builtin calls
// (lower, replace, split, filter), each a full expression evaluation; done in
// Go it is one. It is pure and deterministic, so it is inside the sandbox.

// KeywordsBuiltin is the name of the keyword-scanning builtin.
const KeywordsBuiltin = "klaxon.keywords"

var keywordsDecl = &ast.Builtin{
	Name: KeywordsBuiltin,
	Description: "Returns the entries of `table` whose key occurs in `text` as whole words, ignoring case " +
		"and punctuation: \"data breach\" matches \"Data-Breach!\" but \"down\" does not match \"download\". " +
		"`text` is a string, or an array or object whose strings (values, at any depth) are scanned one by one.",
	Decl: types.NewFunction(
		types.Args(
			types.Named("table", types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))).Description("keywords (one or more words) to anything"),
			types.Named("text", types.A).Description("a string, or an array or object of strings"),
		),
		types.Named("found", types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))).Description("the entries of table whose keyword occurs in text"),
	),
}

func init() {
	// Registered globally, as OPA registers its own builtins, so that the
	// compiler, the evaluator and the test runner all know it.
	ast.RegisterBuiltin(keywordsDecl)
	topdown.RegisterBuiltinFunc(KeywordsBuiltin, builtinKeywords)
}

func builtinKeywords(_ topdown.BuiltinContext, operands []*ast.Term, iter func(*ast.Term) error) error {
	table, err := builtins.ObjectOperand(operands[0].Value, 1)
	if err != nil {
		return err
	}
	m := matcherFor(table)
	sc := scanPool.Get().(*scan)
	defer scanPool.Put(sc)
	sc.reset(len(m.entries))
	sc.m = m
	sc.walk(m, operands[1].Value)
	sc.m = nil
	if sc.nfound == 0 {
		return iter(ast.InternedEmptyObject)
	}
	return iter(m.result(sc))
}

// result is the object of the entries sc found. The same few sets of
// entries are found over and over (a table's keywords combine in only so
// many ways in real text), and the object is a value no evaluation changes,
// as a table from data is: the matcher keeps the objects it built, by the
// set of entries, up to maxResults of them, and builds the others anew each
// time.
func (m *matcher) result(sc *scan) *ast.Term {
	key := sc.key[:0]
	for i, hit := range sc.hit {
		if hit {
			key = binary.AppendUvarint(key, uint64(i))
		}
	}
	sc.key = key
	m.mu.RLock()
	t, ok := m.results[string(key)] // no allocation
	m.mu.RUnlock()
	if ok {
		return t
	}
	found := make([][2]*ast.Term, 0, sc.nfound)
	for i, hit := range sc.hit {
		if hit {
			found = append(found, [2]*ast.Term{m.entries[i].key, m.entries[i].value})
		}
	}
	t = ast.NewTerm(ast.NewObject(found...))
	m.mu.Lock()
	if len(m.results) < maxResults {
		if prev, ok := m.results[string(key)]; ok {
			t = prev
		} else {
			m.results[string(key)] = t
		}
	}
	m.mu.Unlock()
	return t
}

// maxResults bounds the result objects one matcher keeps.
const maxResults = 1024

// Scanning text for a table's keywords looks each word of the text up once,
// by its first word, in an index of the table built the first time the table
// is seen. Tables are policies' constants (a rule's value, or their data), so
// the same table comes back on every evaluation: finding it again costs its
// hash, which OPA keeps, and a pointer comparison.

// matcher indexes a keyword table.
type matcher struct {
	table   ast.Object
	entries []matcherEntry // in the table's key order
	// first maps a keyword's first word to the entries that start with it.
	first map[string][]int
	// maybe[c] has bit min(n, 63) set when a first word starts with byte c
	// and is n bytes long: most words of a text start no keyword, and this
	// says so without hashing them.
	maybe [256]uint64
	// results are the objects of the entries found, by the set of entries
	// (see result).
	mu      sync.RWMutex
	results map[string]*ast.Term
}

type matcherEntry struct {
	key, value *ast.Term
	words      []string // the keyword's words, lower-cased; none when it has none
}

func newMatcher(table ast.Object) *matcher {
	m := &matcher{table: table, first: map[string][]int{}, results: map[string]*ast.Term{}}
	table.Foreach(func(k, v *ast.Term) {
		s, ok := k.Value.(ast.String)
		if !ok {
			return
		}
		words := strings.Fields(string(wordsOf(string(s))))
		if len(words) == 0 {
			return // no words: it can never occur
		}
		m.first[words[0]] = append(m.first[words[0]], len(m.entries))
		m.maybe[words[0][0]] |= lenBit(len(words[0]))
		m.entries = append(m.entries, matcherEntry{key: k, value: v, words: words})
	})
	return m
}

// matchers caches the index of each table seen, by the table's hash. It is
// bounded: when full, it starts over, which only costs rebuilding indexes.
var matchers struct {
	sync.RWMutex
	byHash map[int][]*matcher
	n      int
}

const maxMatchers = 256

func matcherFor(table ast.Object) *matcher {
	h := table.Hash()
	matchers.RLock()
	list := matchers.byHash[h]
	matchers.RUnlock()
	for _, m := range list {
		if m.table == table {
			return m
		}
	}
	for _, m := range list {
		if m.table.Compare(table) == 0 {
			return m
		}
	}
	m := newMatcher(table)
	matchers.Lock()
	if matchers.byHash == nil || matchers.n >= maxMatchers {
		matchers.byHash, matchers.n = map[int][]*matcher{}, 0
	}
	matchers.byHash[h] = append(matchers.byHash[h], m)
	matchers.n++
	matchers.Unlock()
	return m
}

// scan is one call's working memory, pooled.
type scan struct {
	buf    []byte // the current string's words, lower-cased, each followed by a space
	starts []int  // where each word starts in buf
	hit    []bool // hit[i]: entries[i] occurs
	nfound int
	key    []byte // the entries found, see matcher.result
	// m is the matcher of the walk in progress; walkMember walks an
	// object's member with it, bound once so that walking allocates nothing.
	m          *matcher
	walkMember func(_, v *ast.Term)
}

var scanPool = sync.Pool{New: func() any {
	sc := &scan{buf: make([]byte, 0, 512), starts: make([]int, 0, 64)}
	sc.walkMember = func(_, v *ast.Term) { sc.walk(sc.m, v.Value) }
	return sc
}}

func (sc *scan) reset(n int) {
	sc.hit = slices.Grow(sc.hit[:0], n)[:n]
	clear(sc.hit)
	sc.nfound = 0
}

// walk scans every string in v (values of objects, elements of arrays and
// sets, at any depth) on its own, so that a phrase matches only within one
// string.
func (sc *scan) walk(m *matcher, v ast.Value) {
	switch x := v.(type) {
	case ast.String:
		sc.scanString(m, string(x))
	case *ast.Array:
		for i := range x.Len() {
			sc.walk(m, x.Elem(i).Value)
		}
	case ast.Object:
		x.Foreach(sc.walkMember) // sc.m is m
	case ast.Set:
		for _, t := range x.Slice() { // sorted, as Foreach goes
			sc.walk(m, t.Value)
		}
	}
}

func (sc *scan) scanString(m *matcher, s string) {
	if sc.nfound == len(m.entries) {
		return
	}
	sc.words(s)
	for wi, start := range sc.starts {
		end := sc.end(wi)
		if m.maybe[sc.buf[start]]&lenBit(end-start) == 0 {
			continue
		}
		for _, ei := range m.first[string(sc.buf[start:end])] { // no allocation
			if sc.hit[ei] {
				continue
			}
			if sc.phraseAt(m.entries[ei].words, wi) {
				sc.hit[ei] = true
				sc.nfound++
			}
		}
	}
}

func lenBit(n int) uint64 { return 1 << min(n, 63) }

// words writes s's words (runs of letters and digits), lower-cased, to sc.buf
// as " w1 w2 ... wn " (" " when there are none), and where each starts to
// sc.starts, in one pass. ASCII text, which fits
// in len(s)+2 bytes, is written by index; from the first other byte on,
// by appending, since a rune's lower case may be longer.
func (sc *scan) words(s string) {
	b, starts := slices.Grow(sc.buf[:0], len(s)+2)[:len(s)+2], sc.starts[:0]
	b[0] = ' '
	j, i := 1, 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			break
		}
		if l := asciiWord[c]; l != 0 {
			if b[j-1] == ' ' {
				starts = append(starts, j)
			}
			b[j] = l
			j++
		} else if b[j-1] != ' ' {
			b[j] = ' '
			j++
		}
	}
	b = b[:j]
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if l := asciiWord[c]; l != 0 {
				if b[len(b)-1] == ' ' {
					starts = append(starts, len(b))
				}
				b = append(b, l)
			} else if b[len(b)-1] != ' ' {
				b = append(b, ' ')
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if b[len(b)-1] == ' ' {
				starts = append(starts, len(b))
			}
			b = utf8.AppendRune(b, unicode.ToLower(r))
		case b[len(b)-1] != ' ':
			b = append(b, ' ')
		}
	}
	if b[len(b)-1] != ' ' {
		b = append(b, ' ')
	}
	sc.buf, sc.starts = b, starts
}

// end is where word wi ends in sc.buf: words are one space apart.
func (sc *scan) end(wi int) int {
	if wi+1 < len(sc.starts) {
		return sc.starts[wi+1] - 1
	}
	return len(sc.buf) - 1
}

// phraseAt says whether words occur in the current string from its word wi.
func (sc *scan) phraseAt(words []string, wi int) bool {
	if wi+len(words) > len(sc.starts) {
		return false
	}
	for j := 1; j < len(words); j++ {
		if string(sc.buf[sc.starts[wi+j]:sc.end(wi+j)]) != words[j] {
			return false
		}
	}
	return true
}

// wordsOf is s's words (runs of letters and digits), lower-cased, as
// " w1 w2 ... wn "; a string without words is " ".
func wordsOf(s string) []byte {
	var sc scan
	sc.words(s)
	return sc.buf
}

// asciiWord maps an ASCII letter or digit to itself lower-cased, anything
// else to 0 (a separator).
var asciiWord = func() (t [utf8.RuneSelf]byte) {
	for c := byte('a'); c <= 'z'; c++ {
		t[c] = c
		t[c-'a'+'A'] = c
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	return t
}()
