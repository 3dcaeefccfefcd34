package intake

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var alertmanagerSpec = klaxonv1.AlertSourceSpec{
	Format:      klaxonv1.FormatAlertmanager,
	SeverityMap: map[string]klaxonv1.Severity{"critical": klaxonv1.SEV1, "warning": klaxonv1.SEV3},
	Service:     "platform",
}

func parseAM(t *testing.T, spec klaxonv1.AlertSourceSpec, body string) ([]Alert, error) {
	t.Helper()
	alerts, err := Parse(spec, "application/json", nil, []byte(body), now)
	if err == nil {
		checkAlertInvariants(t, alerts)
	}
	return alerts, err
}

func TestAlertmanagerWebhookV028(t *testing.T) {
	alerts, err := Parse(alertmanagerSpec, "application/json", nil, readTestdata(t, "alertmanager-v0.28.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	checkAlertInvariants(t, alerts)
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2", len(alerts))
	}
	groupKey := `{}/{severity="critical"}:{alertname="KubePodCrashLooping", namespace="payments"}`

	firing := alerts[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"status", firing.Status, StatusFiring},
		{"title", firing.Title, "Pod is crash looping."},
		{"description", firing.Description, `Pod payments/api-7d9f8b6c5-x2k4q (api) is in waiting state (reason: "CrashLoopBackOff").`},
		{"severity", firing.Severity, "critical"},
		{"suggested", firing.SuggestedSeverity, klaxonv1.SEV1},
		{"service", firing.Service, "payments-api"},
		{"team label", firing.Labels["team"], "payments / checkout"},
		{"runbook", firing.Annotations["runbook_url"], "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"},
		{"fingerprint", firing.Fingerprint, "a1b2c3d4e5f60718"},
		{"startsAt", firing.StartsAt, time.Date(2026, 3, 29, 0, 41, 7, 123e6, time.UTC)},
		{"endsAt", firing.EndsAt.IsZero(), true},
		{"generatorURL", strings.HasPrefix(firing.GeneratorURL, "http://prometheus-k8s-0:9090/graph?"), true},
		{"groupKey", firing.GroupKey, groupKey},
	}
	resolved := alerts[1]
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"resolved status", resolved.Status, StatusResolved},
		{"resolved endsAt", resolved.EndsAt, time.Date(2026, 3, 29, 0, 46, 7, 0, time.UTC)},
		{"service from job", resolved.Service, "kube-state-metrics"},
		{"same group", resolved.GroupKey, groupKey},
		{"own fingerprint", resolved.Fingerprint, "0f1e2d3c4b5a6978"},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestAlertmanagerGroupBy(t *testing.T) {
	spec := alertmanagerSpec
	spec.GroupBy = []string{"namespace", "alertname", "cluster", "alertname"}
	alerts, err := Parse(spec, "application/json", nil, readTestdata(t, "alertmanager-v0.28.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	want := `{alertname="KubePodCrashLooping",cluster="",namespace="payments"}`
	for i, a := range alerts {
		if a.GroupKey != want {
			t.Errorf("alert %d group key %q, want %q", i, a.GroupKey, want)
		}
	}
}

func TestAlertmanagerDerivedFields(t *testing.T) {
	for _, tc := range []struct {
		name, alert, common string
		check               func(t *testing.T, a Alert)
	}{{
		name:  "title from alertname when the summary is blank",
		alert: `{"status":"firing","labels":{"alertname":"NodeDown","severity":"warning"},"annotations":{"summary":"  "}}`,
		check: func(t *testing.T, a Alert) {
			if a.Title != "NodeDown" || a.SuggestedSeverity != klaxonv1.SEV3 {
				t.Errorf("title %q severity %q", a.Title, a.SuggestedSeverity)
			}
		},
	}, {
		name:   "title from the common summary",
		alert:  `{"status":"firing","labels":{"instance":"db 1/primary"}}`,
		common: `{"summary":"Database down"}`,
		check: func(t *testing.T, a Alert) {
			if a.Title != "Database down" {
				t.Errorf("title %q", a.Title)
			}
		},
	}, {
		name:  "title from the fingerprint as a last resort; fingerprint as Alertmanager computes it",
		alert: `{"status":"firing","labels":{"name":"garland, briggs","fear":"love is not enough"}}`,
		check: func(t *testing.T, a Alert) {
			// 5799056148416392346 is prometheus/common's own test vector for this set.
			if a.Fingerprint != "507a62d79ee76c9a" || a.Title != "alert 507a62d79ee76c9a" {
				t.Errorf("fingerprint %q title %q", a.Fingerprint, a.Title)
			}
		},
	}, {
		name:  "description from message; service from the source; severity default",
		alert: `{"status":"firing","labels":{"alertname":"X"},"annotations":{"message":"old-style message"}}`,
		check: func(t *testing.T, a Alert) {
			if a.Description != "old-style message" || a.Service != "platform" || a.SuggestedSeverity != "" {
				t.Errorf("description %q service %q severity %q", a.Description, a.Service, a.SuggestedSeverity)
			}
		},
	}, {
		name:  "no status and endsAt passed: resolved",
		alert: `{"labels":{"alertname":"X"},"startsAt":"2026-03-29T00:00:00Z","endsAt":"2026-03-29T00:30:00Z"}`,
		check: func(t *testing.T, a Alert) {
			if a.Status != StatusResolved {
				t.Errorf("status %q", a.Status)
			}
		},
	}, {
		name:  "endsAt with an offset is compared as an instant",
		alert: `{"labels":{"alertname":"X"},"endsAt":"2026-03-29T01:00:00+02:00"}`,
		check: func(t *testing.T, a Alert) {
			// 01:00+02:00 is 23:00Z the day before: passed, so resolved.
			if a.Status != StatusResolved {
				t.Errorf("status %q", a.Status)
			}
		},
	}, {
		name:  "firing with a predicted end; no start means now",
		alert: `{"labels":{"alertname":"X"},"endsAt":"2026-03-29T01:00:00Z"}`,
		check: func(t *testing.T, a Alert) {
			if a.Status != StatusFiring || !a.StartsAt.Equal(now) {
				t.Errorf("status %q start %v", a.Status, a.StartsAt)
			}
		},
	}, {
		name:  "resolved without endsAt ends now",
		alert: `{"status":"resolved","labels":{"alertname":"X"}}`,
		check: func(t *testing.T, a Alert) {
			if !a.EndsAt.Equal(now) {
				t.Errorf("endsAt %v", a.EndsAt)
			}
		},
	}, {
		name:  "no groupKey: group by fingerprint",
		alert: `{"status":"firing","labels":{"alertname":"X"},"fingerprint":"00000000000000aa"}`,
		check: func(t *testing.T, a Alert) {
			if a.GroupKey != "00000000000000aa" {
				t.Errorf("group key %q", a.GroupKey)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			common := tc.common
			if common == "" {
				common = "{}"
			}
			alerts, err := parseAM(t, alertmanagerSpec, `{"version":"4","commonAnnotations":`+common+`,"alerts":[`+tc.alert+`]}`)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, alerts[0])
		})
	}
}

func TestAlertmanagerRejects(t *testing.T) {
	valid := `{"status":"firing","labels":{"alertname":"X"}}`
	for _, tc := range []struct {
		name, body, field string
		fragments         []string
	}{
		{"empty body", ``, "", []string{"empty body"}},
		{"invalid JSON", `{"version":"4",`, "", []string{"invalid JSON"}},
		{"syntax error", `{"version":"4" "alerts":[]}`, "", []string{"invalid JSON at byte"}},
		{"trailing data", `{"version":"4","alerts":[]} {}`, "", []string{"after the JSON value"}},
		{"not an object", `[1,2]`, "", []string{"expected a JSON object", "got an array"}},
		{"missing version", `{"alerts":[` + valid + `]}`, "version", []string{"missing", `"4"`}},
		{"wrong version", `{"version":"3","alerts":[` + valid + `]}`, "version", []string{`unsupported version "3"`}},
		{"Grafana's version", `{"version":"1","alerts":[` + valid + `]}`, "version", []string{"Generic source"}},
		{"numeric version", `{"version":4,"alerts":[]}`, "version", []string{"expected a string, got a number"}},
		{"missing alerts", `{"version":"4"}`, "alerts", []string{"missing"}},
		{"alerts not a list", `{"version":"4","alerts":{}}`, "alerts", []string{"expected an array, got an object"}},
		{"alert not an object", `{"version":"4","alerts":[` + valid + `,"x"]}`, "alerts[1]", []string{"expected an object, got a string"}},
		{"labels wrong type", `{"version":"4","alerts":[` + valid + `,` + valid + `,` + valid + `,{"labels":[]}]}`, "alerts[3].labels", []string{"expected an object"}},
		{"labels missing", `{"version":"4","alerts":[{"status":"firing"}]}`, "alerts[0].labels", []string{"missing"}},
		{"label value a number", `{"version":"4","alerts":[{"labels":{"alertname":"X","replicas":3}}]}`, "alerts[0].labels.replicas", []string{"expected a string, got a number"}},
		{"label name with a slash", `{"version":"4","alerts":[{"labels":{"app.kubernetes.io/name":null}}]}`, `alerts[0].labels["app.kubernetes.io/name"]`, []string{"got null"}},
		{"annotations wrong type", `{"version":"4","alerts":[{"labels":{},"annotations":"x"}]}`, "alerts[0].annotations", []string{"expected an object"}},
		{"bad status", `{"version":"4","alerts":[{"status":"pending","labels":{}}]}`, "alerts[0].status", []string{`"firing" or "resolved"`, `"pending"`}},
		{"bad startsAt", `{"version":"4","alerts":[{"labels":{},"startsAt":"yesterday"}]}`, "alerts[0].startsAt", []string{"RFC 3339"}},
		{"bad endsAt type", `{"version":"4","alerts":[{"labels":{},"endsAt":0}]}`, "alerts[0].endsAt", []string{"expected a string"}},
		{"fingerprint a number", `{"version":"4","alerts":[{"labels":{},"fingerprint":12}]}`, "alerts[0].fingerprint", []string{"expected a string"}},
		{"bad groupKey", `{"version":"4","groupKey":1,"alerts":[]}`, "groupKey", []string{"expected a string"}},
		{"bad commonLabels", `{"version":"4","commonLabels":{"a":1},"alerts":[]}`, "commonLabels.a", []string{"expected a string"}},
		{"negative truncatedAlerts", `{"version":"4","truncatedAlerts":-1,"alerts":[]}`, "truncatedAlerts", []string{"non-negative integer"}},
		{"long garbage is cut short in the message", `{"version":"` + strings.Repeat("9", 5000) + `","alerts":[]}`, "version", []string{"..."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAM(t, alertmanagerSpec, tc.body)
			wantRequestError(t, err, http.StatusBadRequest, tc.field, tc.fragments...)
			if len(err.Error()) > 400 {
				t.Errorf("message of %d bytes", len(err.Error()))
			}
		})
	}
}

func TestAlertmanagerEmptyGroup(t *testing.T) {
	alerts, err := parseAM(t, alertmanagerSpec, `{"version":"4","truncatedAlerts":0,"alerts":[]}`)
	if err != nil || len(alerts) != 0 {
		t.Fatalf("alerts %v err %v", alerts, err)
	}
}

// FuzzAlertmanager: any body either parses into well-formed alerts or is refused with
// a 400/415 RequestError; nothing panics.
func FuzzAlertmanager(f *testing.F) {
	f.Add(readTestdata(f, "alertmanager-v0.28.json"))
	f.Add([]byte(`{"version":"4","alerts":[{"labels":{}}]}`))
	f.Add([]byte(`{"version":"4","groupKey":"","alerts":[{"status":"resolved","labels":{"a":"b"},"annotations":{"summary":"\n"},"endsAt":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"labels":{"x":1}}]}`))
	f.Add([]byte(`{"version":"3"}`))
	f.Add([]byte(`[]`))
	grouped := alertmanagerSpec
	grouped.GroupBy = []string{"alertname", "team"}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, spec := range []klaxonv1.AlertSourceSpec{alertmanagerSpec, grouped} {
			alerts, err := Parse(spec, "application/json", nil, body, now)
			if err != nil {
				checkParseError(t, err)
				continue
			}
			checkAlertInvariants(t, alerts)
		}
	})
}

// BenchmarkAlertmanagerBatch50 parses a batch of 50 alerts, the load test's unit.
func BenchmarkAlertmanagerBatch50(b *testing.B) {
	body := batchOf50(`{"status":"firing","labels":{"alertname":"HighLatency","service":"api","severity":"critical","instance":"10.0.0.%d:9090"},"annotations":{"summary":"p99 above 1s"},"startsAt":"2026-03-29T00:41:07Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"%016x"}`)
	body = `{"version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","status":"firing","receiver":"klaxon","alerts":[` + body + `]}`
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(alertmanagerSpec, "application/json", nil, []byte(body), now); err != nil {
			b.Fatal(err)
		}
	}
}

func batchOf50(format string) string {
	items := make([]string, 50)
	for i := range items {
		items[i] = fmt.Sprintf(format, i, i)
	}
	return strings.Join(items, ",")
}

// FuzzAlertmanagerFastPath: whenever the struct decoding takes a payload, the generic
// walk takes it too and reads the same alerts; what the generic walk refuses, the
// fast path declines.
func FuzzAlertmanagerFastPath(f *testing.F) {
	f.Add(readTestdata(f, "alertmanager-v0.28.json"))
	for _, seed := range []string{
		`{"version":"4","alerts":[{"labels":{}}]}`,
		`{"version":"4","groupKey":"","alerts":[{"status":"resolved","labels":{"a":"b"},"annotations":{"summary":"\n"},"endsAt":"2026-01-01T00:00:00Z"}]}`,
		`{"version":"4","alerts":[{"labels":{"x":null}}]}`,
		`{"version":"4","alerts":[{"labels":{"a":"1"},"labels":{"b":"2"}}]}`,
		`{"version":"4","alerts":[{"status":"resolved","status":null,"labels":{}}]}`,
		`{"version":"4","version":null,"alerts":[]}`,
		`{"Version":"4","alerts":[]}`,
		`{"version":"4","alerts":[{"labels":{"a":"1"}}],"alerts":[{"status":"firing","labels":{"b":"\u00e9\ud83d\ude00"}}]}`,
		`{"version":"4","truncatedAlerts":"1","alerts":[]}`,
		`{"version":"4","truncatedAlerts":1.5,"alerts":[]}`,
		`{"version":"4","truncatedAlerts":2,"alerts":[null]}`,
		`{"version":"4","commonAnnotations":{"summary":"s"},"alerts":[{"labels":{"k":"v\xff"},"fingerprint":"f","startsAt":"2026-01-01T00:00:00.5+02:00"}]}`,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	grouped := alertmanagerSpec
	grouped.GroupBy = []string{"alertname", "team"}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, spec := range []klaxonv1.AlertSourceSpec{alertmanagerSpec, grouped} {
			fast, ok := parseAlertmanagerFast(spec, body, now)
			if !ok {
				continue
			}
			doc, err := decodeJSON(body, "")
			if err != nil {
				t.Fatalf("the fast path took %q, which is not JSON to the generic path: %v", body, err)
			}
			slow, err := parseAlertmanagerGeneric(spec, doc, now)
			if err != nil {
				t.Fatalf("the fast path took %q, which the generic path refuses: %v", body, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q: the fast path read\n%+v\nthe generic path\n%+v", body, fast, slow)
			}
		}
	})
}

// TestAlertmanagerFastPathTakesWellFormedPayloads: what Alertmanager sends goes the
// fast way; the oddities the generic path reads differently do not.
func TestAlertmanagerFastPathTakesWellFormedPayloads(t *testing.T) {
	batch := `{"version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","status":"firing","receiver":"klaxon","alerts":[` +
		batchOf50(`{"status":"firing","labels":{"alertname":"HighLatency","instance":"10.0.0.%d:9090"},"annotations":{"summary":"p99 above 1s"},"startsAt":"2026-03-29T00:41:07Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"%016x"}`) + `]}`
	// The text null sends a body through the decoding that refuses null labels.
	nullText := `{"version":"4","externalURL":null,"alerts":[{"labels":{"alertname":"NullPointer"},"annotations":{"summary":"value is null"}}]}`
	for name, body := range map[string][]byte{"v0.28 testdata": readTestdata(t, "alertmanager-v0.28.json"), "a batch of 50": []byte(batch),
		"the text null": []byte(nullText)} {
		alerts, ok := parseAlertmanagerFast(alertmanagerSpec, body, now)
		if !ok || len(alerts) == 0 {
			t.Errorf("%s: declined by the fast path", name)
			continue
		}
		doc, err := decodeJSON(body, "")
		if err != nil {
			t.Fatal(err)
		}
		if slow, err := parseAlertmanagerGeneric(alertmanagerSpec, doc, now); err != nil || !reflect.DeepEqual(alerts, slow) {
			t.Errorf("%s: the fast path read %+v; the generic path %+v, %v", name, alerts, slow, err)
		}
	}
	for _, body := range []string{
		`{"version":"4","alerts":[{"labels":{"x":null}}]}`,
		`{"version":"4","alerts":[{"status":"resolved","status":null,"labels":{}}]}`,
		`{"Version":"4","alerts":[]}`,
		`{"version":"4","truncatedAlerts":"1","alerts":[]}`,
		`{"version":"4","alerts":[null]}`,
		`{"version":"4","alerts":[{"status":"firing"}]}`,
	} {
		fast, ok := parseAlertmanagerFast(alertmanagerSpec, []byte(body), now)
		doc, err := decodeJSON([]byte(body), "")
		if err != nil {
			t.Fatal(err)
		}
		slow, err := parseAlertmanagerGeneric(alertmanagerSpec, doc, now)
		if ok && (err != nil || !reflect.DeepEqual(fast, slow)) {
			t.Errorf("%s: the fast path read %+v; the generic path %+v, %v", body, fast, slow, err)
		}
	}
}
