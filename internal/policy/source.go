package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Source is one IncidentPolicy's content, the unit the engine compiles: its
// modules and data are compiled together and apart from every other policy.
type Source struct {
	// Namespace of the policy: the provider's namespace or a tenant's.
	Namespace string
	// Name of the policy; within a layer, policies apply in name order.
	Name string
	// Modules maps a file name to Rego source (v1 syntax). Every module's
	// package is klaxon.<something>; klaxon.config is reserved for Data.
	Modules map[string]string
	// Data is a JSON object the modules read as data.klaxon.config; nil for none.
	Data []byte
	// Tests maps a file name to Rego test modules; Check runs them, the engine
	// never compiles them.
	Tests map[string]string
}

// Key is "namespace/name", the policy's name in records and messages.
func (s Source) Key() string { return s.Namespace + "/" + s.Name }

// Revision is a hash of the modules and data: what decides, not the tests.
// It fits IncidentPolicy's status.revision (at most 64 characters).
func (s Source) Revision() string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(s.Modules)) {
		// Lengths first, so that no two different sources hash alike by
		// moving text between a name and a body.
		fmt.Fprintf(h, "module %d %s %d\n", len(name), name, len(s.Modules[name]))
		h.Write([]byte(s.Modules[name]))
	}
	fmt.Fprintf(h, "data %d\n", len(s.Data))
	h.Write(s.Data)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Problem is one thing wrong with a policy: a parse or compile error, a
// forbidden builtin, bad data, or a failing test, at a position when known.
type Problem struct {
	// File is the module's file name as given in Source ("data" for Data).
	File string `json:"file,omitempty"`
	// Line in the file, from 1; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Column in the line, from 1; 0 when unknown.
	Column int `json:"column,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// String renders the problem as file:line:column: message.
func (p Problem) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Column > 0 {
			s += ":" + strconv.Itoa(p.Column)
		}
	}
	if s == "" {
		return p.Message
	}
	return s + ": " + p.Message
}

func problemAt(file string, loc *ast.Location, msg string) Problem {
	p := Problem{File: file, Message: msg}
	if loc != nil {
		if loc.File != "" {
			p.File = loc.File
		}
		p.Line, p.Column = loc.Row, loc.Col
	}
	return p
}

// problemsFrom turns OPA's errors into problems, keeping their positions.
func problemsFrom(file string, err error) []Problem {
	if err == nil {
		return nil
	}
	var errs ast.Errors
	switch e := err.(type) {
	case ast.Errors:
		errs = e
	case *ast.Error:
		errs = ast.Errors{e}
	default:
		return []Problem{{File: file, Message: err.Error()}}
	}
	out := make([]Problem, 0, len(errs))
	for _, e := range errs {
		out = append(out, problemAt(file, e.Location, e.Message))
	}
	return out
}
