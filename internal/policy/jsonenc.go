package policy

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The record keeps every decision's input as JSON, exactly as encoding/json
// writes it. encoding/json sorts a map's keys by building a slice of them,
// with a copy of each key and value, for every map it writes: a kilobyte per
// triage input, whose labels and annotations are maps. appendJSON writes the
// same bytes with the keys sorted on the stack. It handles the kinds the
// inputs are made of (structs, pointers, slices, string-keyed maps, strings,
// booleans, integers, times) and hands anything else to encoding/json, value
// by value, which writes a value the same way alone as within a document:
// Marshaler types, floats, interfaces, byte slices, arrays, strings that need
// escaping, structs whose fields it would resolve differently.

// encFunc appends v's JSON to b.
type encFunc func(b []byte, v reflect.Value) ([]byte, error)

var (
	encoders   sync.Map // reflect.Type -> encFunc
	encodersMu sync.Mutex
	building   = map[reflect.Type]bool{}
)

// appendJSON appends json.Marshal(v)'s output to b.
func appendJSON(b []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return append(b, "null"...), nil
	}
	return encoderOf(rv.Type())(b, rv)
}

func encoderOf(t reflect.Type) encFunc {
	if f, ok := encoders.Load(t); ok {
		return f.(encFunc)
	}
	encodersMu.Lock()
	defer encodersMu.Unlock()
	return encoderLocked(t)
}

// encoderLocked builds t's encoder. Where a type contains itself, the inner
// occurrence is left to encoding/json, which notices a value that contains
// itself and fails rather than recursing forever.
func encoderLocked(t reflect.Type) encFunc {
	if f, ok := encoders.Load(t); ok {
		return f.(encFunc)
	}
	if building[t] {
		return fallbackEnc
	}
	building[t] = true
	f := newEncoder(t)
	delete(building, t)
	encoders.Store(t, f)
	return f
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	isZeroerType      = reflect.TypeFor[interface{ IsZero() bool }]()
	timeType          = reflect.TypeFor[time.Time]()
	metaTimeType      = reflect.TypeFor[metav1.Time]()
)

func marshals(t reflect.Type) bool {
	return t.Implements(marshalerType) || t.Implements(textMarshalerType)
}

// fallbackEnc has encoding/json write the value, as it would within a
// document: through its pointer when only the pointer has the method and
// the value is addressable.
func fallbackEnc(b []byte, v reflect.Value) ([]byte, error) {
	// An addressable value goes by its pointer, so that encoding/json finds
	// it (and what it holds) addressable, as within the document.
	var x any
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		x = v.Addr().Interface()
	} else {
		x = v.Interface()
	}
	out, err := json.Marshal(x)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

func newEncoder(t reflect.Type) encFunc {
	switch t {
	case metaTimeType:
		return encMetaTime
	case timeType:
		return encTime
	}
	if t.Kind() == reflect.Pointer && (t.Elem() == metaTimeType || t.Elem() == timeType) {
		// Their MarshalJSON has a value receiver: the pointer's is the
		// value's, and null for nil.
		elem := encoderLocked(t.Elem())
		return func(b []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return append(b, "null"...), nil
			}
			return elem(b, v.Elem())
		}
	}
	if marshals(t) || (t.Kind() != reflect.Pointer && marshals(reflect.PointerTo(t))) {
		return fallbackEnc
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(b []byte, v reflect.Value) ([]byte, error) { return strconv.AppendBool(b, v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(b []byte, v reflect.Value) ([]byte, error) { return strconv.AppendInt(b, v.Int(), 10), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(b []byte, v reflect.Value) ([]byte, error) { return strconv.AppendUint(b, v.Uint(), 10), nil }
	case reflect.String:
		return func(b []byte, v reflect.Value) ([]byte, error) { return appendJSONString(b, v.String()) }
	case reflect.Pointer:
		elem := encoderLocked(t.Elem())
		return func(b []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return append(b, "null"...), nil
			}
			return elem(b, v.Elem())
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return fallbackEnc // base64, or the elements' own marshalers
		}
		elem := encoderLocked(t.Elem())
		return func(b []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return append(b, "null"...), nil
			}
			b = append(b, '[')
			var err error
			for i := range v.Len() {
				if i > 0 {
					b = append(b, ',')
				}
				if b, err = elem(b, v.Index(i)); err != nil {
					return b, err
				}
			}
			return append(b, ']'), nil
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fallbackEnc
		}
		if t.Elem().Kind() == reflect.String && !marshals(t.Elem()) && !marshals(reflect.PointerTo(t.Elem())) {
			return encStringMap
		}
		return fallbackEnc
	case reflect.Struct:
		return structEncoder(t)
	}
	return fallbackEnc // floats, interfaces, arrays, ...
}

// valueOf returns v's value without the copy v.Interface would make of an
// addressable one.
func valueOf[T any](v reflect.Value) T {
	if v.CanAddr() {
		return *v.Addr().Interface().(*T)
	}
	return v.Interface().(T)
}

func encMetaTime(b []byte, v reflect.Value) ([]byte, error) {
	t := valueOf[metav1.Time](v)
	if t.IsZero() {
		return append(b, "null"...), nil
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"'), nil
}

func encTime(b []byte, v reflect.Value) ([]byte, error) {
	t := valueOf[time.Time](v)
	_, off := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || off <= -24*3600 || off >= 24*3600 {
		return fallbackEnc(b, v) // let encoding/json report it
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// encStringMap writes a map of strings (keys of any string type) with its
// keys sorted, as encoding/json does.
func encStringMap(b []byte, v reflect.Value) ([]byte, error) {
	if v.IsNil() {
		return append(b, "null"...), nil
	}
	var stack [32]string
	keys := stack[:0]
	var m map[string]string
	if v.Type() == stringMapType {
		m = v.Interface().(map[string]string)
	} else if v.Type().ConvertibleTo(stringMapType) {
		m = v.Convert(stringMapType).Interface().(map[string]string)
	}
	if m == nil {
		return fallbackEnc(b, v)
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSONString(b, k); err != nil {
			return b, err
		}
		b = append(b, ':')
		if b, err = appendJSONString(b, m[k]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

var stringMapType = reflect.TypeFor[map[string]string]()

// appendJSONString writes s quoted and escaped as encoding/json does, HTML
// characters included: invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are
// escaped.
func appendJSONString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safeJSON[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// safeJSON is encoding/json's htmlSafeSet: the ASCII bytes written as they
// are.
var safeJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// encField is one member a struct's encoder writes.
type encField struct {
	name      string // quoted, with the colon
	index     []int
	enc       encFunc
	omitEmpty bool
	omitZero  bool
}

// structEncoder writes t's exported fields in encoding/json's order. A struct
// whose fields it might resolve differently (a name twice, an embedded
// pointer, a tag it does not read) is left to encoding/json.
func structEncoder(t reflect.Type) encFunc {
	fields, ok := structFields(t, nil)
	if ok {
		seen := map[string]bool{}
		for _, f := range fields {
			if seen[f.name] {
				ok = false
				break
			}
			seen[f.name] = true
		}
	}
	if !ok {
		return fallbackEnc
	}
	for i := range fields {
		fields[i].name = strconv.Quote(fields[i].name) + ":"
	}
	return func(b []byte, v reflect.Value) ([]byte, error) {
		b = append(b, '{')
		first := true
		var err error
		for i := range fields {
			f := &fields[i]
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && isEmpty(fv) || f.omitZero && isZero(fv) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, f.name...)
			if b, err = f.enc(b, fv); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
}

func structFields(t reflect.Type, index []int) ([]encField, bool) {
	var out []encField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(slices.Clone(index), i)
		if sf.Anonymous && !sf.IsExported() && name != "" {
			return nil, false
		}
		if sf.Anonymous && name == "" {
			if sf.Type.Kind() != reflect.Struct {
				return nil, false // embedded pointers and non-structs: encoding/json's rules
			}
			sub, ok := structFields(sf.Type, idx)
			if !ok {
				return nil, false
			}
			out = append(out, sub...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if !plainName(name) {
			return nil, false
		}
		f := encField{name: name, index: idx}
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			case "", "inline":
			default:
				return nil, false // ",string" and the like
			}
		}
		if f.omitZero {
			ft := sf.Type
			if ft != timeType && ft != metaTimeType && (ft.Implements(isZeroerType) || reflect.PointerTo(ft).Implements(isZeroerType)) {
				return nil, false
			}
		}
		f.enc = encoderLocked(sf.Type)
		out = append(out, f)
	}
	return out, true
}

// plainName says whether encoding/json takes name as it is and writes it
// without escapes.
func plainName(name string) bool {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	return name != ""
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func isZero(v reflect.Value) bool {
	switch v.Type() {
	case timeType:
		return valueOf[time.Time](v).IsZero()
	case metaTimeType:
		return valueOf[metav1.Time](v).Time.IsZero()
	}
	return v.IsZero()
}
