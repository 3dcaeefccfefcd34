package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds each Rego test, as the engine's deadline bounds a
// decision; a test that loops fails rather than hanging admission.
const testTimeout = 5 * time.Second

// TestResult is the outcome of one Rego test.
type TestResult struct {
	// Package of the test, e.g. klaxon.triage_test.
	Package string `json:"package"`
	// Name of the test rule, e.g. test_sev1_pages.
	Name string `json:"name"`
	// File, Line and Column of the test rule.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Pass is true when the test passed; Skip when it is named todo_*.
	Pass bool `json:"pass"`
	Skip bool `json:"skip,omitempty"`
	// Message says how it failed.
	Message string `json:"message,omitempty"`
}

// Check compiles a policy exactly as the engine would (the sandbox, its
// package and output rules, its data) and runs its tests. It returns nil when
// the policy is good; otherwise every problem, with file, line and column,
// failing tests by name. The admission webhook refuses a policy with problems.
func Check(ctx context.Context, src Source) []Problem {
	if _, problems := compileUnit(ctx, src); len(problems) > 0 {
		return problems
	}
	results, problems := RunTests(ctx, src)
	for _, r := range results {
		if !r.Pass && !r.Skip {
			problems = append(problems, Problem{File: r.File, Line: r.Line, Column: r.Column, Message: r.Message})
		}
	}
	sortProblems(problems)
	return problems
}

// RunTests runs a policy's tests against its modules and data under the
// sandbox and returns one result per test. Problems are what kept the tests
// from running: modules or tests that do not parse or compile.
func RunTests(ctx context.Context, src Source) ([]TestResult, []Problem) {
	ps, problems := parseSource(src, true)
	if len(problems) > 0 {
		return nil, problems
	}
	if len(src.Tests) == 0 {
		return nil, nil
	}
	store := newStore(ps.data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, []Problem{{Message: fmt.Sprintf("open the test store: %v", err)}}
	}
	defer store.Abort(ctx, txn)
	return runTests(ctx, ps, store, txn)
}

func runTests(ctx context.Context, ps *parsedSource, store storage.Store, txn storage.Transaction) ([]TestResult, []Problem) {
	runner := tester.NewRunner().
		SetCompiler(newCompiler()).
		SetStore(store).
		SetModules(maps.Clone(ps.modules)).
		SetTimeout(testTimeout).
		CapturePrintOutput(false).
		EnableTracing(false)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		problems := problemsFrom("", err)
		sortProblems(problems)
		return nil, problems
	}
	var results []TestResult
	for r := range ch {
		tr := TestResult{Package: r.Package, Name: r.Name, Pass: r.Pass(), Skip: r.Skip}
		if r.Location != nil {
			tr.File, tr.Line, tr.Column = r.Location.File, r.Location.Row, r.Location.Col
		}
		switch {
		case r.Error != nil:
			tr.Message = fmt.Sprintf("test %s: error: %v", r.Name, r.Error)
		case r.Fail:
			tr.Message = fmt.Sprintf("test %s failed", r.Name)
		}
		results = append(results, tr)
	}
	// The runner reports in the order the tests finish; sort for stable output.
	slices.SortFunc(results, func(a, b TestResult) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return results, nil
}
