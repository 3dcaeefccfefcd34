package policy

import (
	"context"
	"strings"
	"testing"
)

// TestCheck checks what the admission webhook relies on: Check accepts a
// good policy, and reports compile errors, bad packages, bad output rules,
// bad data and failing tests, each with its position.
func TestCheck(t *testing.T) {
	good := Source{Namespace: "acme", Name: "routing",
		Modules: map[string]string{"triage.rego": "package klaxon.triage\n\nseverity := \"SEV1\" if input.incident.spec.source.labels.team == data.klaxon.config.vip\n"},
		Data:    []byte(`{"vip": "payments"}`),
		Tests: map[string]string{"triage_test.rego": `package klaxon.triage_test

import data.klaxon.triage

test_vip_is_sev1 if {
	triage.severity == "SEV1" with input as {"incident": {"spec": {"source": {"labels": {"team": "payments"}}}}}
}
`},
	}
	if problems := Check(context.Background(), good); problems != nil {
		t.Fatalf("good policy: %v", problems)
	}
	results, problems := RunTests(context.Background(), good)
	if problems != nil || len(results) != 1 || !results[0].Pass || results[0].Name != "test_vip_is_sev1" {
		t.Errorf("results = %+v, problems = %v", results, problems)
	}

	tests := []struct {
		name   string
		change func(*Source)
		file   string
		line   int
		want   string
	}{{
		name: "failing test",
		change: func(s *Source) {
			s.Tests = map[string]string{"t_test.rego": "package klaxon.triage_test\n\nimport data.klaxon.triage\n\ntest_says_sev2 if triage.severity == \"SEV2\" with input as {}\n"}
		},
		file: "t_test.rego", line: 5, want: "test test_says_sev2 failed",
	}, {
		name:   "compile error",
		change: func(s *Source) { s.Modules["triage.rego"] = "package klaxon.triage\n\nseverity := x\n" },
		file:   "triage.rego", line: 3, want: "var x is unsafe",
	}, {
		name:   "package outside klaxon",
		change: func(s *Source) { s.Modules["lib.rego"] = "package other\n\nx := 1\n" },
		file:   "lib.rego", line: 1, want: "a policy's packages are klaxon.<point>",
	}, {
		name:   "package klaxon.config",
		change: func(s *Source) { s.Modules["lib.rego"] = "package klaxon.config\n\nvip := 1\n" },
		file:   "lib.rego", line: 1, want: "klaxon.config is the policy's data",
	}, {
		name:   "a set where one value is needed",
		change: func(s *Source) { s.Modules["triage.rego"] = "package klaxon.triage\n\nseverity contains \"SEV1\"\n" },
		file:   "triage.rego", line: 3, want: "triage.severity must have one value",
	}, {
		name:   "data not an object",
		change: func(s *Source) { s.Data = []byte(`[1, 2]`) },
		file:   "data", want: "data must be a JSON object",
	}, {
		name:   "data not JSON",
		change: func(s *Source) { s.Data = []byte(`{"a":`) },
		file:   "data", want: "data is not valid JSON",
	}, {
		name:   "no modules",
		change: func(s *Source) { s.Modules = nil },
		want:   "at least one module",
	}, {
		name: "test error",
		change: func(s *Source) {
			s.Tests = map[string]string{"t_test.rego": "package klaxon.t_test\n\ntest_err if x == 1\n\nx := 1 if true\n\nx := 2 if true\n"}
		},
		file: "t_test.rego", line: 3, want: "test test_err: error",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := good
			src.Modules = map[string]string{"triage.rego": good.Modules["triage.rego"]}
			tc.change(&src)
			problems := Check(context.Background(), src)
			for _, p := range problems {
				if p.File == tc.file && (tc.line == 0 || p.Line == tc.line) && strings.Contains(p.Message, tc.want) {
					return
				}
			}
			t.Errorf("problems = %v, want %s:%d %q", problems, tc.file, tc.line, tc.want)
		})
	}
}

// TestProblemString checks the file:line:column rendering.
func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.rego", Line: 3, Column: 7, Message: "m"}, "a.rego:3:7: m"},
		{Problem{File: "data", Message: "m"}, "data: m"},
		{Problem{Message: "m"}, "m"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v = %q, want %q", tc.p, got, tc.want)
		}
	}
}
