package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	sigsjson "sigs.k8s.io/json"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// amPayload is an Alertmanager webhook payload as parseAlertmanagerFast reads it.
// Members are matched case-sensitively (sigs.k8s.io/json), and every member decodes
// afresh when it repeats (a later null included), as the generic path reads them.
type amPayload struct {
	Version           jsonOptString   `json:"version"`
	GroupKey          jsonOptString   `json:"groupKey"`
	Status            jsonOptString   `json:"status"`
	Receiver          jsonOptString   `json:"receiver"`
	ExternalURL       jsonOptString   `json:"externalURL"`
	TruncatedAlerts   json.RawMessage `json:"truncatedAlerts"`
	GroupLabels       jsonStringMap   `json:"groupLabels"`
	CommonLabels      jsonStringMap   `json:"commonLabels"`
	CommonAnnotations jsonStringMap   `json:"commonAnnotations"`
	Alerts            amAlerts        `json:"alerts"`
}

// amAlert is one element of alerts[].
type amAlert struct {
	Status       jsonOptString `json:"status"`
	Labels       jsonStringMap `json:"labels"`
	Annotations  jsonStringMap `json:"annotations"`
	StartsAt     jsonOptString `json:"startsAt"`
	EndsAt       jsonOptString `json:"endsAt"`
	GeneratorURL jsonOptString `json:"generatorURL"`
	Fingerprint  jsonOptString `json:"fingerprint"`
}

// amAlerts is alerts[]; null reads as missing. A payload naming "alerts" twice is
// left to the generic path (encoding/json would reuse the first one's elements).
type amAlerts []*amAlert

// jsonStringMap is an object of strings; null reads as missing, and a member that is
// not a string (null included) fails the decoding, as the generic path refuses it.
type jsonStringMap map[string]string

// UnmarshalJSON decodes into a new map (encoding/json would add to an earlier one)
// in one pass over b, which the decoder has already found to be valid JSON.
func (m *jsonStringMap) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = nil
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return errNotString
	}
	fresh := jsonStringMap{}
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		*m = fresh
		return nil
	}
	for i < len(b) {
		key, next, err := stringAt(b, i)
		if err != nil {
			return err
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return errNotString
		}
		val, next, err := stringAt(b, skipSpace(b, i+1))
		if err != nil {
			return err // null, a number, an object...: not a string
		}
		fresh[key] = val
		i = skipSpace(b, next)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			*m = fresh
			return nil
		}
		return errNotString
	}
	return errNotString
}

// stringAt reads the JSON string starting at b[i] and returns the index after it.
func stringAt(b []byte, i int) (string, int, error) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, errNotString
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped character cannot end the string
		case '"':
			v, err := unquote(b[i : j+1])
			return v, j + 1, err
		}
	}
	return "", 0, errNotString
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// errNotString is what a member that must be a string, and is not, fails with.
var errNotString = errors.New("not a string")

// jsonOptString is a JSON string or null, which reads as empty (missing).
type jsonOptString string

// UnmarshalJSON takes a JSON string or null.
func (s *jsonOptString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	v, err := unquote(b)
	if err != nil {
		return err
	}
	*s = jsonOptString(v)
	return nil
}

// unquote reads a JSON string literal; one without escapes is taken as it is, which
// is what encoding/json makes of it.
func unquote(b []byte) (string, error) {
	if len(b) < 2 || b[0] != '"' {
		return "", errNotString
	}
	if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	return v, nil
}

// parseAlertmanagerFast reads a payload into structs, several times faster than the
// generic walk. It returns ok false for anything the generic path might refuse or read
// differently (a type it does not expect, a missing member, a bad time or status),
// leaving the answer, and the error naming the place, to parseAlertmanager; when it
// returns ok, the generic path would have returned the same alerts
// (FuzzAlertmanagerFastPath).
func parseAlertmanagerFast(spec klaxonv1.AlertSourceSpec, body []byte, now time.Time) ([]Alert, bool) {
	if bytes.Count(body, []byte(`"alerts"`)) > 1 {
		return nil, false
	}
	var p amPayload
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &p); err != nil {
		return nil, false
	}
	if p.Version != alertmanagerVersion || p.Alerts == nil {
		return nil, false
	}
	if len(p.TruncatedAlerts) > 0 && string(p.TruncatedAlerts) != "null" && !isCount(json.Number(p.TruncatedAlerts)) {
		return nil, false
	}
	common := map[string]string(p.CommonAnnotations)
	alerts := make([]Alert, 0, len(p.Alerts))
	for _, item := range p.Alerts {
		if item == nil || item.Labels == nil {
			return nil, false
		}
		status := string(item.Status)
		switch Status(status) {
		case StatusFiring, StatusResolved, "":
		default:
			return nil, false
		}
		a := Alert{Labels: map[string]string(item.Labels), Annotations: map[string]string(item.Annotations),
			GeneratorURL: string(item.GeneratorURL), Fingerprint: string(item.Fingerprint)}
		var ok bool
		if a.StartsAt, ok = parseTime(string(item.StartsAt)); !ok {
			return nil, false
		}
		if a.EndsAt, ok = parseTime(string(item.EndsAt)); !ok {
			return nil, false
		}
		a, err := finishAlertmanagerAlert(spec, a, status, "", string(p.GroupKey), common, now)
		if err != nil {
			return nil, false
		}
		alerts = append(alerts, a)
	}
	return alerts, true
}

// parseTime reads an optional RFC 3339 time as optTime does.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}
