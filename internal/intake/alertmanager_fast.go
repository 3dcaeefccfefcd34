package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// amPayload is an Alertmanager webhook payload as parseAlertmanagerFast reads it, with
// github.com/go-json-experiment/json (the proposed encoding/json/v2): it matches
// members case-sensitively, as the generic path does, and refuses what the generic
// path might read differently (a member named twice, invalid UTF-8, a type it does not
// expect), which sends the payload down the generic path. A null reads as missing.
type amPayload struct {
	Version           amString          `json:"version"`
	GroupKey          amString          `json:"groupKey"`
	Status            amString          `json:"status"`
	Receiver          amString          `json:"receiver"`
	ExternalURL       amString          `json:"externalURL"`
	TruncatedAlerts   jsontext.Value    `json:"truncatedAlerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	Alerts            []*amAlert        `json:"alerts"`
}

// amString is a member that may be null, which reads as missing. Its own type
// keeps nullMembers off it.
type amString string

// amAlert is one element of alerts[].
type amAlert struct {
	Status       amString          `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     amString          `json:"startsAt"`
	EndsAt       amString          `json:"endsAt"`
	GeneratorURL amString          `json:"generatorURL"`
	Fingerprint  amString          `json:"fingerprint"`
}

// nullMembers makes a null inside labels or annotations fail the decoding, as the
// generic path refuses it (the decoder would read it as ""). It costs a call per
// string, so it is used only for a body in which the text null appears at all.
var nullMembers = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *string) error {
	if dec.PeekKind() != '"' {
		return errNotString
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	*v = tok.String()
	return nil
}))

// errNotString is what a label or annotation that is not a string fails with.
var errNotString = errors.New("not a string")

// parseAlertmanagerFast reads a payload into structs, several times faster than the
// generic walk. It returns ok false for anything the generic path might refuse or read
// differently (a type it does not expect, a missing member, a bad time or status),
// leaving the answer, and the error naming the place, to parseAlertmanager; when it
// returns ok, the generic path would have returned the same alerts
// (FuzzAlertmanagerFastPath).
func parseAlertmanagerFast(spec klaxonv1.AlertSourceSpec, body []byte, now time.Time) ([]Alert, bool) {
	var p amPayload
	var opts []jsonv2.Options
	if bytes.Contains(body, []byte("null")) {
		opts = append(opts, nullMembers)
	}
	if err := jsonv2.Unmarshal(body, &p, opts...); err != nil {
		return nil, false
	}
	if string(p.Version) != alertmanagerVersion || p.Alerts == nil {
		return nil, false
	}
	if len(p.TruncatedAlerts) > 0 && string(p.TruncatedAlerts) != "null" && !isCount(json.Number(p.TruncatedAlerts)) {
		return nil, false
	}
	common := p.CommonAnnotations
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
		a := Alert{Labels: item.Labels, Annotations: item.Annotations, GeneratorURL: string(item.GeneratorURL), Fingerprint: string(item.Fingerprint)}
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
