// Package policy is Klaxon's OPA engine: it compiles IncidentPolicies in a
// sandbox, evaluates the decision points (triage, escalation, notify,
// actions, admission, redact) for a tenant over three layers, and records
// every decision so that it can be replayed.
//
// The layers are the built-in library (package policies), the provider's
// policies (in the system namespace) and the tenant's, merged in Go field by
// field: a later value replaces an earlier one, keyed fields merge by key,
// admission and redaction messages add up, and a tenant cannot change what
// the provider enforces. policies/README.md is the contract of every point's
// input and output; this package implements it.
//
// Every policy is its own compilation unit, with one prepared query per
// point it decides, so one tenant's rules never see another's. Upsert
// compiles on the caller's goroutine and swaps an immutable snapshot in
// atomically; evaluations never wait for it. A policy that errs or runs past
// its deadline is left out of the decision and the record says so.
//
// Inputs are encoded once, to JSON for the record. Outputs are cached under
// the policy's revision and the parts of the input the policy reads (a
// function of nothing else in the sandbox), read straight from that JSON, so
// deciding again for an unchanged incident costs a lookup and builds no AST.
// A policy that must be evaluated gets an AST of just the parts it reads
// when those are known, else of the whole input.
//
// Evaluation runs OPA's plan IR with package planeval when the planner's
// output allows it, several times faster than OPA's interpreter; anything
// else, and any evaluation planeval cannot finish exactly as topdown would (a
// builtin's error, a conflict), runs on OPA's topdown evaluator directly
// (see query.go): one compiled query per point, each output read through a
// comprehension of its own; the policy's data is served from an AST cache
// filled at compile time (no storage reads); rule values are recorded in a
// pooled cache (vcache.go). klaxon.keywords looks words up in an index built
// once per table. policies/README.md, "Writing fast policies", has the
// measured figures.
package policy
