package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// forbiddenPrefixes name builtin families outside the sandbox, so that a
// builtin a later OPA adds to a family is forbidden too.
var forbiddenPrefixes = map[string]string{
	"http.":       "it reaches the network",
	"net.lookup_": "it reaches the network (DNS)",
	"opa.runtime": "it reads the controller's runtime configuration and environment",
	"time.now_ns": "it reads the clock; read input.now instead, so that the decision can be replayed",
	"rand.":       "it is random, so the decision could not be replayed",
	"uuid.":       "uuid.* is outside the sandbox (uuid.rfc4122 is random, so the decision could not be replayed)",
	"io.jwt.encode_sign": "its signatures can be randomised (ECDSA, RSA-PSS), " +
		"so the decision could not be replayed",
	"crypto.x509.parse_and_verify_certificates": "it verifies against the wall clock, " +
		"so the decision could not be replayed",
	"json.match_schema":  "a schema's $ref can fetch from the network or the file system",
	"json.verify_schema": "a schema's $ref can fetch from the network or the file system",
}

// sandboxCaps is computed once: OPA's capabilities minus every forbidden
// builtin, with no network host allowed.
var sandboxCaps = sync.OnceValue(func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if _, bad := forbiddenReason(b.Name, b.Nondeterministic); !bad {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	// An empty, non-nil list allows no host at all (nil would allow every host).
	caps.AllowNet = []string{}
	return caps
})

// Capabilities returns the sandbox's OPA capabilities: those of the OPA
// version Klaxon is built with, minus every builtin that reaches the
// network, files or the runtime, or whose result is not a function of its
// arguments (http.send, net.lookup_*, opa.runtime, time.now_ns, rand.*,
// uuid.*, JWT signing, certificate verification against the wall clock, JSON
// schema matching, and anything else OPA marks non-deterministic). Each call
// returns a new copy the caller may change.
func Capabilities() *ast.Capabilities {
	src := sandboxCaps()
	c := *src
	c.Builtins = slices.Clone(src.Builtins)
	c.AllowNet = []string{}
	c.Features = slices.Clone(src.Features)
	c.FutureKeywords = slices.Clone(src.FutureKeywords)
	return &c
}

// forbiddenReason says why a builtin is outside the sandbox. OPA's own
// non-determinism flag catches the builtins this list does not name.
func forbiddenReason(name string, nondeterministic bool) (string, bool) {
	for prefix, why := range forbiddenPrefixes {
		if strings.HasPrefix(name, prefix) {
			return why, true
		}
	}
	if nondeterministic {
		return "its result is not a function of its arguments, so the decision could not be replayed", true
	}
	return "", false
}

// forbiddenBuiltins maps every builtin of this OPA version that is outside
// the sandbox to the reason, so that a module calling one gets the sandbox's
// message rather than the compiler's "undefined function".
var forbiddenBuiltins = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if why, bad := forbiddenReason(b.Name, b.Nondeterministic); bad {
			m[b.Name] = why
		}
	}
	return m
})

// forbiddenCalls finds every reference to a builtin outside the sandbox in a
// module, with its position, so the author learns which call to remove.
func forbiddenCalls(file string, m *ast.Module) []Problem {
	var problems []Problem
	forbidden := forbiddenBuiltins()
	ast.WalkTerms(m, func(t *ast.Term) bool {
		ref, ok := t.Value.(ast.Ref)
		if !ok || len(ref) < 2 {
			return false
		}
		if _, isVar := ref[0].Value.(ast.Var); !isVar || ref[0].Equal(ast.DefaultRootDocument) || ref[0].Equal(ast.InputRootDocument) {
			return false
		}
		name := ref.String()
		why, bad := forbidden[name]
		if !bad {
			return false
		}
		problems = append(problems, problemAt(file, t.Location,
			fmt.Sprintf("%s is not allowed in Klaxon policies: %s", name, why)))
		return true
	})
	return problems
}
