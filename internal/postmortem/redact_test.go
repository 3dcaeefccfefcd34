package postmortem

import (
	"strings"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestBuiltinRedaction(t *testing.T) {
	r := defaultRedactor(t)
	for _, tc := range []struct{ in, want string }{
		{"Paged jane.doe+oncall@acme.example and ops@sub.acme.co.uk",
			"Paged [redacted:email] and [redacted:email]"},
		{"Call the DPO on +44 20 7946 0958 or +1 (555) 010-9999.",
			"Call the DPO on [redacted:phone] or [redacted:phone]."},
		{"US desk (555) 867-5309, 555.867.5309; Berlin 030 12345678, mobile 0171-1234567",
			"US desk [redacted:phone], [redacted:phone]; Berlin [redacted:phone], mobile [redacted:phone]"},
		{"curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ' https://api",
			"curl -H 'Authorization: Bearer [redacted:jwt]' https://api"},
		{"Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc",
			"Authorization: Bearer [redacted:token]"},
		{"header was Authorization: Basic a2xheG9uOmh1bnRlcjI=",
			"header was Authorization: Basic [redacted:token]"},
		{"leaked AKIAIOSFODNN7EXAMPLE with aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"leaked [redacted:aws-key] with aws_secret_access_key=[redacted:aws-key]"},
		{"posted to https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx by the bot",
			"posted to [redacted:slack-webhook] by the bot"},
		{"bot token xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
			"bot token [redacted:slack-token]"},
		{"GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 in the job log",
			"GITHUB_TOKEN=[redacted:token] in the job log"},
		{"clone https://deploy:glpat-Xy9_abcdefghijklmnop12@gitlab.example/x.git",
			"clone https://deploy:[redacted:token]@gitlab.example/x.git"},
		{"DSN postgres://checkout:Sup3rS3cret@db:5432/orders",
			"DSN postgres://checkout:[redacted:password]@db:5432/orders"},
		{`config {"password": "hunter2hunter2", "api_key": "k-123456"}`,
			`config {"password": "[redacted:secret]", "api_key": "[redacted:secret]"}`},
		{"pagerduty routing_key=0123456789abcdef0123456789abcdef",
			"pagerduty routing_key=[redacted:secret]"},
		{"session 7c9e6679f1a2b3c4d5e6f708192a3b4c5d6e7f80 stolen",
			"session [redacted:secret] stolen"},
		{"signing key dGhpc0lzQVZlcnlMb25nUmFuZG9tU2VjcmV0S2V5MTIzNDU2Nzg5MA== rotated",
			"signing key [redacted:secret] rotated"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\nwas in the paste",
			"[redacted:private-key]\nwas in the paste"},
	} {
		if got := r.Text(tc.in); got != tc.want {
			t.Errorf("\n  in: %s\n got: %s\nwant: %s", tc.in, got, tc.want)
		}
	}
}

// TestRedactionLeavesOrdinaryTextAlone lists what incident records are full of and must
// stay readable: times, addresses, versions, ids, names, digests.
func TestRedactionLeavesOrdinaryTextAlone(t *testing.T) {
	r := defaultRedactor(t)
	for _, s := range []string{
		"2026-03-14T08:58:00Z to 2026-03-14 11:43:00 UTC, 2h45m0s",
		"node 10.20.30.40:8443 and 192.168.100.200, CIDR 10.20.0.0/16",
		"rolled back to v1.22.3 (build 20260314.1), chart 4.5.6",
		"pod checkout-7d9f8c6b5-x2x4z in namespace acme-prod-eu-west-1",
		"incident 6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d, fingerprint a1b2c3d4e5f60718",
		"image registry.example/checkout@sha256:3b4f5e6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f",
		"/var/lib/kubelet/pods/checkout/volumes/kubernetes.io~projected/kube-api-access",
		"Triage -> Contain; error rate 12.5% for 3500 requests; p99 1234 ms",
		"https://runbooks.acme.example/credential-leak?step=3",
		"SomeVeryLongCamelCaseIdentifierForTheCheckoutService",
		"the password was rotated at 09:30",
		"ticket SEC-42, port 5432, order 1234567",
	} {
		if got := r.Text(s); got != s {
			t.Errorf("changed ordinary text:\n  in: %s\n got: %s", s, got)
		}
	}
}

func TestRedactionFieldsAndPatterns(t *testing.T) {
	r, err := NewRedactor(v1alpha1.Redaction{
		Patterns: []string{`ACME-\d{4}`, `employee id (?P<secret>\d+)`},
		Fields:   []string{"customer", "timeline.actor", "source.labels", "times.triggered", "**.reporter", "incident", "decisions"},
	}, v1alpha1.Redaction{
		// What a data.klaxon.redact policy adds; it cannot switch the built-ins off.
		Patterns:        []string{`Project Falcon`},
		Fields:          []string{"notes.author"},
		DisableBuiltins: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := fixtureRecord(t)
	rec.Description = "Contract ACME-1234 (Project Falcon), employee id 4711, mail jane@acme.example"
	red, err := r.Record(rec)
	if err != nil {
		t.Fatal(err)
	}
	if red.Description != "Contract [redacted:pattern] ([redacted:pattern]), employee id [redacted:pattern], mail [redacted:email]" {
		t.Errorf("description %q", red.Description)
	}
	if red.Customer != FieldMask {
		t.Errorf("customer %q", red.Customer)
	}
	for _, e := range red.Timeline {
		if e.Actor != FieldMask || e.Type == FieldMask {
			t.Errorf("timeline entry %+v", e)
		}
	}
	for k, v := range red.Source.Labels {
		if v != FieldMask {
			t.Errorf("label %s=%q", k, v)
		}
	}
	if red.Times.Triggered != nil || red.Times.Resolved == nil {
		t.Errorf("times.triggered should be removed, the rest kept: %+v", red.Times)
	}
	if red.Notes[0].Author != FieldMask {
		t.Errorf("note author %q", red.Notes[0].Author)
	}
	// Identity is kept, even when a parent is named: replay needs it.
	if red.Incident != rec.Incident {
		t.Errorf("incident identity changed: %+v", red.Incident)
	}
	for i, d := range red.Decisions {
		if d.ID != rec.Decisions[i].ID || d.Point != rec.Decisions[i].Point || (rec.Decisions[i].Summary != "" && d.Summary != FieldMask) {
			t.Errorf("decision %+v", d)
		}
		if !d.Input.IsZero() && !strings.Contains(string(d.Input), `"[redacted]"`) {
			t.Errorf("decision input not masked: %s", d.Input)
		}
	}
}

func TestRedactionConfigErrors(t *testing.T) {
	for name, spec := range map[string]v1alpha1.Redaction{
		"bad regexp":    {Patterns: []string{"(unclosed"}},
		"empty match":   {Patterns: []string{"x*"}},
		"empty field":   {Fields: []string{""}},
		"empty segment": {Fields: []string{"a..b"}},
	} {
		if _, err := NewRedactor(spec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	off, err := NewRedactor(v1alpha1.Redaction{DisableBuiltins: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := off.Text("jane@acme.example"); got != "jane@acme.example" {
		t.Errorf("builtins disabled, got %q", got)
	}
}

// TestRenderedRecordHoldsNoSecret renders the fixture and looks for every secret it
// holds, in the front matter and the body alike.
func TestRenderedRecordHoldsNoSecret(t *testing.T) {
	out, err := Render(fixtureRecord(t), defaultRedactor(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{
		"Sup3rS3cretPassw0rd", "jane.doe@acme.example", "7946 0958", "soc@acme.example",
		"bob@acme.example", "cto@acme.example", "XXXXXXXXXXXXXXXXXXXXXXXX", "ghp_abcdefghij", "867-5309",
	} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q reached the record", secret)
		}
	}
	front, body, _ := strings.Cut(string(out[4:]), "\n---\n")
	for _, half := range []string{front, body} {
		if !strings.Contains(half, "[redacted:email]") || !strings.Contains(half, "[redacted:phone]") {
			t.Error("a half of the record is not redacted")
		}
	}
}

func FuzzRedactText(f *testing.F) {
	for _, s := range []string{
		"jane@acme.example +44 20 7946 0958", "Bearer abcdefgh12345678", "token=[redacted:token]",
		"postgres://u:p@h/db", "AKIAIOSFODNN7EXAMPLE", "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
		"0123456789abcdef0123456789abcdef", "(555) 867-5309",
	} {
		f.Add(s)
	}
	r, err := NewRedactor(v1alpha1.Redaction{Patterns: []string{`secret-\w+`}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := r.Text(s)
		if twice := r.Text(once); twice != once {
			t.Errorf("redaction is not idempotent:\n%q\n%q\n%q", s, once, twice)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte("---\nschema: klaxon.dev/postmortem/v1\nincident: {namespace: a, name: b}\ndecisions:\n  - id: d\n    input: {a: [1, 2.5, true, null, x]}\n---\nbody"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ParseRecord(b)
		if err != nil {
			return
		}
		// Whatever parses renders, and reads back the same.
		out, err := Render(rec, nil)
		if err != nil {
			return
		}
		if _, err := ParseRecord(out); err != nil {
			t.Errorf("a rendered record does not parse: %v\n%s", err, out)
		}
	})
}
