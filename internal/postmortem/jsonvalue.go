package postmortem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// JSONValue is a JSON document (a policy input) that the front matter holds as YAML,
// so a reviewer reads it like the rest of the record. Conversion is exact both ways:
// numbers keep their literal text and object keys are sorted, so the same input always
// renders the same bytes and replay evaluates the input the policy saw.
type JSONValue json.RawMessage

// IsZero reports whether there is no value; yaml's omitempty asks this.
func (v JSONValue) IsZero() bool {
	return len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null"
}

// MarshalJSON returns the JSON text, or null when empty.
func (v JSONValue) MarshalJSON() ([]byte, error) {
	if v.IsZero() {
		return []byte("null"), nil
	}
	return json.RawMessage(v).MarshalJSON()
}

// UnmarshalJSON keeps a copy of the JSON text.
func (v *JSONValue) UnmarshalJSON(b []byte) error {
	*v = append((*v)[:0], b...)
	return nil
}

// MarshalYAML turns the JSON into a YAML node tree.
func (v JSONValue) MarshalYAML() (any, error) {
	if v.IsZero() {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("decision input is not JSON: %w", err)
	}
	return jsonToNode(x), nil
}

// UnmarshalYAML turns a YAML node tree back into canonical JSON.
func (v *JSONValue) UnmarshalYAML(n *yaml.Node) error {
	x, err := nodeToJSON(n)
	if err != nil {
		return err
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("decision input: %w", err)
	}
	*v = b
	return nil
}

// jsonToNode converts a value decoded with UseNumber into a YAML node. Keys are sorted,
// numbers keep their JSON literal.
func jsonToNode(x any) *yaml.Node {
	switch x := x.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Content = append(n.Content, strNode(k), jsonToNode(x[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			n.Content = append(n.Content, jsonToNode(e))
		}
		return n
	case string:
		return strNode(x)
	case json.Number:
		tag := "!!int"
		if _, err := strconv.ParseInt(string(x), 10, 64); err != nil {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(x)}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	default: // nil
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// nodeToJSON converts a YAML node into a value json.Marshal writes back as the
// original JSON (json.Number keeps number literals).
func nodeToJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeToJSON(n.Content[0])
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: aliases are not allowed in a decision input", n.Line)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := nodeToJSON(n.Content[i])
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				// JSON keys are strings; a number or bool key written by hand is read as text.
				ks = n.Content[i].Value
			}
			v, err := nodeToJSON(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[ks] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeToJSON(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return b, nil
		case "!!int", "!!float":
			if !json.Valid([]byte(n.Value)) {
				return nil, fmt.Errorf("line %d: %q is not a JSON number", n.Line, n.Value)
			}
			return json.Number(n.Value), nil
		default:
			return n.Value, nil
		}
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
