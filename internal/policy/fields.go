package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// mergeRule says how a layer's value of a field combines with the value of
// the layers below it.
type mergeRule int

const (
	// replace: a layer's value replaces the value below it.
	replace mergeRule = iota
	// mergeKeys: for objects; a layer's entry replaces the entry of the same
	// key below it, other entries stay.
	mergeKeys
	// union: for sets; every layer adds, none takes away.
	union
)

// field is one output of a decision point.
type field struct {
	name  string
	merge mergeRule
	// single requires a rule with one value (name := ...) rather than a set.
	single bool
	// check validates a layer's value and normalises it: lists become sets,
	// empty values become nil, which is "no opinion".
	check func(v ast.Value, c *checkContext) (ast.Value, error)
}

// checkContext is what the checks need to know about the decision.
type checkContext struct {
	tenant, system string
	point          Point
}

// pointFields lists each point's outputs, in the order summaries show them.
// enforced is handled apart: only the provider's counts.
var pointFields = [numPoints][]field{
	{ // triage
		{name: FieldSeverity, merge: replace, single: true, check: checkSeverity},
		{name: FieldCategory, merge: replace, single: true, check: checkCategory},
		{name: FieldService, merge: replace, single: true, check: checkString(253)},
		{name: FieldEscalationPolicy, merge: replace, single: true, check: checkRef},
		{name: FieldStakeholderGroups, merge: replace, check: checkRefs},
		{name: FieldRunbooks, merge: replace, check: checkRefs},
	},
	{ // escalation
		{name: FieldStartLevel, merge: replace, single: true, check: checkStartLevel},
		{name: FieldDeadlines, merge: mergeKeys, check: checkDeadlines},
	},
	{ // notify
		{name: FieldGroups, merge: mergeKeys, check: checkGroups},
	},
	{ // actions
		{name: FieldAllow, merge: replace, single: true, check: checkBool},
		{name: FieldReasons, merge: replace, check: checkStrings(1024)},
	},
	{ // admission
		{name: FieldDeny, merge: union, check: checkStrings(1024)},
		{name: FieldWarn, merge: union, check: checkStrings(1024)},
	},
	{ // redact
		{name: FieldPatterns, merge: union, check: checkPatterns},
		{name: FieldFields, merge: union, check: checkStrings(1024)},
	},
}

// enforceable says whether a point's provider policies may list enforced
// fields; union fields need no enforcement, nobody can take from them.
var enforceable = [numPoints]bool{true, true, true, true, false, false}

// fieldIndex finds a field of a point by name, or -1.
func fieldIndex(pi int, name string) int {
	for i, f := range pointFields[pi] {
		if f.name == name {
			return i
		}
	}
	return -1
}

var severities = map[string]bool{"SEV1": true, "SEV2": true, "SEV3": true, "SEV4": true, "SEV5": true}

// isCategoryName says whether s matches ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$,
// without a regular expression: every decision checks a category or two.
func isCategoryName(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func checkSeverity(v ast.Value, _ *checkContext) (ast.Value, error) {
	s, ok := v.(ast.String)
	if !ok || !severities[string(s)] {
		return nil, fmt.Errorf("must be one of SEV1..SEV5, got %s", short(v))
	}
	return v, nil
}

func checkCategory(v ast.Value, _ *checkContext) (ast.Value, error) {
	s, ok := v.(ast.String)
	if !ok || len(s) > 63 || !isCategoryName(string(s)) {
		return nil, fmt.Errorf("must be a lower-case name of at most 63 characters (like data-breach), got %s", short(v))
	}
	return v, nil
}

func checkString(limit int) func(ast.Value, *checkContext) (ast.Value, error) {
	return func(v ast.Value, _ *checkContext) (ast.Value, error) {
		s, ok := v.(ast.String)
		if !ok || len(s) > limit {
			return nil, fmt.Errorf("must be a string of at most %d characters, got %s", limit, short(v))
		}
		if s == "" {
			return nil, nil
		}
		return v, nil
	}
}

// checkRef accepts "name" or "namespace/name" where the namespace is the
// tenant's or the provider's: a policy may not route one tenant's incident to
// another tenant's objects.
func checkRef(v ast.Value, c *checkContext) (ast.Value, error) {
	s, ok := v.(ast.String)
	if !ok {
		return nil, fmt.Errorf("must be a name or namespace/name, got %s", short(v))
	}
	if s == "" {
		return nil, nil
	}
	ns, name, qualified := strings.Cut(string(s), "/")
	if !qualified {
		ns, name = "", string(s)
	}
	if name == "" || len(name) > 253 || strings.Contains(name, "/") {
		return nil, fmt.Errorf("must be a name or namespace/name, got %s", short(v))
	}
	if qualified && ns != c.tenant && ns != c.system {
		return nil, fmt.Errorf("%s names namespace %q: only the tenant's (%s) and the provider's (%s) may be referenced", short(v), ns, c.tenant, c.system)
	}
	return v, nil
}

func checkRefs(v ast.Value, c *checkContext) (ast.Value, error) {
	return checkList(v, func(t *ast.Term) error {
		_, err := checkRef(t.Value, c)
		return err
	})
}

func checkStrings(limit int) func(ast.Value, *checkContext) (ast.Value, error) {
	return func(v ast.Value, _ *checkContext) (ast.Value, error) {
		return checkList(v, func(t *ast.Term) error {
			s, ok := t.Value.(ast.String)
			if !ok || len(s) > limit || s == "" {
				return fmt.Errorf("must hold non-empty strings of at most %d characters, got %s", limit, short(t.Value))
			}
			return nil
		})
	}
}

// checkPatterns compiles every pattern with Go's regexp (RE2), the engine
// that will apply them.
func checkPatterns(v ast.Value, _ *checkContext) (ast.Value, error) {
	return checkList(v, func(t *ast.Term) error {
		s, ok := t.Value.(ast.String)
		if !ok || s == "" {
			return fmt.Errorf("must hold regular expressions, got %s", short(t.Value))
		}
		if _, err := regexp.Compile(string(s)); err != nil {
			return fmt.Errorf("pattern %s: %w", short(t.Value), err)
		}
		return nil
	})
}

// checkList accepts a set or an array, checks each element, and returns a
// set; an empty one is no value.
func checkList(v ast.Value, each func(*ast.Term) error) (ast.Value, error) {
	var set ast.Set
	switch x := v.(type) {
	case ast.Set:
		set = x
	case *ast.Array:
		set = ast.NewSetWithCapacity(x.Len())
		for i := range x.Len() {
			set.Add(x.Elem(i))
		}
	default:
		return nil, fmt.Errorf("must be a set or an array, got %s", short(v))
	}
	for _, t := range set.Slice() { // sorted: the problem reported is the least element's
		if err := each(t); err != nil {
			return nil, err
		}
	}
	if set.Len() == 0 {
		return nil, nil
	}
	return set, nil
}

func checkStartLevel(v ast.Value, _ *checkContext) (ast.Value, error) {
	if n, ok := v.(ast.Number); ok {
		if i, isInt := n.Int(); isInt && i >= 1 && i <= 20 {
			return v, nil
		}
	}
	return nil, fmt.Errorf("must be a level number from 1 to 20, got %s", short(v))
}

func checkBool(v ast.Value, _ *checkContext) (ast.Value, error) {
	if _, ok := v.(ast.Boolean); !ok {
		return nil, fmt.Errorf("must be true or false, got %s", short(v))
	}
	return v, nil
}

// checkDeadlines accepts {"<name>": {"at": RFC 3339, "description": string}}.
func checkDeadlines(v ast.Value, _ *checkContext) (ast.Value, error) {
	return checkObject(v, func(k string, e ast.Object) error {
		at, ok := member(e, "at").(ast.String)
		if !ok {
			return errors.New(`needs "at", an RFC 3339 time`)
		}
		if _, err := time.Parse(time.RFC3339, string(at)); err != nil {
			return fmt.Errorf(`"at" must be an RFC 3339 time, got %s`, short(at))
		}
		return optionalString(e, "description", 1024)
	})
}

// checkGroups accepts {"<namespace/name>": {"notify": bool, "template":
// string, "reason": string}}.
func checkGroups(v ast.Value, _ *checkContext) (ast.Value, error) {
	return checkObject(v, func(k string, e ast.Object) error {
		if _, ok := member(e, "notify").(ast.Boolean); !ok {
			return errors.New(`needs "notify", true or false`)
		}
		if err := optionalString(e, "template", 253); err != nil {
			return err
		}
		return optionalString(e, "reason", 512)
	})
}

func checkObject(v ast.Value, each func(string, ast.Object) error) (ast.Value, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("must be an object, got %s", short(v))
	}
	var err error
	obj.Until(func(k, e *ast.Term) bool {
		ks, isStr := k.Value.(ast.String)
		entry, isObj := e.Value.(ast.Object)
		switch {
		case !isStr || ks == "":
			err = fmt.Errorf("keys must be non-empty strings, got %s", short(k.Value))
		case !isObj:
			err = fmt.Errorf("entry %s must be an object, got %s", short(ks), short(e.Value))
		default:
			if err = each(string(ks), entry); err != nil {
				err = fmt.Errorf("entry %s: %w", short(ks), err)
			}
		}
		return err != nil
	})
	if err != nil {
		return nil, err
	}
	if obj.Len() == 0 {
		return nil, nil
	}
	return obj, nil
}

// member returns an object's member, or nil when it has none.
func member(o ast.Object, key string) ast.Value {
	if t := o.Get(ast.InternedTerm(key)); t != nil {
		return t.Value
	}
	return nil
}

func optionalString(e ast.Object, key string, limit int) error {
	v := member(e, key)
	if v == nil {
		return nil
	}
	if s, ok := v.(ast.String); !ok || len(s) > limit {
		return fmt.Errorf("%q must be a string of at most %d characters", key, limit)
	}
	return nil
}

// checkEnforced accepts the names of the point's own fields.
func checkEnforced(pi int) func(ast.Value, *checkContext) (ast.Value, error) {
	return func(v ast.Value, _ *checkContext) (ast.Value, error) {
		return checkList(v, func(t *ast.Term) error {
			s, ok := t.Value.(ast.String)
			if !ok || fieldIndex(pi, string(s)) < 0 {
				names := make([]string, 0, len(pointFields[pi]))
				for _, f := range pointFields[pi] {
					names = append(names, f.name)
				}
				return fmt.Errorf("names %s, not one of %s", short(t.Value), strings.Join(names, ", "))
			}
			return nil
		})
	}
}

// short renders a value for a message, cut to a readable length.
func short(v ast.Value) string {
	if v == nil {
		return "nothing"
	}
	s := v.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// stringsOf returns the strings of a set (or array) in sorted order.
func stringsOf(v ast.Value) []string {
	var terms []*ast.Term
	switch x := v.(type) {
	case ast.Set:
		terms = x.Slice()
	case *ast.Array:
		terms = make([]*ast.Term, x.Len())
		for i := range terms {
			terms[i] = x.Elem(i)
		}
	default:
		return nil
	}
	var out []string
	for _, t := range terms {
		if s, ok := t.Value.(ast.String); ok {
			if out == nil {
				out = make([]string, 0, len(terms))
			}
			out = append(out, string(s))
		}
	}
	slices.Sort(out)
	return out
}
