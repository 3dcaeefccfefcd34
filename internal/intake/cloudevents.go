package intake

// CloudEvents are read here rather than with github.com/cloudevents/sdk-go: intake
// needs only the HTTP binding's two modes and the JSON format (a few dozen lines), and
// the SDK would bring its protocol bindings and client into the controller for that,
// while its errors would not name the attribute or header at fault.

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Media types of the CloudEvents HTTP binding (spec v1.0.2, sections 3.2 and 3.3).
const (
	ContentTypeCloudEvents      = "application/cloudevents+json"
	ContentTypeCloudEventsBatch = "application/cloudevents-batch+json"
)

// ceSpecVersion is the only CloudEvents version there is a stable spec for.
const ceSpecVersion = "1.0"

// Annotations intake adds to alerts from CloudEvents, so a responder can trace the
// incident back to the event.
const (
	AnnotationCloudEventID      = "ce-id"
	AnnotationCloudEventSource  = "ce-source"
	AnnotationCloudEventType    = "ce-type"
	AnnotationCloudEventSubject = "ce-subject"
)

// cloudEvent is the part of an event intake reads.
type cloudEvent struct {
	id, source, typ, subject string
	time                     time.Time
	data                     any
	hasData                  bool
}

// parseCloudEvents reads a structured-mode event, a batch, or a binary-mode event
// (attributes in ce-* headers, data in the body), then maps each event's data like a
// Generic payload.
func parseCloudEvents(spec klaxonv1.AlertSourceSpec, contentType string, header http.Header, body []byte, now time.Time) ([]Alert, error) {
	m, err := compileMapping(spec.Mapping)
	if err != nil {
		return nil, err
	}
	media, _, _ := mime.ParseMediaType(contentType)
	switch {
	case media == ContentTypeCloudEvents:
		if _, err := checkJSONContentType(contentType, ContentTypeCloudEvents); err != nil {
			return nil, err
		}
		doc, err := decodeJSON(body, "")
		if err != nil {
			return nil, err
		}
		return structuredEvent(m, doc, "", now)
	case media == ContentTypeCloudEventsBatch:
		if _, err := checkJSONContentType(contentType, ContentTypeCloudEventsBatch); err != nil {
			return nil, err
		}
		doc, err := decodeJSON(body, "")
		if err != nil {
			return nil, err
		}
		list, ok := doc.([]any)
		if !ok {
			return nil, badRequest("", "a CloudEvents batch is a JSON array of events, got %s", kindOf(doc))
		}
		var out []Alert
		for i, item := range list {
			alerts, err := structuredEvent(m, item, fmt.Sprintf("[%d]", i), now)
			if err != nil {
				return nil, err
			}
			out = append(out, alerts...)
		}
		return out, nil
	case header.Get("ce-specversion") != "":
		return binaryEvent(m, contentType, header, body, now)
	case media == "application/json":
		return nil, badRequest("ce-specversion", "missing: a binary-mode CloudEvent needs the ce-specversion, ce-id, ce-source and ce-type headers (or send a structured event as %s)", ContentTypeCloudEvents)
	}
	return nil, unsupportedMedia("", "Content-Type %s is not a CloudEvent; send %s, %s, or JSON data with ce-* headers",
		quoteShort(contentType), ContentTypeCloudEvents, ContentTypeCloudEventsBatch)
}

// structuredEvent reads one event in the JSON format (spec: JSON Event Format 1.0).
func structuredEvent(m *mapping, doc any, at string, now time.Time) ([]Alert, error) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, badRequest(at, "a CloudEvent is a JSON object, got %s", kindOf(doc))
	}
	attr := func(name string) (string, error) { return optString(obj, name, at) }
	var ev cloudEvent
	var version, contentType, rawTime string
	var err error
	for _, a := range []struct {
		name string
		dst  *string
	}{
		{"specversion", &version}, {"id", &ev.id}, {"source", &ev.source}, {"type", &ev.typ},
		{"subject", &ev.subject}, {"time", &rawTime}, {"datacontenttype", &contentType},
	} {
		if *a.dst, err = attr(a.name); err != nil {
			return nil, err
		}
	}
	if err := checkRequired(&ev, version, func(name string) string { return field(at, name) }); err != nil {
		return nil, err
	}
	if ev.time, err = eventTime(rawTime, field(at, "time")); err != nil {
		return nil, err
	}

	data, hasData := obj["data"]
	encoded, hasEncoded := obj["data_base64"]
	switch {
	case hasData && hasEncoded:
		return nil, badRequest(field(at, "data_base64"), "an event carries data or data_base64, not both")
	case hasEncoded:
		s, ok := encoded.(string)
		if !ok {
			return nil, badRequest(field(at, "data_base64"), "expected a string, got %s", kindOf(encoded))
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, badRequest(field(at, "data_base64"), "invalid base64")
		}
		if contentType != "" && !isJSONMedia(contentType) {
			return nil, unsupportedMedia(field(at, "datacontenttype"), "%s data cannot be mapped; send JSON data", quoteShort(contentType))
		}
		if ev.data, err = decodeJSON(raw, field(at, "data_base64")); err != nil {
			return nil, err
		}
		ev.hasData = true
	case hasData:
		// In the JSON format, JSON data is the member's value itself.
		if contentType != "" && !isJSONMedia(contentType) {
			return nil, unsupportedMedia(field(at, "datacontenttype"), "%s data cannot be mapped; send JSON data", quoteShort(contentType))
		}
		ev.data, ev.hasData = data, data != nil
	}
	return eventAlerts(m, &ev, field(at, "data"), now)
}

// binaryEvent reads an event whose attributes are ce-* headers and whose data is the
// body, typed by Content-Type (spec: HTTP Protocol Binding 1.0.2, section 3.1).
func binaryEvent(m *mapping, contentType string, header http.Header, body []byte, now time.Time) ([]Alert, error) {
	var ev cloudEvent
	var version, rawTime string
	for _, a := range []struct {
		name string
		dst  *string
	}{
		{"ce-specversion", &version}, {"ce-id", &ev.id}, {"ce-source", &ev.source}, {"ce-type", &ev.typ},
		{"ce-subject", &ev.subject}, {"ce-time", &rawTime},
	} {
		v, err := headerAttribute(header, a.name)
		if err != nil {
			return nil, err
		}
		*a.dst = v
	}
	if err := checkRequired(&ev, version, func(name string) string { return "ce-" + name }); err != nil {
		return nil, err
	}
	var err error
	if ev.time, err = eventTime(rawTime, "ce-time"); err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := checkJSONData(contentType); err != nil {
			return nil, err
		}
		if ev.data, err = decodeJSON(body, "data"); err != nil {
			return nil, err
		}
		ev.hasData = ev.data != nil
	}
	return eventAlerts(m, &ev, "data", now)
}

// headerAttribute reads a ce-* header. The binding percent-encodes values that are
// not printable ASCII, so decode them, and keep the result valid UTF-8.
func headerAttribute(header http.Header, name string) (string, error) {
	v := header.Get(name)
	if strings.Contains(v, "%") {
		decoded, err := url.PathUnescape(v)
		if err != nil {
			return "", badRequest(name, "invalid percent-encoding")
		}
		v = decoded
	}
	return strings.ToValidUTF8(v, "\uFFFD"), nil
}

// checkRequired enforces the attributes every CloudEvent has (spec: Core 1.0,
// "Required Attributes"); name turns an attribute into the field to report.
func checkRequired(ev *cloudEvent, version string, name func(string) string) error {
	switch {
	case version == "":
		return badRequest(name("specversion"), "missing; required by CloudEvents")
	case version != ceSpecVersion:
		return badRequest(name("specversion"), "unsupported CloudEvents version %s; Klaxon reads %q", quoteShort(version), ceSpecVersion)
	case ev.id == "":
		return badRequest(name("id"), "missing; required by CloudEvents")
	case ev.source == "":
		return badRequest(name("source"), "missing; required by CloudEvents")
	case ev.typ == "":
		return badRequest(name("type"), "missing; required by CloudEvents")
	}
	return nil
}

func eventTime(raw, at string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, badRequest(at, "expected an RFC 3339 time, got %s", quoteShort(raw))
	}
	return t, nil
}

// checkJSONData accepts binary-mode data typed application/json or any +json type.
func checkJSONData(contentType string) error {
	if strings.TrimSpace(contentType) == "" {
		return unsupportedMedia("", "missing Content-Type; binary-mode event data must be JSON (application/json)")
	}
	if !isJSONMedia(contentType) {
		return unsupportedMedia("", "Content-Type %s cannot be mapped; binary-mode event data must be JSON (application/json)", quoteShort(contentType))
	}
	_, params, _ := mime.ParseMediaType(contentType)
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return unsupportedMedia("", "charset %s is not supported; send UTF-8", quoteShort(cs))
	}
	return nil
}

func isJSONMedia(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return media == "application/json" || media == "text/json" ||
		(strings.HasSuffix(media, "+json") && media != ContentTypeCloudEvents && media != ContentTypeCloudEventsBatch)
}

// eventAlerts maps the event's data and records where the alerts came from.
func eventAlerts(m *mapping, ev *cloudEvent, at string, now time.Time) ([]Alert, error) {
	if !ev.hasData {
		return nil, badRequest(at, "missing; the event's data must hold the alert")
	}
	alerts, err := m.alerts(ev.data, at, now)
	if err != nil {
		return nil, err
	}
	for i := range alerts {
		a := &alerts[i]
		if !ev.time.IsZero() {
			// The event's time is when its occurrence happened: the start of a firing
			// alert, the end of a resolved one.
			a.StartsAt = ev.time
			if a.Status == StatusResolved {
				a.EndsAt = ev.time
			}
		}
		if a.Annotations == nil {
			a.Annotations = make(map[string]string, 4)
		}
		a.Annotations[AnnotationCloudEventID] = ev.id
		a.Annotations[AnnotationCloudEventSource] = ev.source
		a.Annotations[AnnotationCloudEventType] = ev.typ
		if ev.subject != "" {
			a.Annotations[AnnotationCloudEventSubject] = ev.subject
		}
	}
	return alerts, nil
}
