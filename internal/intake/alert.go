// Package intake turns requests from monitoring tools into normalized alerts: it
// authenticates senders, parses the Alertmanager, generic JSON and CloudEvents
// payloads, and derives the group key and incident name that deduplicate alerts into
// Incidents. Everything here is pure: no clock, no client, no logging; the HTTP server
// and the Kubernetes writes call it.
package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Status is whether an alert is firing or resolved.
type Status string

// Alert statuses.
const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Limits of the normalized text, the same as the Incident fields they end up in, so
// an alert with a runaway summary still opens an incident instead of failing validation.
const (
	MaxTitleLength       = 256
	MaxDescriptionLength = 8192
)

// Alert is one alert as Klaxon understands it, whatever format it arrived in.
type Alert struct {
	// Status is firing or resolved.
	Status Status
	// Title is a one-line summary: whitespace runs collapsed, at most MaxTitleLength
	// characters, never empty.
	Title string
	// Description is the longer text, at most MaxDescriptionLength characters.
	Description string
	// Severity is the sender's own word for it ("critical", "P1", ...).
	Severity string
	// SuggestedSeverity is Severity translated by the source's severityMap, or the
	// source's defaultSeverity; empty when neither says, and triage decides.
	SuggestedSeverity klaxonv1.Severity
	// Service affected: from the alert, else the source's spec.service.
	Service string
	// Labels and Annotations as sent. Values need not be valid Kubernetes label values.
	Labels      map[string]string
	Annotations map[string]string
	// Fingerprint identifies the alert across its firing and resolved notifications.
	Fingerprint string
	// StartsAt is when the alert began (the request time when the sender does not say).
	StartsAt time.Time
	// EndsAt is when the alert ended; zero while firing unless the sender predicts it.
	EndsAt time.Time
	// GeneratorURL links to what produced the alert.
	GeneratorURL string
	// GroupKey says which incident the alert belongs to; see GroupKey.
	GroupKey string
}

// RequestError is a request the sender must fix: the server answers Status (400 for
// a malformed payload, 415 for a content type the source does not read) with the
// message. It never contains credentials.
type RequestError struct {
	// Status is the HTTP status to answer: http.StatusBadRequest or
	// http.StatusUnsupportedMediaType.
	Status int
	// Field is where in the payload the problem is, e.g. "alerts[3].labels"; empty
	// for the request as a whole.
	Field string
	// Message says what is wrong.
	Message string
}

// Error returns "field: message", or the message alone for the whole request.
func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func badRequest(field, format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

func unsupportedMedia(field, format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusUnsupportedMediaType, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrInvalidSpec marks an AlertSource spec that cannot parse anything (a bad JSONPath,
// a missing mapping). It is the source owner's mistake, not the sender's, so Parse
// returns it instead of a RequestError; the controller reports it via ValidateSpec.
var ErrInvalidSpec = errors.New("invalid alert source spec")

// Parse reads the alerts in one request to an AlertSource. contentType is the request's
// Content-Type header, header the request headers (CloudEvents binary mode reads its
// attributes there) and now the time the request arrived. A *RequestError means the
// request is bad; an error wrapping ErrInvalidSpec means the source is. Parse never
// panics, whatever the body holds.
func Parse(spec klaxonv1.AlertSourceSpec, contentType string, header http.Header, body []byte, now time.Time) ([]Alert, error) {
	var (
		alerts []Alert
		err    error
	)
	switch spec.Format {
	case klaxonv1.FormatAlertmanager:
		alerts, err = parseAlertmanager(spec, contentType, body, now)
	case klaxonv1.FormatGeneric:
		alerts, err = parseGeneric(spec, contentType, body, now)
	case klaxonv1.FormatCloudEvents:
		alerts, err = parseCloudEvents(spec, contentType, header, body, now)
	default:
		return nil, fmt.Errorf("%w: format %q is not one of Alertmanager, Generic, CloudEvents", ErrInvalidSpec, spec.Format)
	}
	if err != nil {
		return nil, err
	}
	for i := range alerts {
		finish(spec, &alerts[i])
	}
	return alerts, nil
}

// ValidateSpec reports what in an AlertSource spec would keep Parse from working, naming
// the field, so the controller can mark the source Stalled before any alert arrives.
func ValidateSpec(spec klaxonv1.AlertSourceSpec) error {
	switch spec.Format {
	case klaxonv1.FormatAlertmanager:
		return nil
	case klaxonv1.FormatGeneric, klaxonv1.FormatCloudEvents:
		_, err := compileMapping(spec.Mapping)
		return err
	}
	return fmt.Errorf("%w: format %q is not one of Alertmanager, Generic, CloudEvents", ErrInvalidSpec, spec.Format)
}

// finish fills what every format derives the same way: the suggested severity, the
// default service, the group key, and text that fits an Incident.
func finish(spec klaxonv1.AlertSourceSpec, a *Alert) {
	a.SuggestedSeverity = SuggestSeverity(spec, a.Severity)
	if a.Service = strings.TrimSpace(a.Service); a.Service == "" {
		a.Service = spec.Service
	}
	a.Title = oneLine(a.Title, MaxTitleLength)
	a.Description = truncate(strings.TrimSpace(a.Description), MaxDescriptionLength)
	if a.GroupKey == "" {
		a.GroupKey = GroupKey(spec.GroupBy, a.Labels, a.Fingerprint)
	}
}

// SuggestSeverity translates a sender's severity: an exact severityMap entry, then a
// case-insensitive one, then a value that already is a Klaxon severity ("sev2"), then
// the source's defaultSeverity.
func SuggestSeverity(spec klaxonv1.AlertSourceSpec, raw string) klaxonv1.Severity {
	raw = strings.TrimSpace(raw)
	if raw != "" {
		if s, ok := spec.SeverityMap[raw]; ok && s.Rank() > 0 {
			return s
		}
		// The first case-insensitive match in key order, so the answer is stable.
		var best string
		for k, s := range spec.SeverityMap {
			if strings.EqualFold(k, raw) && s.Rank() > 0 && (best == "" || k < best) {
				best = k
			}
		}
		if best != "" {
			return spec.SeverityMap[best]
		}
		if s := klaxonv1.Severity(strings.ToUpper(raw)); s.Rank() > 0 {
			return s
		}
	}
	if spec.DefaultSeverity.Rank() > 0 {
		return spec.DefaultSeverity
	}
	return ""
}

// checkJSONContentType accepts application/json with no charset or UTF-8, the only
// encoding JSON may use between systems (RFC 8259).
func checkJSONContentType(contentType string, accepted ...string) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return "", unsupportedMedia("", "missing Content-Type; send %s", strings.Join(accepted, " or "))
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", unsupportedMedia("", "unreadable Content-Type %q; send %s", contentType, strings.Join(accepted, " or "))
	}
	for _, a := range accepted {
		if media == a {
			if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
				return "", unsupportedMedia("", "charset %q is not supported; send UTF-8", cs)
			}
			return media, nil
		}
	}
	return "", unsupportedMedia("", "Content-Type %q is not supported; send %s", media, strings.Join(accepted, " or "))
}

// decodeJSON reads exactly one JSON value. Numbers stay json.Number so that large
// numeric ids used as fingerprints keep every digit.
func decodeJSON(body []byte, field string) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(field, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest(field, "unexpected data after the JSON value")
	}
	return v, nil
}

func jsonError(field string, err error) *RequestError {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest(field, "empty body; expected JSON")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(field, "invalid JSON: unexpected end of input")
	case errors.As(err, &syn):
		return badRequest(field, "invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	return badRequest(field, "invalid JSON: %s", err.Error())
}

// oneLine collapses whitespace (newlines included) to single spaces and truncates, so
// the title reads well in kubectl and in a page.
func oneLine(s string, limit int) string {
	return truncate(strings.Join(strings.Fields(s), " "), limit)
}

// truncate cuts s to at most limit characters, ending with an ellipsis when it cut.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	runes := []rune(s)
	return strings.TrimSpace(string(runes[:limit-1])) + "…"
}

// field joins a path prefix and a name: field("alerts[3]", "labels").
func field(prefix, name string) string {
	if prefix == "" {
		return name
	}
	if strings.HasPrefix(name, "[") {
		return prefix + name
	}
	return prefix + "." + name
}

// kindOf names a decoded JSON value's type the way a sender would read it.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// keyField names an object member in an error: labels.team, or labels["app.kubernetes.io/name"]
// when the key is not a plain identifier.
func keyField(prefix, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			plain = false
			break
		}
	}
	if plain {
		return field(prefix, key)
	}
	return prefix + "[" + strconv.Quote(key) + "]"
}

// optString reads an optional string member; null counts as missing.
func optString(obj map[string]any, key, prefix string) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", badRequest(keyField(prefix, key), "expected a string, got %s", kindOf(v))
	}
	return s, nil
}

// optStringMap reads an optional object of strings, such as Alertmanager labels.
func optStringMap(obj map[string]any, key, prefix string) (map[string]string, bool, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, true, badRequest(keyField(prefix, key), "expected an object, got %s", kindOf(v))
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			return nil, true, badRequest(keyField(keyField(prefix, key), k), "expected a string, got %s", kindOf(val))
		}
		out[k] = s
	}
	return out, true, nil
}

// optTime reads an optional RFC 3339 time; Go's zero time ("0001-01-01T00:00:00Z",
// which Alertmanager sends for a firing alert's endsAt) stays zero.
func optTime(obj map[string]any, key, prefix string) (time.Time, error) {
	s, err := optString(obj, key, prefix)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest(keyField(prefix, key), "expected an RFC 3339 time such as 2026-03-29T02:30:00Z, got %s", quoteShort(s))
	}
	return t, nil
}

// quoteShort quotes a value from the payload for an error message, cut short so a
// megabyte of garbage does not come back in the response.
func quoteShort(s string) string {
	const limit = 64
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "..."
	}
	return strconv.Quote(s)
}
