package intake

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// defaultResolvedValues are the status values that mean resolved when the mapping
// names none (the CRD default, repeated for specs built in code).
var defaultResolvedValues = []string{"resolved", "ok", "closed"}

// parseGeneric reads any JSON document with the source's mapping.
func parseGeneric(spec klaxonv1.AlertSourceSpec, contentType string, body []byte, now time.Time) ([]Alert, error) {
	m, err := compileMapping(spec.Mapping)
	if err != nil {
		return nil, err
	}
	if _, err := checkJSONContentType(contentType, "application/json"); err != nil {
		return nil, err
	}
	doc, err := decodeJSON(body, "")
	if err != nil {
		return nil, err
	}
	return m.alerts(doc, "", now)
}

// mapping is an AlertMapping ready to evaluate. Its expressions are compiled once per
// request and reused for every alert in it: a JSONPath without range/end (which
// compileMapping refuses) keeps no state between evaluations, but it is not safe for
// concurrent use, so a mapping never outlives its request.
type mapping struct {
	list, title, severity, service, fingerprint, status, description, labels *path
	resolved                                                                 []string
}

// path is one compiled mapping expression.
type path struct {
	field string // the mapping field, for error messages
	expr  string // as normalized, for error messages
	jp    *jsonpath.JSONPath
	text  []bool // which top-level template nodes are literal text
}

// compileMapping checks and compiles a source's mapping; errors wrap ErrInvalidSpec
// and name the field.
func compileMapping(am *klaxonv1.AlertMapping) (*mapping, error) {
	if am == nil {
		return nil, fmt.Errorf("%w: mapping: required for Generic and CloudEvents sources", ErrInvalidSpec)
	}
	if strings.TrimSpace(am.Title) == "" {
		return nil, fmt.Errorf("%w: mapping.title: required", ErrInvalidSpec)
	}
	m := &mapping{resolved: am.ResolvedValues}
	if len(m.resolved) == 0 {
		m.resolved = defaultResolvedValues
	}
	for _, f := range []struct {
		name string
		expr string
		dst  **path
	}{
		{"alerts", am.Alerts, &m.list},
		{"title", am.Title, &m.title},
		{"severity", am.Severity, &m.severity},
		{"service", am.Service, &m.service},
		{"fingerprint", am.Fingerprint, &m.fingerprint},
		{"status", am.Status, &m.status},
		{"description", am.Description, &m.description},
		{"labels", am.Labels, &m.labels},
	} {
		if strings.TrimSpace(f.expr) == "" {
			continue
		}
		p, err := compilePath(f.name, f.expr)
		if err != nil {
			return nil, err
		}
		*f.dst = p
	}
	return m, nil
}

// compilePath accepts the kubectl template syntax ({.alert.title}, also with text
// around it) and, like kubectl's custom columns, a bare path (.alert.title,
// $.alert.title, alert.title), which it wraps in braces.
func compilePath(name, expr string) (*path, error) {
	expr = strings.TrimSpace(expr)
	if !strings.Contains(expr, "{") {
		bare := strings.TrimPrefix(expr, "$")
		if !strings.HasPrefix(bare, ".") && !strings.HasPrefix(bare, "[") {
			bare = "." + bare
		}
		expr = "{" + bare + "}"
	}
	parsed, err := jsonpath.Parse(name, expr)
	if err != nil {
		return nil, fmt.Errorf("%w: mapping.%s: invalid JSONPath %q: %w", ErrInvalidSpec, name, expr, err)
	}
	p := &path{field: name, expr: expr}
	values := 0
	for _, node := range parsed.Root.Nodes {
		_, isText := node.(*jsonpath.TextNode)
		p.text = append(p.text, isText)
		if isText {
			continue
		}
		if list, ok := node.(*jsonpath.ListNode); ok && len(list.Nodes) > 0 {
			values++
		}
		if hasRange(node) {
			return nil, fmt.Errorf("%w: mapping.%s: range and end are not supported in %q; select a list with mapping.alerts", ErrInvalidSpec, name, expr)
		}
	}
	if values == 0 {
		return nil, fmt.Errorf("%w: mapping.%s: %q selects nothing; write a JSONPath such as {.alert.title}", ErrInvalidSpec, name, expr)
	}
	p.jp = jsonpath.New(name).AllowMissingKeys(true)
	if err := p.jp.Parse(expr); err != nil {
		return nil, fmt.Errorf("%w: mapping.%s: invalid JSONPath %q: %w", ErrInvalidSpec, name, expr, err)
	}
	return p, nil
}

func hasRange(node jsonpath.Node) bool {
	list, ok := node.(*jsonpath.ListNode)
	if !ok {
		return false
	}
	for _, n := range list.Nodes {
		if id, ok := n.(*jsonpath.IdentifierNode); ok && (id.Name == "range" || id.Name == "end") {
			return true
		}
	}
	return false
}

// find evaluates the path. The JSONPath evaluator is a third-party walker over
// arbitrary input, so a panic in it becomes "selects nothing" rather than a crash of
// the intake server. Errors it reports (an index out of range, a field of a string)
// also mean the data does not have what the path asks for.
func (p *path) find(data any) (results [][]reflect.Value, reason string) {
	defer func() {
		if r := recover(); r != nil {
			results, reason = nil, "the JSONPath cannot be evaluated on this payload"
		}
	}()
	res, err := p.jp.FindResults(data)
	if err != nil {
		return nil, err.Error()
	}
	return res, ""
}

// values are what the path selects, without the template's literal text.
func (p *path) values(data any) ([]any, string) {
	res, reason := p.find(data)
	var out []any
	for i, list := range res {
		if i < len(p.text) && p.text[i] {
			continue
		}
		for _, v := range list {
			if v.IsValid() && v.CanInterface() {
				out = append(out, v.Interface())
			}
		}
	}
	return out, reason
}

// scalar renders the path as text, like kubectl -o jsonpath: literal text as written,
// several values joined by spaces. found is false when the path selects no value, so
// that "{.a}: {.b}" with neither present counts as missing rather than ": ".
func (p *path) scalar(data any, at string) (s string, found bool, err error) {
	res, _ := p.find(data)
	var b strings.Builder
	for i, list := range res {
		if i < len(p.text) && p.text[i] {
			for _, v := range list {
				if v.IsValid() && v.Kind() == reflect.String {
					b.WriteString(v.String())
				}
			}
			continue
		}
		n := 0
		for _, v := range list {
			if !v.IsValid() || !v.CanInterface() {
				continue
			}
			val := v.Interface()
			if val == nil {
				continue
			}
			text, ok := scalarText(val)
			if !ok {
				return "", false, badRequest(field(at, p.field), "the mapping %s selects %s; expected a string", p.expr, kindOf(val))
			}
			if n > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(text)
			n++
			found = true
		}
	}
	return b.String(), found, nil
}

func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// object reads the path as an object of labels. Values that are not strings are
// kept as their JSON text, so numbers and flags in a tool's labels survive.
func (p *path) object(data any, at string) (map[string]string, error) {
	vals, _ := p.values(data)
	vals = nonNull(vals)
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, badRequest(field(at, p.field), "the mapping %s selects %d values; expected one object", p.expr, len(vals))
	}
	obj, ok := vals[0].(map[string]any)
	if !ok {
		return nil, badRequest(field(at, p.field), "the mapping %s selects %s; expected an object", p.expr, kindOf(vals[0]))
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case nil:
			out[k] = ""
		case map[string]any, []any:
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, badRequest(keyField(field(at, p.field), k), "cannot be rendered as text")
			}
			out[k] = string(raw)
		default:
			out[k], _ = scalarText(v)
		}
	}
	return out, nil
}

func nonNull(vals []any) []any {
	out := vals[:0]
	for _, v := range vals {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// alerts maps a document: the elements selected by mapping.alerts, or the whole
// document as one alert. at prefixes error fields ("data" for a CloudEvent).
func (m *mapping) alerts(doc any, at string, now time.Time) ([]Alert, error) {
	if m.list == nil {
		a, err := m.alert(doc, at, now)
		if err != nil {
			return nil, err
		}
		return []Alert{a}, nil
	}
	vals, reason := m.list.values(doc)
	vals = nonNull(vals)
	if len(vals) == 0 {
		return nil, badRequest(field(at, "alerts"), "the mapping %s selects nothing%s", m.list.expr, because(reason))
	}
	// {.alerts} selects one array; {.alerts[*]} selects its elements. Read both the same.
	if len(vals) == 1 {
		if list, ok := vals[0].([]any); ok {
			vals = list
		}
	}
	out := make([]Alert, 0, len(vals))
	for i, item := range vals {
		itemAt := field(at, fmt.Sprintf("alerts[%d]", i))
		if _, ok := item.(map[string]any); !ok {
			return nil, badRequest(itemAt, "expected an object, got %s", kindOf(item))
		}
		a, err := m.alert(item, itemAt, now)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// alert maps one alert object.
func (m *mapping) alert(doc any, at string, now time.Time) (Alert, error) {
	var a Alert
	title, found, err := m.title.scalar(doc, at)
	if err != nil {
		return Alert{}, err
	}
	if !found {
		_, reason := m.title.find(doc)
		return Alert{}, badRequest(field(at, "title"), "required; the mapping %s selects nothing%s", m.title.expr, because(reason))
	}
	if strings.TrimSpace(title) == "" {
		return Alert{}, badRequest(field(at, "title"), "required; the mapping %s selects an empty string", m.title.expr)
	}
	a.Title = title

	for _, f := range []struct {
		p   *path
		dst *string
	}{
		{m.severity, &a.Severity},
		{m.service, &a.Service},
		{m.fingerprint, &a.Fingerprint},
		{m.description, &a.Description},
	} {
		if f.p == nil {
			continue
		}
		if *f.dst, _, err = f.p.scalar(doc, at); err != nil {
			return Alert{}, err
		}
	}
	if m.labels != nil {
		if a.Labels, err = m.labels.object(doc, at); err != nil {
			return Alert{}, err
		}
	}
	a.Status = StatusFiring
	if m.status != nil {
		status, _, err := m.status.scalar(doc, at)
		if err != nil {
			return Alert{}, err
		}
		for _, v := range m.resolved {
			if strings.EqualFold(strings.TrimSpace(status), strings.TrimSpace(v)) {
				a.Status = StatusResolved
				break
			}
		}
	}
	if strings.TrimSpace(a.Fingerprint) == "" {
		a.Fingerprint = contentFingerprint(strings.TrimSpace(title), a.Labels)
	}
	a.StartsAt = now
	if a.Status == StatusResolved {
		a.EndsAt = now
	}
	return a, nil
}
