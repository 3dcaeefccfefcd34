package policies_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/policies"
)

// TestRego runs every *_test.rego against the library under the sandbox the
// engine evaluates it with; `make policy-test` runs this.
func TestRego(t *testing.T) {
	src := policy.BuiltinSource()
	results, problems := policy.RunTests(context.Background(), src)
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
	if len(results) == 0 {
		t.Fatal("no Rego test ran")
	}
	for _, r := range results {
		t.Run(r.Package+"."+r.Name, func(t *testing.T) {
			switch {
			case r.Skip:
				t.Skip("todo")
			case !r.Pass:
				t.Errorf("%s:%d: %s", r.File, r.Line, r.Message)
			}
		})
	}
}

// TestEveryModuleHasTests keeps the library's promise that each module
// comes with a _test.rego.
func TestEveryModuleHasTests(t *testing.T) {
	tests := policies.Tests()
	for name := range policies.Modules() {
		if _, ok := tests[name[:len(name)-len(".rego")]+"_test.rego"]; !ok {
			t.Errorf("%s has no %s_test.rego", name, name[:len(name)-len(".rego")])
		}
	}
}

// TestLibraryCompilesInTheEngine checks the library passes the engine's own
// checks (packages, output rules, sandbox) and its tests, as Check runs them.
func TestLibraryCompilesInTheEngine(t *testing.T) {
	if problems := policy.Check(context.Background(), policy.BuiltinSource()); len(problems) > 0 {
		for _, p := range problems {
			t.Errorf("%s", p)
		}
	}
}

// TestReadmeExamples compiles every Rego example in README.md under the
// sandbox and runs the example IncidentPolicy's own tests, so the contract's
// examples stay true.
func TestReadmeExamples(t *testing.T) {
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(rego|yaml)\n(.*?)```").FindAllStringSubmatch(string(text), -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d examples", len(blocks))
	}
	for i, b := range blocks {
		var src policy.Source
		switch b[1] {
		case "rego":
			src = policy.Source{Namespace: "klaxon-system", Name: fmt.Sprintf("readme-%d", i), Modules: map[string]string{"example.rego": b[2]}}
		case "yaml":
			var ip v1alpha1.IncidentPolicy
			if err := yaml.Unmarshal([]byte(b[2]), &ip); err != nil {
				t.Fatalf("example %d: %v", i, err)
			}
			src = policy.SourceOf(&ip)
			if len(src.Tests) == 0 {
				t.Errorf("example %d has no tests", i)
			}
		}
		for _, p := range policy.Check(context.Background(), src) {
			t.Errorf("example %d (%s): %s", i, b[1], p)
		}
	}
}
