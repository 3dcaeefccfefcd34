package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// sameAsEncodingJSON fails unless appendJSON writes what json.Marshal does,
// errors included.
func sameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := appendJSON(nil, v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%T: encoding/json error %v, appendJSON error %v", v, werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%T:\nappendJSON   %s\nencoding/json %s", v, got, want)
	}
}

func TestAppendJSONBenchInputs(t *testing.T) {
	for _, in := range benchInputs(t, "acme") {
		sameAsEncodingJSON(t, &in)
		in.Incident = slim(in.Incident)
		sameAsEncodingJSON(t, &in)
	}
}

// randomStrings are what fill strings: plain, empty, and every kind
// encoding/json escapes.
var randomStrings = []string{"", "a", "payments-api", "SEV1", "x<y>&z", `quo"te`, `back\slash`, "tab\there",
	"new\nline", "\x00\x1f", "ünïcödé", "\u2028\u2029", "bad\xffutf8", "emoji 🚨", "/path/with spaces", "ctl\x7f"}

// fill sets v (settable) to random values of its type, recursively.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Type() {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[metav1.Time]():
		var tm time.Time
		switch r.IntN(4) {
		case 1:
			tm = time.Unix(r.Int64N(4e9), r.Int64N(2e9)).UTC()
		case 2:
			tm = time.Unix(r.Int64N(4e9), 0).In(time.FixedZone("x", (r.IntN(48)-24)*1800))
		case 3:
			tm = time.Date(10000+r.IntN(3), 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(tm))
		} else {
			v.Set(reflect.ValueOf(metav1.NewTime(tm)))
		}
		return
	case reflect.TypeFor[json.RawMessage]():
		raws := []string{"", `{"a":1,"b":[true,null]}`, `"<&>"`, ` { "spaced" : 1 } `}
		if s := raws[r.IntN(len(raws))]; s != "" {
			v.SetBytes([]byte(s))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(randomStrings[r.IntN(len(randomStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.IntN(3) > 0 {
			v.SetInt(int64(r.IntN(200) - 100))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.IntN(3) > 0 {
			v.SetUint(uint64(r.IntN(200)))
		}
	case reflect.Float32, reflect.Float64:
		v.SetFloat(r.Float64() * 1e6)
	case reflect.Pointer:
		if r.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			fill(r, p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		switch r.IntN(3) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			n := 1 + r.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fill(r, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch r.IntN(3) {
		case 0:
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for range 1 + r.IntN(40) {
				k := reflect.New(v.Type().Key()).Elem()
				fill(r, k, depth+1)
				if k.Kind() == reflect.String {
					k.SetString(k.String() + fmt.Sprint(r.IntN(100)))
				}
				e := reflect.New(v.Type().Elem()).Elem()
				fill(r, e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	}
}

func TestAppendJSONRandomInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	types := []reflect.Type{
		reflect.TypeFor[TriageInput](), reflect.TypeFor[EscalationInput](), reflect.TypeFor[NotifyInput](),
		reflect.TypeFor[ActionInput](), reflect.TypeFor[AdmissionInput](), reflect.TypeFor[RedactInput](),
		reflect.TypeFor[v1alpha1.Incident](), reflect.TypeFor[Record](),
	}
	for i := range 3000 {
		typ := types[i%len(types)]
		p := reflect.New(typ)
		fill(r, p.Elem(), 0)
		sameAsEncodingJSON(t, p.Interface())
	}
}

// Types that take encoding/json's less common paths.
type (
	jsonInner struct {
		A string `json:"a"`
		B int    `json:"b,omitempty"`
	}
	jsonPtrMarshaler struct{ N int }
	jsonText         string
	jsonOdd          struct {
		jsonInner
		Dup        string              `json:"a"` // shadows the embedded a
		F          float64             `json:"f"`
		Arr        [2]jsonPtrMarshaler `json:"arr"`
		Any        any                 `json:"any,omitempty"`
		Bytes      []byte              `json:"bytes"`
		Str        int                 `json:"str,string"`
		Text       jsonText            `json:"text"`
		TextMap    map[jsonText]int    `json:"textMap"`
		IntMap     map[int]string      `json:"intMap"`
		PM         jsonPtrMarshaler    `json:"pm"`
		PMs        []jsonPtrMarshaler  `json:"pms"`
		Zero       metav1.Time         `json:"zero,omitzero"`
		ZeroP      *metav1.Time        `json:"zeroP,omitzero"`
		T          time.Time           `json:"t,omitzero"`
		Weird      string              `json:"we ird!"`
		NoTag      string
		unexported string
		Skip       string `json:"-"`
		Dash       string `json:"-,"`
	}
	jsonPlain struct {
		*jsonInner
		M  map[string]string   `json:"m"`
		MS map[string][]string `json:"ms"`
		PT *metav1.Time        `json:"pt"`
	}
)

func (p *jsonPtrMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{ "n" : %d, "h": "<>" }`, p.N)), nil
}
func (t jsonText) MarshalText() ([]byte, error) { return []byte("text:" + string(t)), nil }

func TestAppendJSONOddTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		for _, typ := range []reflect.Type{reflect.TypeFor[jsonOdd](), reflect.TypeFor[jsonPlain](), reflect.TypeFor[map[string]string]()} {
			p := reflect.New(typ)
			fill(r, p.Elem(), 0)
			sameAsEncodingJSON(t, p.Interface())
			sameAsEncodingJSON(t, p.Elem().Interface()) // not addressable
		}
	}
	sameAsEncodingJSON(t, nil)
	sameAsEncodingJSON(t, (*TriageInput)(nil))
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("payments-api is down", "env", "prod", "<b>", int64(0), uint64(1))
	f.Add("bad\xffutf8 \u2028", "", "", "&", int64(-5), uint64(0))
	f.Fuzz(func(t *testing.T, title, k, v, s string, sec int64, seed uint64) {
		r := rand.New(rand.NewPCG(seed, seed>>1))
		var in TriageInput
		fill(r, reflect.ValueOf(&in).Elem(), 0)
		if in.Incident == nil {
			in.Incident = &v1alpha1.Incident{}
		}
		in.Incident.Spec.Title = title
		in.Incident.Labels = map[string]string{k: v, v: s, s: k}
		in.Now = time.Unix(sec%(1<<40), 0)
		in.Tenant = s
		sameAsEncodingJSON(t, &in)
	})
}

// A triage input is written without allocating: no fallback to
// encoding/json on the way.
func TestAppendJSONAllocs(t *testing.T) {
	in := benchInputs(t, "acme")[0]
	in.Incident = slim(in.Incident)
	buf := make([]byte, 0, 8192)
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = appendJSON(buf[:0], &in); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("appendJSON allocates %v times per triage input, want 0", n)
	}
}

// jsonNode contains itself: encoding/json writes a tree of them and fails
// on a cycle, and so must appendJSON, not recurse forever.
type jsonNode struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Children []*jsonNode       `json:"children,omitempty"`
	Next     *jsonNode         `json:"next,omitempty"`
}

func TestAppendJSONRecursiveTypes(t *testing.T) {
	tree := &jsonNode{Name: "root", Labels: map[string]string{"b": "2", "a": "<1>"},
		Children: []*jsonNode{{Name: "c1", Next: &jsonNode{Name: "n"}}, {Name: "c2"}}}
	sameAsEncodingJSON(t, tree)
	loop := &jsonNode{Name: "loop"}
	loop.Next = loop
	sameAsEncodingJSON(t, loop) // both fail
}
