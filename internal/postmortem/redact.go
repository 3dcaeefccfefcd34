package postmortem

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// FieldMask replaces a front-matter field named in spec.redaction.fields. Fields that
// are not text (times, numbers) are removed instead, so the record still parses.
const FieldMask = "[redacted]"

// customMask replaces a match of a spec or policy pattern.
const customMask = "[redacted:pattern]"

// secretGroup names the capture group a pattern may use to mask only part of its match,
// e.g. the value after "password=" but not the key, which keeps the text readable.
const secretGroup = "secret"

// neverRedacted are the front-matter fields that identify the record and its decisions.
// Masking them would break replay and the path of the file, and none holds personal
// data: they are Kubernetes names, UIDs, ids and enums.
var neverRedacted = map[string]bool{
	"schema":             true,
	"incident.namespace": true,
	"incident.name":      true,
	"incident.uid":       true,
	"decisions.id":       true,
	"decisions.point":    true,
	"timeline.type":      true,
}

// Redactor masks what must never reach git, where history is permanent: the built-in
// patterns (e-mail addresses, phone numbers, tokens and keys), the patterns and fields
// of a PostmortemRepository's spec.redaction, and those a policy decision adds. It
// works on the record, so the front matter and the body are redacted alike. A Redactor
// is immutable and safe for concurrent use.
type Redactor struct {
	rules  []rule
	fields [][]string
}

// rule is one pattern and what replaces its matches.
type rule struct {
	name string
	re   *regexp.Regexp
	mask string
	// valid, when set, vetoes a match by looking at it and the text around it; it keeps
	// the generic secret patterns off digests, timestamps and ordinary words.
	valid func(text string, start, end int) bool
}

// NewRedactor compiles a redactor from a PostmortemRepository's spec.redaction and any
// extra rules (for example what a data.klaxon.redact policy decision names). Extra
// rules only add patterns and fields: their DisableBuiltins is ignored, so a tenant's
// policy cannot turn off the provider's protection. Patterns are RE2; a pattern with a
// capture group named "secret" masks only that group. Fields are dot-separated
// front-matter paths (customer, timeline.actor, decisions.input.incident.spec.customer);
// a path matches its field and everything under it, "*" matches any one key and "**"
// any number of keys (**.customer masks every customer field, inputs included).
func NewRedactor(spec v1alpha1.Redaction, extra ...v1alpha1.Redaction) (*Redactor, error) {
	r := &Redactor{}
	if !spec.DisableBuiltins {
		r.rules = append(r.rules, builtinRules...)
	}
	for i, set := range append([]v1alpha1.Redaction{spec}, extra...) {
		for _, p := range set.Patterns {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("redaction pattern %q: %w", p, err)
			}
			if re.MatchString("") {
				// An empty match would insert a mask between every character.
				return nil, fmt.Errorf("redaction pattern %q matches the empty string", p)
			}
			name := "spec"
			if i > 0 {
				name = "policy"
			}
			r.rules = append(r.rules, rule{name: name, re: re, mask: customMask})
		}
		for _, f := range set.Fields {
			path, err := parseFieldPath(f)
			if err != nil {
				return nil, err
			}
			r.fields = append(r.fields, path)
		}
	}
	return r, nil
}

func parseFieldPath(f string) ([]string, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return nil, fmt.Errorf("redaction field: empty path")
	}
	parts := strings.Split(f, ".")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("redaction field %q: empty segment", f)
		}
	}
	return parts, nil
}

// Text masks every match of the redactor's patterns in s.
func (r *Redactor) Text(s string) string {
	if r == nil {
		return s
	}
	for i := range r.rules {
		s = r.rules[i].apply(s)
	}
	return s
}

func (ru *rule) apply(s string) string {
	matches := ru.re.FindAllStringSubmatchIndex(s, -1)
	if len(matches) == 0 {
		return s
	}
	group := ru.re.SubexpIndex(secretGroup)
	var b strings.Builder
	last := 0
	for _, m := range matches {
		start, end := m[0], m[1]
		if group > 0 && m[2*group] >= 0 {
			start, end = m[2*group], m[2*group+1]
		}
		// A value an earlier rule already masked ("token=[redacted:token]") stays as it is.
		if start == end || strings.HasPrefix(s[start:end], "[redacted") ||
			(ru.valid != nil && !ru.valid(s, start, end)) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(ru.mask)
		last = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Record returns a copy of rec with patterns applied to every text value and the
// configured fields masked. Render calls it; the controller may call it to know what a
// record will say (for example to compute its path) before rendering.
func (r *Redactor) Record(rec Record) (Record, error) {
	var n yaml.Node
	if err := n.Encode(normalize(rec)); err != nil {
		return Record{}, fmt.Errorf("encode record: %w", err)
	}
	r.node(&n)
	var out Record
	if err := n.Decode(&out); err != nil {
		return Record{}, fmt.Errorf("decode redacted record: %w", err)
	}
	return out, nil
}

// node redacts a record encoded as YAML in place.
func (r *Redactor) node(n *yaml.Node) {
	if r == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			r.node(c)
		}
		return
	}
	r.walk(n, nil, false)
}

// walk visits n at path. Sequences do not add a path segment: timeline.actor names the
// actor of every entry.
func (r *Redactor) walk(n *yaml.Node, path []string, masked bool) {
	// Identity is kept even under a masked parent, e.g. fields: [decisions].
	if len(path) > 0 && neverRedacted[strings.Join(path, ".")] {
		return
	}
	masked = masked || r.fieldMasked(path)
	switch n.Kind {
	case yaml.MappingNode:
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := append(path[:len(path):len(path)], k.Value)
			r.walk(v, child, masked)
			// Keys of free-form maps (labels, annotations, inputs) can hold an address
			// too; struct keys never match a pattern.
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str" {
				k.Value = r.uniqueKey(r.Text(k.Value), seen)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			r.walk(c, path, masked)
		}
	case yaml.ScalarNode:
		switch {
		case masked && n.ShortTag() == "!!str":
			if n.Value != "" {
				n.Value = FieldMask
			}
			n.Style = 0
		case masked:
			// A time or number cannot hold the mask; null removes it from the record.
			*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		case n.ShortTag() == "!!str":
			n.Value = r.Text(n.Value)
		}
	case yaml.AliasNode:
		// Encoding a Record never produces aliases.
	}
}

// uniqueKey keeps two keys distinct when redaction makes them equal, so no value is lost.
func (r *Redactor) uniqueKey(k string, seen map[string]bool) string {
	base := k
	for i := 2; seen[k]; i++ {
		k = fmt.Sprintf("%s (%d)", base, i)
	}
	seen[k] = true
	return k
}

func (r *Redactor) fieldMasked(path []string) bool {
	if len(path) == 0 {
		return false
	}
	for _, f := range r.fields {
		if matchPath(f, path) {
			return true
		}
	}
	return false
}

// matchPath matches a field pattern against a whole path: "*" is any one key, "**" any
// number of keys (zero included), so decisions.input.**.customer finds a customer at
// any depth of any decision's input.
func matchPath(pattern, path []string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case "**":
			for i := 0; i <= len(path); i++ {
				if matchPath(pattern[1:], path[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(path) == 0 {
				return false
			}
		default:
			if len(path) == 0 || pattern[0] != path[0] {
				return false
			}
		}
		pattern, path = pattern[1:], path[1:]
	}
	return len(path) == 0
}
