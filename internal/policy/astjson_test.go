package policy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestValueFromJSON checks the converter against OPA's own, on tricky
// documents and on every benchmark input.
func TestValueFromJSON(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `""`, `0`, `-1.5e-3`, `true`, `false`, `null`, `123456789012345678901234567890`,
		`{"a": [1, {"b": null}, "x"], "c": {"d": {}}}`,
		`"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800 lone"`,
		`{"dup": 1, "dup": 2}`,
		" \t\n{ \"k\" : [ 1 , 2 ] } \n",
		// An escaped member name, then values with escapes of their own.
		`{"k\"1": "v\n1", "k\u00e92": {"k\t3": ["v\\3", "plain", "v\u00e94"]}, "k\"1x": "\ud83d\ude00"}`,
		"{\"bad\xffkey\": \"bad\xffvalue\", \"k\\u0041\": \"A\"}",
	}
	for _, in := range benchInputs(t, "acme")[:50] {
		raw, _, err := encodeInput(&in)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(raw))
	}
	for _, doc := range docs {
		got, err := valueFromJSON([]byte(doc))
		if err != nil {
			t.Errorf("%.60s: %v", doc, err)
			continue
		}
		var x any
		dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			t.Fatal(err)
		}
		want, err := ast.InterfaceToValue(x)
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%.60s:\n got %v\nwant %v", doc, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `[1,]`, `{"a" 1}`, `"unterminated`, `tru`, `01x`, `{"a":1}x`, "\"ctl\x01\"", `"\x"`, `"\u12"`} {
		if _, err := valueFromJSON([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzValueFromJSON checks that any input that encoding/json accepts
// converts to the value OPA's converter makes, and that nothing panics.
func FuzzValueFromJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c"}]}`, `"\u00e9\ud83d\ude00"`, `-0.1e5`, `[[[[]]]]`, `{"":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := valueFromJSON(b)
		if !json.Valid(b) {
			return // errors and (for invalid UTF-8) lenient results are both fine
		}
		if err != nil {
			// Numbers beyond float64 range are valid JSON that OPA keeps as text.
			t.Fatalf("%q: %v", b, err)
		}
		var x any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			return
		}
		want, err := ast.InterfaceToValue(x)
		if err != nil {
			return
		}
		if got.Compare(want) != 0 {
			t.Fatalf("%q:\n got %v\nwant %v", b, got, want)
		}
	})
}

// TestMayEndString checks the eight-byte test of str: yes for a word with
// a quote, a backslash or a control character at any place, no for a word
// without.
func TestMayEndString(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			w := []byte("aZ9 ~é.\x7f")
			w[pos] = byte(c)
			want := c == '"' || c == '\\' || c < 0x20
			if got := mayEndString(binary.LittleEndian.Uint64(w)); got != want {
				t.Errorf("byte %#x at %d: %v, want %v", c, pos, got, want)
			}
		}
	}
}

// TestValueFromJSONStrings checks strings of every length around the
// eight-byte steps, with escapes, non-ASCII, invalid UTF-8 and control
// characters at every offset, against encoding/json.
func TestValueFromJSONStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"a", "Z", " ", "é", "日本", `\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude00`, "\xff", "\x01", "\x7f", "~", "/"}
	for range 20000 {
		var b strings.Builder
		b.WriteByte('"')
		for range r.IntN(30) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		b.WriteByte('"')
		doc := []byte(b.String())
		got, err := valueFromJSON(doc)
		if bytes.IndexByte(doc, 0x01) >= 0 {
			if err == nil {
				t.Fatalf("%q: no error for a control character", doc)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		var want string
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		if got.Compare(ast.String(want)) != 0 {
			t.Fatalf("%q:\n got %v\nwant %q", doc, got, want)
		}
	}
}
