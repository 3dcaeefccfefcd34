package intake

import (
	"net/http"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// checksSpec maps the events of a synthetic-check tool.
var checksSpec = klaxonv1.AlertSourceSpec{
	Format: klaxonv1.FormatCloudEvents,
	Mapping: &klaxonv1.AlertMapping{
		Title:          "{.check.name}",
		Severity:       "{.priority}",
		Service:        "{.service}",
		Fingerprint:    "{.check.id}",
		Status:         "{.check.state}",
		Description:    "{.check.output}",
		Labels:         "{.tags}",
		ResolvedValues: []string{"OK"},
	},
	SeverityMap: map[string]klaxonv1.Severity{"P1": klaxonv1.SEV1},
}

func binaryHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestCloudEventStructured(t *testing.T) {
	alerts, err := Parse(checksSpec, "application/cloudevents+json; charset=UTF-8", nil, readTestdata(t, "cloudevent-structured.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	checkAlertInvariants(t, alerts)
	a := alerts[0]
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"title", a.Title, "Postgres primary replication lag"},
		{"status", a.Status, StatusFiring},
		{"suggested", a.SuggestedSeverity, klaxonv1.SEV1},
		{"service", a.Service, "orders-db"},
		{"fingerprint keeps every digit", a.Fingerprint, "9007199254740993"},
		{"description", a.Description, "replication lag 412s > 300s"},
		{"label with a slash", a.Labels["cluster"], "db/primary"},
		{"start is the event time", a.StartsAt, time.Date(2026, 3, 29, 0, 42, 10, 0, time.UTC)},
		{"ce-id", a.Annotations[AnnotationCloudEventID], "b7c4e8a2-5f1d-4c3e-9a6b-2d8f0e1c7a95"},
		{"ce-source", a.Annotations[AnnotationCloudEventSource], "//monitoring.example.com/checks/db-primary"},
		{"ce-type", a.Annotations[AnnotationCloudEventType], "com.example.monitoring.check.failed"},
		{"ce-subject", a.Annotations[AnnotationCloudEventSubject], "db-primary"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestCloudEventBatch(t *testing.T) {
	alerts, err := Parse(checksSpec, ContentTypeCloudEventsBatch, nil, readTestdata(t, "cloudevent-batch.json"), now)
	if err != nil {
		t.Fatal(err)
	}
	checkAlertInvariants(t, alerts)
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2", len(alerts))
	}
	recovered := alerts[1] // carried as data_base64
	if recovered.Title != "Postgres replica disk" || recovered.Status != StatusResolved ||
		!recovered.EndsAt.Equal(time.Date(2026, 3, 29, 0, 43, 0, 0, time.UTC)) || recovered.Fingerprint != "42" {
		t.Errorf("recovered: %+v", recovered)
	}
}

func TestCloudEventBinary(t *testing.T) {
	header := binaryHeader(
		"ce-specversion", "1.0",
		"ce-id", "evt-9",
		"ce-source", "//checks/db",
		"ce-type", "com.example.check.failed",
		"ce-subject", "db%2Fprimary%20%E2%9C%93", // percent-encoded, as the binding requires
		"ce-time", "2026-03-29T02:42:10+02:00",
	)
	body := `{"check":{"name":"Replication lag","state":"CRITICAL","id":"c-1"},"tags":{"env":"prod"}}`
	alerts, err := Parse(checksSpec, "application/json", header, []byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	checkAlertInvariants(t, alerts)
	a := alerts[0]
	if a.Title != "Replication lag" || a.Fingerprint != "c-1" || a.Annotations[AnnotationCloudEventSubject] != "db/primary ✓" ||
		!a.StartsAt.Equal(time.Date(2026, 3, 29, 0, 42, 10, 0, time.UTC)) {
		t.Errorf("alert %+v", a)
	}
	// Any +json type is JSON data.
	if _, err := Parse(checksSpec, "application/vnd.example.check+json", header, []byte(body), now); err != nil {
		t.Errorf("+json data: %v", err)
	}
}

func TestCloudEventRejects(t *testing.T) {
	const structured = ContentTypeCloudEvents
	event := func(attrs string) string {
		return `{` + attrs + `"data":{"check":{"name":"x"}}}`
	}
	full := `"specversion":"1.0","id":"1","source":"/s","type":"t",`
	binary := []string{"ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s", "ce-type", "t"}
	for _, tc := range []struct {
		name        string
		contentType string
		header      http.Header
		body        string
		status      int
		field       string
		frags       []string
	}{
		{"no specversion", structured, nil, event(`"id":"1","source":"/s","type":"t",`), 400, "specversion", []string{"missing"}},
		{"old specversion", structured, nil, event(`"specversion":"0.3","id":"1","source":"/s","type":"t",`), 400, "specversion", []string{`"0.3"`, `"1.0"`}},
		{"no id", structured, nil, event(`"specversion":"1.0","source":"/s","type":"t",`), 400, "id", []string{"missing"}},
		{"no source", structured, nil, event(`"specversion":"1.0","id":"1","type":"t",`), 400, "source", nil},
		{"no type", structured, nil, event(`"specversion":"1.0","id":"1","source":"/s",`), 400, "type", nil},
		{"id a number", structured, nil, event(`"specversion":"1.0","id":1,"source":"/s","type":"t",`), 400, "id", []string{"expected a string"}},
		{"bad time", structured, nil, event(full + `"time":"noon",`), 400, "time", []string{"RFC 3339"}},
		{"no data", structured, nil, `{` + full[:len(full)-1] + `}`, 400, "data", []string{"missing"}},
		{"data missing the title", structured, nil, `{` + full + `"data":{"check":{}}}`, 400, "data.title", []string{"required"}},
		{"text data", structured, nil, `{` + full + `"datacontenttype":"text/plain","data":"disk full"}`, 415, "datacontenttype", []string{"text/plain"}},
		{"data and data_base64", structured, nil, `{` + full + `"data":{},"data_base64":"e30="}`, 400, "data_base64", []string{"not both"}},
		{"bad base64", structured, nil, `{` + full + `"data_base64":"%%%"}`, 400, "data_base64", []string{"base64"}},
		{"not an object", structured, nil, `[]`, 400, "", []string{"JSON object"}},
		{"batch not an array", ContentTypeCloudEventsBatch, nil, event(full), 400, "", []string{"JSON array"}},
		{"batch element without source", ContentTypeCloudEventsBatch, nil, `[` + event(full) + `,` + event(`"specversion":"1.0","id":"2","type":"t",`) + `]`, 400, "[1].source", nil},
		{"batch element data", ContentTypeCloudEventsBatch, nil, `[` + event(full) + `,{` + full + `"data":{"check":{"name":7.5}}},{` + full + `"data":[]}]`, 400, "[2].data.title", nil},
		{"binary without id", "application/json", binaryHeader("ce-specversion", "1.0", "ce-source", "/s", "ce-type", "t"), `{"check":{"name":"x"}}`, 400, "ce-id", []string{"missing"}},
		{"binary old version", "application/json", binaryHeader("ce-specversion", "0.3"), `{}`, 400, "ce-specversion", []string{"unsupported"}},
		{"binary bad encoding", "application/json", binaryHeader(append(binary, "ce-subject", "%zz")...), `{}`, 400, "ce-subject", []string{"percent-encoding"}},
		{"binary text data", "text/plain", binaryHeader(binary...), `disk full`, 415, "", []string{"JSON"}},
		{"binary no content type", "", binaryHeader(binary...), `{}`, 415, "", []string{"missing Content-Type"}},
		{"binary latin-1", "application/json; charset=latin1", binaryHeader(binary...), `{}`, 415, "", []string{"charset"}},
		{"binary empty body", "application/json", binaryHeader(binary...), ``, 400, "data", []string{"missing"}},
		{"binary invalid JSON", "application/json", binaryHeader(binary...), `{`, 400, "data", []string{"invalid JSON"}},
		{"plain JSON without ce headers", "application/json", nil, event(full), 400, "ce-specversion", []string{"binary-mode", "application/cloudevents+json"}},
		{"something else", "application/xml", nil, `<event/>`, 415, "", []string{"not a CloudEvent"}},
		{"structured latin-1", "application/cloudevents+json; charset=latin1", nil, event(full), 415, "", []string{"charset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alerts, err := Parse(checksSpec, tc.contentType, tc.header, []byte(tc.body), now)
			if err == nil {
				t.Fatalf("accepted: %+v", alerts)
			}
			wantRequestError(t, err, tc.status, tc.field, tc.frags...)
		})
	}
}

// FuzzCloudEventsStructured sends arbitrary bodies as a structured event and as a batch.
func FuzzCloudEventsStructured(f *testing.F) {
	f.Add(readTestdata(f, "cloudevent-structured.json"))
	f.Add(readTestdata(f, "cloudevent-batch.json"))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"eyJjaGVjayI6eyJuYW1lIjoieCJ9fQ=="}`))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"x"}`))
	f.Add([]byte(`[{"specversion":"1.0"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ct := range []string{ContentTypeCloudEvents, ContentTypeCloudEventsBatch} {
			alerts, err := Parse(checksSpec, ct, nil, body, now)
			if err != nil {
				checkParseError(t, err)
				continue
			}
			checkAlertInvariants(t, alerts)
		}
	})
}

// FuzzCloudEventsBinary varies the ce-* headers, the content type and the data.
func FuzzCloudEventsBinary(f *testing.F) {
	f.Add("1.0", "evt-1", "//checks/db", "check.failed", "db%2Fprimary", "2026-03-29T00:42:10Z", "application/json",
		[]byte(`{"check":{"name":"Replication lag","state":"CRITICAL","id":7},"tags":{"env":"prod"}}`))
	f.Add("1.0", "1", "/s", "t", "%", "", "application/json; charset=utf-8", []byte(`{"check":{"name":"x","state":"OK"}}`))
	f.Add("0.3", "", "", "", "", "yesterday", "text/plain", []byte(`x`))
	f.Add("1.0", "1", "/s", "t", "\xff%c3", "", "application/x+json", []byte(`{"check":{"name":["a"]}}`))
	f.Fuzz(func(t *testing.T, version, id, source, typ, subject, at, contentType string, body []byte) {
		h := http.Header{}
		for k, v := range map[string]string{"ce-specversion": version, "ce-id": id, "ce-source": source, "ce-type": typ, "ce-subject": subject, "ce-time": at} {
			if v != "" {
				h.Set(k, v)
			}
		}
		alerts, err := Parse(checksSpec, contentType, h, body, now)
		if err != nil {
			checkParseError(t, err)
			return
		}
		checkAlertInvariants(t, alerts)
		for _, a := range alerts {
			if a.Annotations[AnnotationCloudEventID] == "" {
				t.Fatal("accepted an event without an id")
			}
		}
	})
}
