package intake

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// grafanaSpec maps Grafana's webhook contact point payload.
var grafanaSpec = klaxonv1.AlertSourceSpec{
	Format: klaxonv1.FormatGeneric,
	Mapping: &klaxonv1.AlertMapping{
		Alerts:      "{.alerts}",
		Title:       "{.annotations.summary}",
		Severity:    "{.labels.severity}",
		Service:     "{.labels.service}",
		Fingerprint: "{.fingerprint}",
		Status:      "{.status}",
		Description: "{.annotations.description}",
		Labels:      "{.labels}",
	},
	SeverityMap:     map[string]klaxonv1.Severity{"P1": klaxonv1.SEV1, "P2": klaxonv1.SEV2},
	DefaultSeverity: klaxonv1.SEV4,
}

func genericSpec(m klaxonv1.AlertMapping) klaxonv1.AlertSourceSpec {
	return klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatGeneric, Mapping: &m}
}

func parseGenericBody(t *testing.T, spec klaxonv1.AlertSourceSpec, body string) ([]Alert, error) {
	t.Helper()
	alerts, err := Parse(spec, "application/json", nil, []byte(body), now)
	if err == nil {
		checkAlertInvariants(t, alerts)
	}
	return alerts, err
}

func TestGenericGrafanaWebhook(t *testing.T) {
	alerts, err := Parse(grafanaSpec, "application/json; charset=utf-8", nil, readTestdata(t, "grafana-webhook.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	checkAlertInvariants(t, alerts)
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2", len(alerts))
	}
	first, second := alerts[0], alerts[1]
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"title", first.Title, "Checkout p99 latency above 1s"},
		{"status", first.Status, StatusFiring},
		{"severity", first.Severity, "P2"},
		{"suggested", first.SuggestedSeverity, klaxonv1.SEV2},
		{"service", first.Service, "checkout"},
		{"fingerprint", first.Fingerprint, "57c6d9296de2ad39"},
		{"group key is the fingerprint", first.GroupKey, "57c6d9296de2ad39"},
		{"label with spaces", first.Labels["alertname"], "High p99 latency"},
		{"label with a slash", first.Labels["grafana_folder"], "Checkout / Prod"},
		{"description", first.Description, "p99 latency of checkout is 2.31s (threshold 1s)"},
		{"start is the request time", first.StartsAt, now},
		{"resolved", second.Status, StatusResolved},
		{"resolved end", second.EndsAt, now},
		{"no description", second.Description, ""},
		{"unmapped severity gets the default", second.SuggestedSeverity, klaxonv1.SEV4},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestGenericWholeDocument(t *testing.T) {
	// Bare paths, as kubectl's custom columns accept them.
	spec := genericSpec(klaxonv1.AlertMapping{
		Title:    "$.title",
		Severity: ".level",
		Service:  "host.name",
		Status:   "{.state}",
		Labels:   "{.tags}",
	})
	alerts, err := parseGenericBody(t, spec, `{"title":"Disk /var full","level":3,"host":{"name":"db 1"},"state":"OK",
		"tags":{"env":"prod","replicas":3,"canary":false,"owner":null,"extra":{"a":[1,"b"]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	a := alerts[0]
	if a.Title != "Disk /var full" || a.Severity != "3" || a.Service != "db 1" || a.Status != StatusResolved {
		t.Errorf("alert %+v", a)
	}
	wantLabels := map[string]string{"env": "prod", "replicas": "3", "canary": "false", "owner": "", "extra": `{"a":[1,"b"]}`}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
}

func TestGenericTemplatesAndFilters(t *testing.T) {
	spec := genericSpec(klaxonv1.AlertMapping{
		Alerts:      `{.events[?(@.kind=="alert")]}`,
		Title:       "{.service}: {.check}",
		Fingerprint: "{.id}",
		Status:      "{.state}",
		// A mapping's own resolved values replace the defaults, case-insensitively.
		ResolvedValues: []string{"Recovered"},
	})
	alerts, err := parseGenericBody(t, spec, `{"events":[
		{"kind":"alert","service":"api","check":"HTTP 5xx","id":9007199254740993,"state":"RECOVERED"},
		{"kind":"info","service":"api","check":"deploy"},
		{"kind":"alert","service":"web","check":"TLS expiry","id":"abc","state":"ok"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2 (the filter drops the info event)", len(alerts))
	}
	if alerts[0].Title != "api: HTTP 5xx" || alerts[0].Status != StatusResolved {
		t.Errorf("first: %q %q", alerts[0].Title, alerts[0].Status)
	}
	// A number beyond float64's 53 bits keeps every digit: ids often serve as fingerprints.
	if alerts[0].Fingerprint != "9007199254740993" {
		t.Errorf("fingerprint %q", alerts[0].Fingerprint)
	}
	if alerts[1].Status != StatusFiring {
		t.Errorf(`"ok" is not among this mapping's resolved values, yet status %q`, alerts[1].Status)
	}
}

func TestGenericListForms(t *testing.T) {
	for _, path := range []string{"{.alerts}", "{.alerts[*]}", "alerts"} {
		spec := genericSpec(klaxonv1.AlertMapping{Alerts: path, Title: "{.t}"})
		alerts, err := parseGenericBody(t, spec, `{"alerts":[{"t":"a"},{"t":"b"},{"t":"c"}]}`)
		if err != nil || len(alerts) != 3 || alerts[2].Title != "c" {
			t.Errorf("%s: %d alerts, err %v", path, len(alerts), err)
		}
	}
	spec := genericSpec(klaxonv1.AlertMapping{Alerts: "{.alerts}", Title: "{.t}"})
	if alerts, err := parseGenericBody(t, spec, `{"alerts":[]}`); err != nil || len(alerts) != 0 {
		t.Errorf("empty list: %d alerts, err %v", len(alerts), err)
	}
}

func TestGenericFingerprintFromContent(t *testing.T) {
	spec := genericSpec(klaxonv1.AlertMapping{Title: "{.title}", Labels: "{.labels}", Status: "{.status}"})
	fp := func(body string) string {
		t.Helper()
		alerts, err := parseGenericBody(t, spec, body)
		if err != nil {
			t.Fatal(err)
		}
		return alerts[0].Fingerprint
	}
	base := fp(`{"title":"Disk full","labels":{"host":"db1","mount":"/var"},"status":"firing"}`)
	if got := fp(`{"status":"resolved","labels":{"mount":"/var","host":"db1"},"title":"Disk full"}`); got != base {
		t.Errorf("resolved notification of the same alert: fingerprint %s, want %s", got, base)
	}
	if got := fp(`{"title":"Disk full","labels":{"host":"db2","mount":"/var"}}`); got == base {
		t.Error("another host has the same fingerprint")
	}
	if got := fp(`{"title":"Disk nearly full","labels":{"host":"db1","mount":"/var"}}`); got == base {
		t.Error("another title has the same fingerprint")
	}
}

func TestGenericRejects(t *testing.T) {
	list := genericSpec(klaxonv1.AlertMapping{Alerts: "{.alerts}", Title: "{.title}", Labels: "{.labels}", Severity: "{.sev}"})
	single := genericSpec(klaxonv1.AlertMapping{Title: "{.alert.title}"})
	for _, tc := range []struct {
		name  string
		spec  klaxonv1.AlertSourceSpec
		body  string
		field string
		frags []string
	}{
		{"missing title", single, `{"alert":{"name":"x"}}`, "title", []string{"required", "{.alert.title} selects nothing"}},
		{"blank title", single, `{"alert":{"title":" \n"}}`, "title", []string{"empty string"}},
		{"title an object", single, `{"alert":{"title":{"text":"x"}}}`, "title", []string{"selects an object; expected a string"}},
		{"title of a list alert", list, `{"alerts":[{"title":"a"},{"title":"b"},{"name":"c"}]}`, "alerts[2].title", []string{"required"}},
		{"labels wrong type", list, `{"alerts":[{"title":"a"},{"title":"b"},{"title":"c"},{"title":"d","labels":["x"]}]}`, "alerts[3].labels", []string{"expected an object"}},
		{"severity a list", list, `{"alerts":[{"title":"a","sev":[1]}]}`, "alerts[0].severity", []string{"expected a string"}},
		{"alerts missing", list, `{"items":[]}`, "alerts", []string{"{.alerts} selects nothing"}},
		{"alert not an object", list, `{"alerts":[{"title":"a"},7]}`, "alerts[1]", []string{"expected an object, got a number"}},
		{"whole document not an object", single, `"just a string"`, "title", []string{"selects nothing"}},
		{"null document", single, `null`, "title", []string{"selects nothing"}},
		{"invalid JSON", single, `{"alert":`, "", []string{"invalid JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseGenericBody(t, tc.spec, tc.body)
			wantRequestError(t, err, http.StatusBadRequest, tc.field, tc.frags...)
		})
	}
	_, err := Parse(single, "text/csv", nil, []byte(`a,b`), now)
	wantRequestError(t, err, http.StatusUnsupportedMediaType, "", "text/csv")
}

func TestGenericInvalidMapping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mapping *klaxonv1.AlertMapping
		frag    string
	}{
		{"no mapping", nil, "mapping: required"},
		{"no title", &klaxonv1.AlertMapping{Title: " "}, "mapping.title: required"},
		{"unparsable", &klaxonv1.AlertMapping{Title: "{.a[}"}, "mapping.title: invalid JSONPath"},
		{"range", &klaxonv1.AlertMapping{Title: "{.t}", Alerts: "{range .items[*]}{.x}{end}"}, "mapping.alerts: range and end"},
		{"text only", &klaxonv1.AlertMapping{Title: "{.t}", Service: "{}"}, "mapping.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatGeneric, Mapping: tc.mapping}
			err := ValidateSpec(spec)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.frag) {
				t.Fatalf("ValidateSpec: %v, want ErrInvalidSpec saying %q", err, tc.frag)
			}
			_, err = Parse(spec, "application/json", nil, []byte(`{"t":"x"}`), now)
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Parse: %v, want ErrInvalidSpec", err)
			}
		})
	}
	if err := ValidateSpec(grafanaSpec); err != nil {
		t.Fatalf("Grafana mapping: %v", err)
	}
}

// FuzzGeneric runs arbitrary documents through fixed mappings: a list mapping with
// every field, and a whole-document mapping with templates and filters.
func FuzzGeneric(f *testing.F) {
	f.Add(readTestdata(f, "grafana-webhook.json"))
	f.Add([]byte(`{"alerts":[{"annotations":{"summary":"x"},"labels":{"a":1,"b":null,"c":[{}]},"status":"OK"}]}`))
	f.Add([]byte(`{"alerts":[1,{"annotations":{"summary":{}}}]}`))
	f.Add([]byte(`{"title":"t","items":[{"kind":"alert","n":1},{"kind":2}],"tags":{"a":"b"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`"x"`))
	f.Add([]byte(`[[[]]]`))
	whole := genericSpec(klaxonv1.AlertMapping{
		Title:       `{.title}: {.items[?(@.kind=="alert")].n}`,
		Severity:    "{.items[0].n}",
		Service:     "{..service}",
		Fingerprint: "{.items[-1:].kind}",
		Status:      "{.tags.*}",
		Labels:      "{.tags}",
	})
	if err := ValidateSpec(whole); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, spec := range []klaxonv1.AlertSourceSpec{grafanaSpec, whole} {
			alerts, err := Parse(spec, "application/json", nil, body, now)
			if err != nil {
				checkParseError(t, err)
				continue
			}
			checkAlertInvariants(t, alerts)
		}
	})
}

// BenchmarkGenericBatch50 maps a Grafana-style batch of 50 alerts with every field.
func BenchmarkGenericBatch50(b *testing.B) {
	body := `{"alerts":[` + batchOf50(`{"status":"firing","labels":{"alertname":"High p99 latency","service":"checkout","severity":"P2","instance":"10.0.0.%d"},"annotations":{"summary":"Checkout p99 above 1s"},"fingerprint":"%016x"}`) + `]}`
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(grafanaSpec, "application/json", nil, []byte(body), now); err != nil {
			b.Fatal(err)
		}
	}
}
