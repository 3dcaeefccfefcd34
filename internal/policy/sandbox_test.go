package policy

import (
	"context"
	"strings"
	"testing"
)

// TestSandboxRejectsForbiddenBuiltins checks that a policy calling a builtin
// outside the sandbox does not compile, with a message naming the builtin
// and its position.
func TestSandboxRejectsForbiddenBuiltins(t *testing.T) {
	tests := []struct{ call, name, why string }{
		{`http.send({"method": "get", "url": "https://example.com"})`, "http.send", "network"},
		{`time.now_ns()`, "time.now_ns", "input.now"},
		{`rand.intn("x", 10)`, "rand.intn", "random"},
		{`uuid.rfc4122("x")`, "uuid.rfc4122", "uuid"},
		{`net.lookup_ip_addr("example.com")`, "net.lookup_ip_addr", "network"},
		{`opa.runtime()`, "opa.runtime", "runtime"},
		{`io.jwt.encode_sign({"alg": "HS256"}, {}, {"kty": "oct", "k": "a"})`, "io.jwt.encode_sign", "replayed"},
		{`json.match_schema({}, {})`, "json.match_schema", "$ref"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := policy("acme", "bad", "package klaxon.triage\n\nx := "+tc.call+"\n")
			for _, problems := range [][]Problem{Check(context.Background(), src), mustFail(t, src)} {
				if len(problems) == 0 {
					t.Fatal("no problem reported")
				}
				p := problems[0]
				if p.File != "policy.rego" || p.Line != 3 || p.Column == 0 {
					t.Errorf("position = %s:%d:%d", p.File, p.Line, p.Column)
				}
				if !strings.Contains(p.Message, tc.name+" is not allowed") || !strings.Contains(p.Message, tc.why) {
					t.Errorf("message = %q", p.Message)
				}
			}
		})
	}
}

func mustFail(t *testing.T, src Source) []Problem {
	t.Helper()
	e := newTestEngine(t)
	rev, problems := e.Upsert(context.Background(), src)
	if rev != "" {
		t.Errorf("a forbidden policy is in force at %s", rev)
	}
	return problems
}

// TestSandboxKeepsPureBuiltins checks that what policies legitimately need
// stays available: CIDR matching, time arithmetic on input.now, globs, regex.
func TestSandboxKeepsPureBuiltins(t *testing.T) {
	src := policy("acme", "ok", `package klaxon.triage

category := "network" if net.cidr_contains("10.0.0.0/8", "10.1.2.3")

service := s if {
	ns := time.parse_rfc3339_ns(input.now)
	time.weekday(ns) == "Monday"
	glob.match("*.prod", ["."], "db.prod")
	regex.match("^a+$", "aaa")
	s := "ok"
}
`)
	if problems := Check(context.Background(), src); problems != nil {
		t.Fatal(problems)
	}
	e := newTestEngine(t)
	upsert(t, e, src)
	d, _ := triage(t, e, incident("acme", "x", nil))
	if d.Category != "network" || d.Service != "ok" {
		t.Errorf("decision = %+v", d)
	}
	caps := Capabilities()
	for _, b := range caps.Builtins {
		if b.Name == "http.send" || b.Name == "time.now_ns" || strings.HasPrefix(b.Name, "rand.") || strings.HasPrefix(b.Name, "uuid.") {
			t.Errorf("capabilities keep %s", b.Name)
		}
	}
	if caps.AllowNet == nil || len(caps.AllowNet) != 0 {
		t.Errorf("allow_net = %v, want an empty list", caps.AllowNet)
	}
}

// TestKeywordsBuiltin checks klaxon.keywords' matching rules.
func TestKeywordsBuiltin(t *testing.T) {
	src := policy("acme", "kw", `package klaxon.triage

table := {"data breach": 1, "down": 2, "Élan": 3, "5xx": 4, "!!!": 5}

test_words if {
	klaxon.keywords(table, "Possible DATA-BREACH; API down!") == {"data breach": 1, "down": 2}
	klaxon.keywords(table, "download shutdown") == {}
	klaxon.keywords(table, ["data", "breach"]) == {}
	klaxon.keywords(table, {"a": "élan vital", "b": ["5XX errors"]}) == {"Élan": 3, "5xx": 4}
	klaxon.keywords(table, 42) == {}
}
`)
	src.Tests = map[string]string{"kw_test.rego": "package klaxon.triage_test\nimport data.klaxon.triage\ntest_kw if triage.test_words\n"}
	if problems := Check(context.Background(), src); problems != nil {
		t.Fatal(problems)
	}
}
